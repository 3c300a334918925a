"""`qmtl-research audit ...`: Monte Carlo, risk report, performance and attribution
(the audit-layer seed's CLI, in text like its example output or JSON)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import pandas as pd
import typer

from qmtl_research.errors import InputError

RULE = "═" * 66


def _emit_json(obj) -> None:
    from qmtl_research.store.codec import to_jsonable

    typer.echo(json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False))


def _check_output(output: str) -> str:
    if output not in ("text", "json"):
        raise InputError(f"unknown output format {output!r}", where="--output", fix="use text or json")
    return output


def parse_weights(text: str) -> dict[str, float]:
    """``"A=0.5,B=0.5"`` -> ``{"A": 0.5, "B": 0.5}``."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"cannot read weight {part!r}", where="--weights", fix='use "ASSET=0.5,OTHER=0.5"') from None
    return out


def resolve_portfolio(demo: bool, real_demo: bool, strategy: Optional[str], returns: Optional[Path],
                      weights: Optional[str]):
    """PortfolioData from exactly one of --demo, --real-demo, --strategy, --returns."""
    from qmtl_research.audit.portfolio import PortfolioData, demo_portfolio, load_portfolio, real_portfolio, validate_weights
    from qmtl_research.risk.io import read_returns

    chosen = [n for n, v in (("--demo", demo), ("--real-demo", real_demo), ("--strategy", strategy),
                             ("--returns", returns)) if v]
    if len(chosen) != 1:
        raise InputError("choose exactly one portfolio source" + (f" (got {', '.join(chosen)})" if chosen else ""),
                         where="options", fix="use --demo, --real-demo, --strategy NAME or --returns FILE [--weights]")
    if demo:
        return demo_portfolio()
    if real_demo:
        return real_portfolio()
    if strategy:
        return load_portfolio(strategy)
    frame = read_returns(returns)
    w = parse_weights(weights) if weights else {c: 1.0 / frame.shape[1] for c in frame.columns}
    w = validate_weights(w, frame.columns, where="--weights")
    return PortfolioData(frame, w, None, None, {c: c for c in frame.columns}, f"file {returns}", False, "main")


def _pct(x: float, sign: bool = False) -> str:
    return f"{x * 100:+.2f}%" if sign else f"{x * 100:.2f}%"


