"""`qmtl-research risk ...`: VaR/CVaR and VaR backtests of return files."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from qmtl_research.cli.audit import _check_output, _emit_json, _one_column, _pct


def register(app: typer.Typer) -> None:
    grp = typer.Typer(help="Risk engine: VaR/CVaR and VaR backtests of return files.", no_args_is_help=True)
    app.add_typer(grp, name="risk")

    @grp.command("var")
    def var(
        returns: Path = typer.Option(..., "--returns", help="CSV/Parquet: date + return column(s), fractions"),
        column: Optional[str] = typer.Option(None, "--column", help="one column (default: every column)"),
        confidence: list[float] = typer.Option([0.95, 0.99], "--confidence", help="confidence level(s) in (0,1)"),
        method: str = typer.Option("historical", "--method", help="historical | normal | t | fhs_ewma | fhs_garch"),
        convention: str = typer.Option("seed", "--convention", help="historical quantile convention (seed, basel, numpy methods)"),
        dof_method: str = typer.Option("mle", "--dof-method", help="t: mle | moments"),
        output: str = typer.Option("text", "--output", help="text | json"),
    ):
        """1-period VaR and CVaR (positive losses) of each return column."""
        from qmtl_research.risk.io import read_returns
        from qmtl_research.risk.var import value_at_risk

        _check_output(output)
        frame = read_returns(returns)
        cols = [_one_column(frame, column, "--column").name] if column else list(frame.columns)
        rows = [{"column": c, **value_at_risk(frame[c], conf, method, convention=convention,
                                               dof_method=dof_method).as_dict()}
                for c in cols for conf in confidence]
        if output == "json":
            _emit_json(rows)
            return
        typer.echo(f"VaR/CVaR ({method}, convention {convention}); losses positive, one period of the input")
        for r in rows:
            typer.echo(f"  {r['column']:<16} {r['confidence'] * 100:g}%  VaR {_pct(r['var']):>8}  "
                       f"CVaR {_pct(r['cvar']):>8}  (n={r['n']})")

    @grp.command("backtest")
    def backtest(
        returns: Path = typer.Option(..., "--returns"),
        column: Optional[str] = typer.Option(None, "--column"),
        confidence: float = typer.Option(0.99, "--confidence"),
        window: int = typer.Option(250, "--window", help="estimation window (periods)"),
        method: str = typer.Option("historical", "--method", help="historical | normal | t | fhs_ewma | fhs_garch"),
        zone_days: int = typer.Option(250, "--zone-days", help="days of the Basel traffic-light window"),
        output: str = typer.Option("text", "--output", help="text | json"),
    ):
        """Rolling VaR backtest: exceptions, Kupiec, Christoffersen, conditional coverage, Basel zone."""
        from qmtl_research.risk.backtest import backtest_var
        from qmtl_research.risk.io import read_returns

        _check_output(output)
        r = _one_column(read_returns(returns), column, "--column")
        res, fc = backtest_var(r, confidence, window, method, zone_days=zone_days)
        if output == "json":
            _emit_json({**res.as_dict(), "exception_dates": [d.date().isoformat() for d in fc.index[fc["exception"]]]})
            return
        d = res.as_dict()
        typer.echo("\n".join([
            f"VaR backtest: {method}, {confidence * 100:g}%, window {window}, {d['n']} forecasts",
            f"  exceptions: {d['exceptions']} (expected {d['expected_exceptions']:.1f})",
            f"  Kupiec POF:            LR {d['kupiec_lr']:.3f}  p {d['kupiec_p']:.4f}",
            f"  Christoffersen ind.:   LR {d['christoffersen_lr']:.3f}  p {d['christoffersen_p']:.4f}",
            f"  Conditional coverage:  LR {d['cc_lr']:.3f}  p {d['cc_p']:.4f}",
            f"  Basel zone (last {d['zone_n']} days): {d['zone'].upper()} with {d['zone_exceptions']} exceptions "
            f"(yellow from {d['zone_yellow_from']}, red from {d['zone_red_from']})"]))
