"""`qmtl-research audit ...`: Monte Carlo, risk report, performance, attribution and daily snapshots
(the audit-layer seed's CLI, in text like its example output or JSON).

``--save`` writes everything a command run produces (rows and ``audit_alert`` events) in **one
transaction** of the Evaluation Store (``--store-url``, else ``$QMTL_STORE_URL``, else
``data/evaluation_store.sqlite``). A rerun with the same key and the same numbers writes nothing
and says "already stored, unchanged"; with other numbers it is refused before any write (exit 2,
the table, the key and what to do). Keys: see :mod:`qmtl_research.store.audit_repository`.
``performance`` and ``snapshot`` print the alerts of ``params/audit.yaml`` (``--settings``).

Over 400 lines because the audit command group has five subcommands (Monte Carlo, risk report,
performance, attribution, snapshots) with their text and JSON output; the work itself is in risk/
and store/.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from qmtl_research.errors import InputError

if TYPE_CHECKING:  # pandas loads only inside the commands (fast `--help`)
    import pandas as pd

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
    from qmtl_research.data.portfolio import PortfolioData, demo_portfolio, load_portfolio, real_portfolio, validate_weights
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


def _check_date(date: Optional[str], option: str = "--date") -> None:
    from qmtl_research.data.checks import not_date_only

    if date is not None:
        import pandas as pd

        if not_date_only(pd.Series([date])).iloc[0]:
            raise InputError(f"date {date!r} carries a time of day or a zone offset", where=option,
                             fix="use a plain date YYYY-MM-DD")
        try:
            pd.Timestamp(date)
        except ValueError:
            raise InputError(f"unparsable date {date!r}", where=option, fix="use YYYY-MM-DD") from None


def _one_source(**given) -> str:
    chosen = [name for name, value in given.items() if value]
    if len(chosen) != 1:
        raise InputError("choose exactly one source" + (f" (got {', '.join(chosen)})" if chosen else ""),
                         where="options", fix="use one of " + ", ".join(given))
    return chosen[0]


def _with_portfolio_id(data, portfolio_id: Optional[str]):
    import dataclasses

    return dataclasses.replace(data, portfolio_id=portfolio_id) if portfolio_id else data


def _store_writable(store_url: Optional[str]) -> None:
    """--save: refuse a store that cannot be written before computing (none is created here)."""
    from qmtl_research.store.repository import check_writable

    check_writable(store_url)


def open_repository(store_url: Optional[str], *, create: bool = True):
    """The AuditRepository of ``store_url`` (else ``$QMTL_STORE_URL`` / the default SQLite file).

    With ``create=False`` (commands that only read history without ``--save``) a SQLite
    store file that does not exist yet is not created: None is returned."""
    from sqlalchemy.engine import make_url

    from qmtl_research.store.audit_repository import AuditRepository
    from qmtl_research.store.db import resolve_url

    url = resolve_url(store_url)
    if not create:
        u = make_url(url)
        if u.get_backend_name() == "sqlite" and u.database not in (None, "", ":memory:") \
                and not Path(u.database).exists():
            return None
    repo = AuditRepository.open(url)
    if create:
        repo.store.require_writable()      # a read-only store is refused before anything is computed
    return repo


def _store_lines(repo, outcome) -> list[str]:
    return ["", f"💾 Evaluation Store: {repo.store.url}"] + [f"  {line}" for line in outcome.lines()]


def _store_json(repo, outcome) -> dict:
    return {"url": repo.store.url, **outcome.as_dict()}


def _alert_lines(alerts, settings, limit: int = 20) -> list[str]:
    from qmtl_research.risk.alerts import alerts_text

    lines = alerts_text(alerts.head(limit), settings)
    if len(alerts) > limit:
        lines.append(f"  ... and {len(alerts) - limit} more (all of them with --output json)")
    return lines


def _alerts_json(alerts) -> list[dict]:
    import pandas as pd

    return [{**a, "date": pd.Timestamp(a["date"]).date().isoformat()} for a in alerts.to_dict(orient="records")]


SETTINGS_HELP = "audit settings YAML (default params/audit.yaml)"
STORE_HELP = "Evaluation Store URL (default $QMTL_STORE_URL, else data/evaluation_store.sqlite)"
PID_HELP = "portfolio id the rows are stored under (default: the portfolio's, 'main' for files)"


def register(app: typer.Typer) -> None:
    grp = typer.Typer(help="Audit layer: Monte Carlo, risk report, performance, attribution, daily snapshots.",
                      no_args_is_help=True)
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
        save: bool = typer.Option(False, "--save", help="store the result in montecarlo_results (a new run id)"),
        store_url: Optional[str] = typer.Option(None, "--store-url", help=STORE_HELP),
    ):
        """Monte Carlo simulation of the portfolio's holding-period return (VaR, CVaR, percentiles)."""
        from qmtl_research.risk.montecarlo import make_config, simulate

        _check_output(output)
        if save:        # a store that cannot be written is refused before computing (none is created)
            _store_writable(store_url)
        cfg = make_config(mode=mode, return_type=return_type, num_simulations=simulations, holding_period=holding,
                          confidence_levels=list(confidence), method=method, lookback_days=lookback, seed=seed,
                          min_samples=min_samples, dof_method=dof_method)
        data = resolve_portfolio(demo, real_demo, strategy, returns, weights)
        res = simulate(data.asset_returns, data.weights.to_dict(), cfg)
        repo = outcome = None
        if save:
            repo = open_repository(store_url)
            with repo.transaction() as tx:
                tx.add_montecarlo(res)
            outcome = tx.outcome
        if output == "json":
            _emit_json({**res.as_dict(), "source": data.label(), "synthetic": data.synthetic,
                        **({"store": _store_json(repo, outcome)} if save else {})})
        else:
            typer.echo(montecarlo_text(res, data))
            if save:
                typer.echo("\n".join(_store_lines(repo, outcome)))

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
        seed: int = typer.Option(42, "--seed", help="Monte Carlo seed (0 = fresh randomness: reruns then differ)"),
        portfolio_id: Optional[str] = typer.Option(None, "--portfolio-id", help=PID_HELP),
        output: str = typer.Option("text", "--output", help="text | json"),
        save: bool = typer.Option(False, "--save", help="store Monte Carlo, VaR snapshot and stress results "
                                                        "(one transaction; a rerun is unchanged or refused)"),
        store_url: Optional[str] = typer.Option(None, "--store-url", help=STORE_HELP),
    ):
        """Risk report as of a date: 1-day VaR/CVaR, 5-day Monte Carlo and stress tests."""
        from qmtl_research.risk.portfolio_report import generate_report
        from qmtl_research.risk.montecarlo import make_config

        _check_output(output)
        if save:        # a store that cannot be written is refused before computing (none is created)
            _store_writable(store_url)
        _check_date(date)
        cfg = make_config(method=method, num_simulations=simulations, seed=seed)
        data = _with_portfolio_id(resolve_portfolio(demo, real_demo, strategy, returns, weights), portfolio_id)
        rep = generate_report(data, date, cfg)
        repo = outcome = None
        if save:
            repo = open_repository(store_url)
            with repo.transaction() as tx:
                tx.add_risk_report(rep)
            outcome = tx.outcome
        if output == "json":
            _emit_json({**rep.as_dict(), **({"store": _store_json(repo, outcome)} if save else {})})
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
        if save:
            lines += _store_lines(repo, outcome)
        lines += ["", RULE]
        typer.echo("\n".join(lines))

    @grp.command("performance")
    def performance(
        returns: Optional[Path] = typer.Option(None, "--returns", help="strategy returns CSV/Parquet (date + column)"),
        column: Optional[str] = typer.Option(None, "--column", help="return column (default: the only one)"),
        demo: bool = typer.Option(False, "--demo", help="the seed's sample portfolio (SYNTHETIC data)"),
        real_demo: bool = typer.Option(False, "--real-demo", help="equal-weight 20 US stocks (real skfolio data)"),
        strategy: Optional[str] = typer.Option(None, "--strategy", help="a portfolio strategy (params/strategies)"),
        benchmark: Optional[Path] = typer.Option(None, "--benchmark", help="benchmark returns file"),
        benchmark_column: Optional[str] = typer.Option(None, "--benchmark-column"),
        benchmark_index: Optional[str] = typer.Option(
            None, "--benchmark-index", help="KOSPI | SP500 | none for --demo/--real-demo/--strategy "
                                            "(default: audit.benchmark of the settings)"),
        period: str = typer.Option("ALL", "--period", help="1M | 3M | 6M | YTD | 1Y | 3Y | 5Y | ALL | custom"),
        start: Optional[str] = typer.Option(None, "--start", help="custom period start"),
        end: Optional[str] = typer.Option(None, "--end", help="period end (default: last date)"),
        risk_free: float = typer.Option(0.0, "--risk-free", help="annual risk-free rate (fraction)"),
        periods_per_year: int = typer.Option(252, "--periods-per-year"),
        portfolio_id: Optional[str] = typer.Option(None, "--portfolio-id", help=PID_HELP),
        settings_path: Optional[Path] = typer.Option(None, "--settings", help=SETTINGS_HELP),
        output: str = typer.Option("text", "--output", help="text | json"),
        save: bool = typer.Option(False, "--save", help="store the report in performance_reports and its alerts "
                                                        "as audit_alert events (one transaction)"),
        store_url: Optional[str] = typer.Option(None, "--store-url", help=STORE_HELP),
    ):
        """Performance report of a return series or portfolio (optionally vs a benchmark), with alerts."""
        from qmtl_research.risk.alerts import check_alerts
        from qmtl_research.risk.performance import analyze
        from qmtl_research.risk.audit_settings import load_audit_settings, resolve_benchmark
        from qmtl_research.risk.io import read_returns

        _check_output(output)
        if save:        # a store that cannot be written is refused before computing (none is created)
            _store_writable(store_url)
        _check_date(start, "--start")
        _check_date(end, "--end")
        settings = load_audit_settings(settings_path)
        _one_source(**{"--returns": returns, "--demo": demo, "--real-demo": real_demo, "--strategy": strategy})
        if returns:
            if benchmark_index:
                raise InputError("--benchmark-index chooses a benchmark of the demo or strategy data", where=
                                 "--benchmark-index", fix="with --returns give the benchmark as --benchmark FILE")
            r = _one_column(read_returns(returns), column, "--column")
            pid, label = portfolio_id or "main", f"file {returns}"
            b, b_name = None, None
        else:
            data = _with_portfolio_id(resolve_portfolio(demo, real_demo, strategy, None, None), portfolio_id)
            r, pid, label = data.portfolio_returns, data.portfolio_id, data.label()
            b, b_name = (None, None) if benchmark else resolve_benchmark(data, settings, benchmark_index)
        if benchmark:
            b = _one_column(read_returns(benchmark), benchmark_column, "--benchmark-column")
            b_name = f"{b.name} ({benchmark})"
        rep = analyze(r, b, period, start=start, end=end, risk_free=risk_free, periods_per_year=periods_per_year)
        alerts = check_alerts(r.loc[rep.start_date:rep.end_date], settings)
        repo = outcome = None
        if save:
            repo = open_repository(store_url)
            with repo.transaction() as tx:
                tx.add_performance(rep, pid, benchmark_name=b_name)
                tx.add_alerts(alerts, portfolio_id=pid, source="performance", series_start=rep.start_date)
            outcome = tx.outcome
        if output == "json":
            _emit_json({**rep.as_dict(), "portfolio_id": pid, "source": label, "benchmark_name": b_name,
                        "conventions": rep.conventions, "alerts": _alerts_json(alerts),
                        **({"store": _store_json(repo, outcome)} if save else {})})
            return
        d = rep.as_dict()
        fmt = lambda v, pct=True: "n/a" if v is None else (_pct(v, True) if pct else f"{v:.3f}")  # noqa: E731
        lines = [RULE, f"          Performance Report ({rep.period}: {rep.start_date} .. {rep.end_date})", RULE,
                 f"  Portfolio: {pid}   Data: {label}", f"  Periods: {rep.n_periods}", "",
                 f"  Total Return:      {fmt(d['total_return'])}", f"  Annual Return:     {fmt(d['annual_return'])}",
                 f"  Volatility:        {_pct(d['volatility'])}", f"  Sharpe:            {fmt(d['sharpe'], False)}",
                 f"  Sortino:           {fmt(d['sortino'], False)}", f"  Max Drawdown:      {fmt(d['max_drawdown'])}",
                 f"  Calmar:            {fmt(d['calmar'], False)}", f"  Win Rate:          {'n/a' if d['win_rate'] is None else _pct(d['win_rate'])}",
                 f"  Avg Win / Loss:    {fmt(d['avg_win'])} / {fmt(d['avg_loss'])}",
                 f"  Profit Factor:     {fmt(d['profit_factor'], False)}"]
        if b is not None:
            lines += [f"  Benchmark:         {b_name}",
                      f"  Benchmark Return:  {fmt(d['benchmark'])}", f"  Excess Return:     {fmt(d['excess_return'])}",
                      f"  Alpha (annual):    {fmt(d['alpha'])}", f"  Beta:              {fmt(d['beta'], False)}",
                      f"  Information Ratio: {fmt(d['information_ratio'], False)}"]
        else:
            lines.append("  Benchmark:         none")
        lines += [""] + _alert_lines(alerts, settings)
        if save:
            lines += _store_lines(repo, outcome)
        lines += ["", "  Conventions: " + rep.conventions, RULE]
        typer.echo("\n".join(lines))

    @grp.command("attribution")
    def attribution(
        returns: Optional[Path] = typer.Option(None, "--returns", help="strategy returns CSV/Parquet"),
        factors: Optional[Path] = typer.Option(None, "--factors", help="factor returns file (date + one column per "
                                                                       "factor); default for --demo etc.: the data's"),
        column: Optional[str] = typer.Option(None, "--column"),
        demo: bool = typer.Option(False, "--demo", help="the seed's sample portfolio on its SYNTHETIC factors"),
        real_demo: bool = typer.Option(False, "--real-demo", help="20 US stocks on skfolio's factor ETFs (real)"),
        strategy: Optional[str] = typer.Option(None, "--strategy", help="a portfolio strategy (params/strategies)"),
        period: str = typer.Option("ALL", "--period", help="1M | 3M | 6M | YTD | 1Y | 3Y | 5Y | ALL | custom"),
        start: Optional[str] = typer.Option(None, "--start", help="custom period start"),
        end: Optional[str] = typer.Option(None, "--end", help="period end (default: last date)"),
        portfolio_id: Optional[str] = typer.Option(None, "--portfolio-id", help=PID_HELP),
        output: str = typer.Option("text", "--output"),
        save: bool = typer.Option(False, "--save", help="store the factor rows in attributions (one transaction)"),
        store_url: Optional[str] = typer.Option(None, "--store-url", help=STORE_HELP),
    ):
        """OLS factor attribution (exposures x factor returns + alpha + residual = total)."""
        from qmtl_research.risk.attribution import factor_attribution
        from qmtl_research.risk.performance import period_bounds
        from qmtl_research.risk.io import read_returns

        _check_output(output)
        if save:        # a store that cannot be written is refused before computing (none is created)
            _store_writable(store_url)
        _check_date(start, "--start")
        _check_date(end, "--end")
        _one_source(**{"--returns": returns, "--demo": demo, "--real-demo": real_demo, "--strategy": strategy})
        if returns:
            if not factors:
                raise InputError("--returns needs --factors FILE", where="--factors",
                                 fix="give the factor returns (date + one column per factor)")
            r, pid, label = _one_column(read_returns(returns), column, "--column"), portfolio_id or "main", \
                f"file {returns}"
            f = read_returns(factors)
        else:
            data = _with_portfolio_id(resolve_portfolio(demo, real_demo, strategy, None, None), portfolio_id)
            r, pid, label = data.portfolio_returns, data.portfolio_id, data.label()
            f = read_returns(factors) if factors else data.factor_returns
            if f is None:
                raise InputError(f"the data of {label} has no factor returns", where="--factors",
                                 fix="give --factors FILE")
        lo, hi = period_bounds(period, r.index, start, end)
        res = factor_attribution(r.loc[lo:hi], f)
        repo = outcome = None
        if save:
            repo = open_repository(store_url)
            with repo.transaction() as tx:
                tx.add_attribution(res, period, pid)
            outcome = tx.outcome
        if output == "json":
            _emit_json({"portfolio_id": pid, "source": label, "period": period, "total": res.total,
                        "compounded_total": res.compounded_total, "r_squared": res.r_squared, "n": res.n,
                        "start_date": res.start_date, "end_date": res.end_date,
                        "table": res.table.to_dict(orient="records"),
                        **({"store": _store_json(repo, outcome)} if save else {})})
            return
        typer.echo(f"Attribution of {pid} ({label}), {period} {res.start_date} .. {res.end_date} ({res.n} periods, "
                   f"R^2 {res.r_squared:.3f}); additive in summed returns")
        typer.echo(res.table.round(6).to_string(index=False))
        typer.echo(f"total (sum of returns) {res.total:+.6f}; compounded {res.compounded_total:+.6f}")
        if save:
            typer.echo("\n".join(_store_lines(repo, outcome)))

    @grp.command("snapshot")
    def snapshot(
        positions: Optional[Path] = typer.Option(None, "--positions", help="positions CSV/Parquet: date, asset, "
                                                 "quantity, price[, cash] (data/README.md)"),
        prices: Optional[Path] = typer.Option(None, "--prices", help="prices CSV/Parquet: date, asset, price "
                                              "(for rows of --positions without a price)"),
        demo: bool = typer.Option(False, "--demo", help="the demo portfolio's holdings (SYNTHETIC prices)"),
        date: Optional[str] = typer.Option(None, "--date", help="only this snapshot date (YYYY-MM-DD)"),
        portfolio_id: Optional[str] = typer.Option(None, "--portfolio-id", help="default: demo for --demo, "
                                                   "main for files"),
        settings_path: Optional[Path] = typer.Option(None, "--settings", help=SETTINGS_HELP),
        output: str = typer.Option("text", "--output", help="text | json"),
        save: bool = typer.Option(False, "--save", help="store the snapshots in daily_snapshots and their alerts "
                                                        "as audit_alert events (one transaction)"),
        store_url: Optional[str] = typer.Option(None, "--store-url", help=STORE_HELP),
    ):
        """Daily snapshot(s): positions, value, weights, daily and cumulative return (against the previous
        stored snapshot of the portfolio), and alerts."""
        import pandas as pd

        from qmtl_research.risk.alerts import check_alerts
        from qmtl_research.risk.audit_settings import load_audit_settings
        from qmtl_research.data.snapshot import (build_snapshots, demo_positions, read_positions,
                                                  snapshot_returns)
        from qmtl_research.errors import ConfigError

        _check_output(output)
        _check_date(date)
        settings = load_audit_settings(settings_path)
        if save and not settings.snapshot.enabled:
            raise ConfigError("daily snapshots are disabled (snapshot.enabled: false); nothing was stored",
                              where=settings.where("snapshot", "enabled"),
                              fix="set snapshot.enabled: true, or run without --save")
        _one_source(**{"--positions": positions, "--demo": demo})
        if demo:
            if prices:
                raise InputError("--prices goes with --positions", where="--prices", fix="drop --prices with --demo")
            pos = demo_positions(end=date, days=1_000_000 if date else 20)
            pid = portfolio_id or "demo"
        else:
            pos = read_positions(positions, prices)
            pid = portfolio_id or "main"
        if date:
            pos = pos.on(date)
        first = pos.quantities.index[0]
        repo = open_repository(store_url, create=save)
        previous = repo.previous_snapshot(pid, first) if repo else None
        snaps = build_snapshots(pos.quantities, pos.prices, pos.cash, previous=previous)
        history = repo.snapshot_returns(pid, before=first) if repo else pd.Series(dtype=float)
        series = pd.concat([history, snapshot_returns(snaps)]) if len(history) else snapshot_returns(snaps)
        alerts = check_alerts(series, settings)
        alerts = alerts[alerts["date"] >= first].reset_index(drop=True)
        outcome = None
        if save:
            with repo.transaction() as tx:
                tx.add_snapshots(snaps, pid)
                tx.add_alerts(alerts, portfolio_id=pid, source="snapshot", series_start=series.index[0])
            outcome = tx.outcome
        label = f"{pos.source} ({'SYNTHETIC' if pos.synthetic else 'real'} data)" if pos.synthetic else pos.source
        if output == "json":
            _emit_json({"portfolio_id": pid, "source": label, "synthetic": pos.synthetic,
                        "previous": previous.date if previous else None,
                        "snapshots": [s.as_dict() for s in snaps], "alerts": _alerts_json(alerts),
                        **({"store": _store_json(repo, outcome)} if save else {})})
            return
        sched = settings.snapshot
        lines = [RULE, f"                 Daily Snapshot: portfolio {pid}", RULE, "", f"  Data: {label}",
                 f"  Previous stored snapshot: {previous.date if previous else 'none (returns start at 0)'}",
                 f"  Schedule: daily at {sched.time} {sched.timezone} ({'enabled' if sched.enabled else 'disabled'}, "
                 f"{settings.source})", "",
                 f"  {'date':<10}  {'total value':>16}  {'cash':>14}  {'daily':>8}  {'cum.':>8}  positions"]
        for s in snaps:
            lines.append(f"  {s.date:<10}  {s.total_value:>16,.0f}  {s.cash:>14,.0f}  {_pct(s.daily_return, True):>8}"
                         f"  {_pct(s.cum_return, True):>8}  {len(s.positions)}")
        last = snaps[-1]
        lines += ["", f"📋 Positions on {last.date}",
                  f"  {'asset':<10}  {'quantity':>12}  {'price':>12}  {'value':>16}  {'weight':>7}  {'daily P&L':>14}"]
        for p in last.positions:
            lines.append(f"  {p.code:<10}  {p.quantity:>12,.0f}  {p.price:>12,.2f}  {p.value:>16,.0f}  "
                         f"{_pct(p.weight):>7}  {p.daily_pnl:>14,.0f}")
        lines += [""] + _alert_lines(alerts, settings)
        if save:
            lines += _store_lines(repo, outcome)
        lines += ["", RULE]
        typer.echo("\n".join(lines))


def _one_column(frame: pd.DataFrame, column: Optional[str], option: str) -> pd.Series:
    if column is None:
        if frame.shape[1] != 1:
            raise InputError(f"the file has {frame.shape[1]} return columns", where=option,
                             fix=f"choose one with {option} ({', '.join(frame.columns)})")
        return frame.iloc[:, 0]
    if column not in frame.columns:
        raise InputError(f"unknown column {column!r}", where=option, fix=f"use one of: {', '.join(frame.columns)}")
    return frame[column]