def montecarlo_text(res, data) -> str:
    cfg = res.config
    h = cfg["holding_period"]
    lines = [RULE, "                Monte Carlo Simulation Results", RULE, "",
             "📊 Configuration", f"  Run ID: {res.run_id}", f"  Simulations: {cfg['num_simulations']:,}",
             f"  Holding Period: {h} days", f"  Method: {res.method_label}", f"  Mode: {cfg['mode']}",
             f"  Return Type: {cfg['return_type']}", f"  Seed: {cfg['seed']}" + (
                 f" (fresh randomness, entropy {cfg['entropy']})" if cfg["seed"] == 0 else "")]
    if cfg.get("estimated_dof"):
        lines.append(f"  Student-t dof: {cfg['estimated_dof']:.2f} ({cfg['dof_method'] if not cfg['t_dof'] else 'fixed'})")
    lines += ["", "📈 Input Data", f"  Source: {data.label()}", f"  Sample Count: {res.input_sample_count} days",
              f"  Portfolio Stocks: {res.n_assets}", "", "📉 Risk Metrics",
              f"  Mean Return: {_pct(res.mean_return, True)}", f"  Std Dev: {_pct(res.std_dev)}"]
    for c, v in res.var.items():
        note = f" ({h}-day maximum loss)" if c == "0.95" else ""
        lines.append(f"  VaR {float(c) * 100:g}%: {_pct(v)}{note}")
    for c, v in res.cvar.items():
        note = " (Expected Shortfall)" if c == "0.95" else ""
        lines.append(f"  CVaR {float(c) * 100:g}%: {_pct(v)}{note}")
    lines += ["", "📊 Percentiles"]
    for p, v in res.percentiles.items():
        lines.append(f"  {str(p) + '%:':<5}{_pct(v, True)}" + (" (median)" if p == 50 else ""))
    lines += ["", "  Losses are positive; returns are holding-period " +
              ("log returns" if cfg["return_type"] == "log" else "simple returns (compounded)") + ".", "", RULE]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    grp = typer.Typer(help="Audit layer: Monte Carlo, risk report, performance, attribution.", no_args_is_help=True)
    app.add_typer(grp, name="audit")

    @grp.command("montecarlo")
    def montecarlo(
        simulations: int = typer.Option(10_000, "--simulations", help="number of simulated paths"),
        holding: int = typer.Option(5, "--holding", help="holding period (days)"),
        method: str = typer.Option("historical", "--method", help="historical | normal | t"),
        mode: str = typer.Option("portfolio_univariate", "--mode", help="portfolio_univariate | asset_multivariate"),
        return_type: str = typer.Option("simple", "--return-type", help="simple | log"),
        seed: int = typer.Option(0, "--seed", help="0 = fresh randomness, else reproducible"),
        lookback: int = typer.Option(200, "--lookback", help="lookback window (days)"),
        min_samples: int = typer.Option(30, "--min-samples", help="refuse below this many returns (fail-closed)"),
        confidence: list[float] = typer.Option([0.95, 0.99], "--confidence", help="confidence level(s)"),
        dof_method: str = typer.Option("moments", "--dof-method", help="t dof estimation: moments | mle"),
        output: str = typer.Option("text", "--output", help="text | json"),
        demo: bool = typer.Option(False, "--demo", help="the seed's 10-stock sample portfolio (SYNTHETIC data)"),
        real_demo: bool = typer.Option(False, "--real-demo", help="equal-weight 20 US stocks (real skfolio data)"),
        strategy: Optional[str] = typer.Option(None, "--strategy", help="a portfolio strategy (params/strategies)"),
        returns: Optional[Path] = typer.Option(None, "--returns", help="asset returns CSV/Parquet (date + columns)"),
        weights: Optional[str] = typer.Option(None, "--weights", help='"A=0.5,B=0.5" (default equal weights)'),
        save: bool = typer.Option(False, "--save", help="store the result in montecarlo_results"),
        store_url: Optional[str] = typer.Option(None, "--store-url"),
    ):
        """Monte Carlo simulation of the portfolio's holding-period return (VaR, CVaR, percentiles)."""
        from qmtl_research.risk.montecarlo import make_config, simulate

        _check_output(output)
        cfg = make_config(mode=mode, return_type=return_type, num_simulations=simulations, holding_period=holding,
                          confidence_levels=list(confidence), method=method, lookback_days=lookback, seed=seed,
                          min_samples=min_samples, dof_method=dof_method)
        data = resolve_portfolio(demo, real_demo, strategy, returns, weights)
        res = simulate(data.asset_returns, data.weights.to_dict(), cfg)
        if save:
            from qmtl_research.audit.repository import AuditRepository
            AuditRepository.open(store_url).save_montecarlo(res)
        if output == "json":
            _emit_json({**res.as_dict(), "source": data.label(), "synthetic": data.synthetic})
        else:
            typer.echo(montecarlo_text(res, data))

    @grp.command("risk-report")
    def risk_report(
        date: Optional[str] = typer.Option(None, "--date", help="as-of date YYYY-MM-DD (default: last date)"),
        demo: bool = typer.Option(False, "--demo"),
        real_demo: bool = typer.Option(False, "--real-demo"),
        strategy: Optional[str] = typer.Option(None, "--strategy"),
        returns: Optional[Path] = typer.Option(None, "--returns"),
        weights: Optional[str] = typer.Option(None, "--weights"),
        method: str = typer.Option("historical", "--method", help="Monte Carlo method"),
        simulations: int = typer.Option(10_000, "--simulations"),
        seed: int = typer.Option(42, "--seed"),
        output: str = typer.Option("text", "--output", help="text | json"),
        save: bool = typer.Option(False, "--save", help="store Monte Carlo, VaR snapshot and stress results"),
        store_url: Optional[str] = typer.Option(None, "--store-url"),
    ):
        """Risk report as of a date: 1-day VaR/CVaR, 5-day Monte Carlo and stress tests."""
        from qmtl_research.audit.risk_report import generate_report, save_report
        from qmtl_research.risk.montecarlo import make_config

        _check_output(output)
        if date is not None:
            try:
                pd.Timestamp(date)
            except ValueError:
                raise InputError(f"unparsable date {date!r}", where="--date", fix="use YYYY-MM-DD") from None
        cfg = make_config(method=method, num_simulations=simulations, seed=seed)
        data = resolve_portfolio(demo, real_demo, strategy, returns, weights)
        rep = generate_report(data, date, cfg)
        if save:
            from qmtl_research.audit.repository import AuditRepository
            save_report(rep, AuditRepository.open(store_url))
        if output == "json":
            _emit_json(rep.as_dict())
            return
        mc = rep.montecarlo
        lines = [RULE, "                        Risk Report", RULE, "",
                 f"  As of: {rep.as_of}   Portfolio: {rep.portfolio_id} ({rep.n_assets} assets)",
                 f"  Data: {data.label()}", f"  Portfolio value: {rep.portfolio_value:,.0f}", "",
                 f"📉 1-day historical VaR/CVaR (last {rep.notes['var_window']} days, seed convention)"]
        for r in rep.var.itertuples():
            lines.append(f"  {r.confidence * 100:g}%: VaR {_pct(r.VaR)} ({r.VaR_amount:,.0f})  CVaR {_pct(r.CVaR)}")
        lines += ["", f"🎲 Monte Carlo ({mc.config['num_simulations']:,} x {mc.config['holding_period']} days, "
                  f"{mc.method_label}, seed {mc.config['seed']})",
                  f"  VaR 95%: {_pct(mc.var_95)}  VaR 99%: {_pct(mc.var_99)}  CVaR 95%: {_pct(mc.cvar_95)}  "
                  f"CVaR 99%: {_pct(mc.cvar_99)}", "", "💥 Stress tests (loss positive)"]
        for r in rep.stress.itertuples():
            lines.append(f"  {r.scenario:<28} {r.kind:<18} {_pct(r.portfolio_loss):>8}  ({r.loss_amount:,.0f})")
        lines += ["", RULE]
        typer.echo("\n".join(lines))

    @grp.command("performance")
    def performance(
        returns: Path = typer.Option(..., "--returns", help="strategy returns CSV/Parquet (date + column)"),
        column: Optional[str] = typer.Option(None, "--column", help="return column (default: the only one)"),
        benchmark: Optional[Path] = typer.Option(None, "--benchmark", help="benchmark returns file"),
        benchmark_column: Optional[str] = typer.Option(None, "--benchmark-column"),
        period: str = typer.Option("ALL", "--period", help="1M | 3M | 6M | YTD | 1Y | 3Y | 5Y | ALL | custom"),
        start: Optional[str] = typer.Option(None, "--start", help="custom period start"),
        end: Optional[str] = typer.Option(None, "--end", help="period end (default: last date)"),
        risk_free: float = typer.Option(0.0, "--risk-free", help="annual risk-free rate (fraction)"),
        periods_per_year: int = typer.Option(252, "--periods-per-year"),
        output: str = typer.Option("text", "--output", help="text | json"),
    ):
        """Performance report of a return series (optionally vs a benchmark)."""
        from qmtl_research.audit.performance import analyze
        from qmtl_research.risk.io import read_returns

        _check_output(output)
        r = _one_column(read_returns(returns), column, "--column")
        b = _one_column(read_returns(benchmark), benchmark_column, "--benchmark-column") if benchmark else None
        rep = analyze(r, b, period, start=start, end=end, risk_free=risk_free, periods_per_year=periods_per_year)
        if output == "json":
            _emit_json({**rep.as_dict(), "conventions": rep.conventions})
            return
        d = rep.as_dict()
        fmt = lambda v, pct=True: "n/a" if v is None else (_pct(v, True) if pct else f"{v:.3f}")  # noqa: E731
        lines = [RULE, f"          Performance Report ({rep.period}: {rep.start_date} .. {rep.end_date})", RULE,
                 f"  Periods: {rep.n_periods}", "",
                 f"  Total Return:      {fmt(d['total_return'])}", f"  Annual Return:     {fmt(d['annual_return'])}",
                 f"  Volatility:        {fmt(d['volatility'])}", f"  Sharpe:            {fmt(d['sharpe'], False)}",
                 f"  Sortino:           {fmt(d['sortino'], False)}", f"  Max Drawdown:      {fmt(d['max_drawdown'])}",
                 f"  Calmar:            {fmt(d['calmar'], False)}", f"  Win Rate:          {fmt(d['win_rate'])}",
                 f"  Avg Win / Loss:    {fmt(d['avg_win'])} / {fmt(d['avg_loss'])}",
                 f"  Profit Factor:     {fmt(d['profit_factor'], False)}"]
        if b is not None:
            lines += [f"  Benchmark Return:  {fmt(d['benchmark'])}", f"  Excess Return:     {fmt(d['excess_return'])}",
                      f"  Alpha (annual):    {fmt(d['alpha'])}", f"  Beta:              {fmt(d['beta'], False)}",
                      f"  Information Ratio: {fmt(d['information_ratio'], False)}"]
        lines += ["", "  Conventions: " + rep.conventions, RULE]
        typer.echo("\n".join(lines))

    @grp.command("attribution")
    def attribution(
        returns: Path = typer.Option(..., "--returns"),
        factors: Path = typer.Option(..., "--factors", help="factor returns file (date + one column per factor)"),
        column: Optional[str] = typer.Option(None, "--column"),
        output: str = typer.Option("text", "--output"),
    ):
        """OLS factor attribution (exposures x factor returns + alpha + residual = total)."""
        from qmtl_research.audit.attribution import factor_attribution
        from qmtl_research.risk.io import read_returns

        _check_output(output)
        res = factor_attribution(_one_column(read_returns(returns), column, "--column"), read_returns(factors))
        if output == "json":
            _emit_json({"total": res.total, "compounded_total": res.compounded_total, "r_squared": res.r_squared,
                        "n": res.n, "start_date": res.start_date, "end_date": res.end_date,
                        "table": res.table.to_dict(orient="records")})
            return
        typer.echo(f"Attribution {res.start_date} .. {res.end_date} ({res.n} periods, R^2 {res.r_squared:.3f}); "
                   "additive in summed returns")
        typer.echo(res.table.round(6).to_string(index=False))
        typer.echo(f"total (sum of returns) {res.total:+.6f}; compounded {res.compounded_total:+.6f}")


def _one_column(frame: pd.DataFrame, column: Optional[str], option: str) -> pd.Series:
    if column is None:
        if frame.shape[1] != 1:
            raise InputError(f"the file has {frame.shape[1]} return columns", where=option,
                             fix=f"choose one with {option} ({', '.join(frame.columns)})")
        return frame.iloc[:, 0]
    if column not in frame.columns:
        raise InputError(f"unknown column {column!r}", where=option, fix=f"use one of: {', '.join(frame.columns)}")
    return frame[column]
