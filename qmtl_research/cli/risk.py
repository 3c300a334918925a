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
        returns: Path = typer.Option(..., "--returns", help="CSV/Parquet returns: wide (date + columns) without "
                                     "--var; long (date, series, return) with --var"),
        var_file: Optional[Path] = typer.Option(None, "--var", help="your VaR forecasts, long: date, series, var "
                                                "(positive losses); switches to your forecasts"),
        es_file: Optional[Path] = typer.Option(None, "--es", help="your ES forecasts, long: date, series, es "
                                               "(with --var)"),
        column: Optional[str] = typer.Option(None, "--column"),
        confidence: float = typer.Option(0.99, "--confidence", "--level", help="VaR/ES level, e.g. 0.975"),
        window: int = typer.Option(250, "--window", help="estimation window (periods; without --var)"),
        method: str = typer.Option("historical", "--method", help="historical | normal | t | fhs_ewma | fhs_garch "
                                   "(without --var)"),
        zone_days: int = typer.Option(250, "--zone-days", help="days of the Basel traffic-light window"),
        dist: str = typer.Option("normal", "--dist", help="with --es: the location-scale law implied by each "
                                 "VaR/ES pair (normal | t), for the simulated and PIT-based ES tests"),
        dof: float = typer.Option(5.0, "--dof", help="degrees of freedom of --dist t (> 2)"),
        sims: int = typer.Option(1000, "--sims", help="simulations (Acerbi-Szekely) and bootstrap draws (McNeil-Frey)"),
        seed: int = typer.Option(0, "--seed"),
        output: str = typer.Option("text", "--output", help="text | json"),
    ):
        """VaR (and ES) backtests. Without --var: a rolling VaR of --returns (Kupiec, Christoffersen,
        conditional coverage, Basel zone). With --var [--es]: the whole suite on your forecasts,
        pooled and per series (see the README's list of tests)."""
        _check_output(output)
        if var_file is not None:
            _backtest_files(returns, var_file, es_file, confidence, zone_days, dist, dof, sims, seed, output)
            return
        if es_file is not None:
            from qmtl_research.errors import InputError

            raise InputError("--es needs --var", where="--es", fix="give your VaR forecasts with --var too")
        from qmtl_research.risk.backtest import backtest_var
        from qmtl_research.risk.io import read_returns

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


def _backtest_files(returns, var_file, es_file, confidence, zone_days, dist, dof, sims, seed, output) -> None:
    """``risk backtest --var``: join the user's long files on (date, series), run the suite."""
    import math

    import numpy as np

    from qmtl_research.errors import InputError
    from qmtl_research.risk.input_checks import check_confidence
    from qmtl_research.risk.backtests import P_VALUES, LocationScale, run_panel
    from qmtl_research.risk.io import read_long

    c = check_confidence(confidence, where="--level")
    if dist not in ("normal", "t"):
        raise InputError(f"unknown --dist {dist!r}", where="--dist", fix="use normal or t")
    if dist == "t" and not dof > 2:
        raise InputError(f"--dof {dof} must exceed 2", where="--dof", fix="e.g. --dof 5")
    if sims < 1:
        raise InputError(f"--sims {sims} must be positive", where="--sims", fix="e.g. --sims 1000")
    r = read_long(returns, "return")
    v = read_long(var_file, "var")
    frame = r.merge(v, on=["date", "series"], how="outer", indicator=True)
    unmatched = [{"date": d.date().isoformat(), "series": s,
                  "reason": "return without a VaR forecast" if m == "left_only" else "VaR forecast without a return"}
                 for d, s, m in frame.loc[frame["_merge"] != "both", ["date", "series", "_merge"]].itertuples(index=False)]
    frame = frame[frame["_merge"] == "both"].drop(columns="_merge")
    if es_file is not None:
        e = read_long(es_file, "es")
        joined = frame.merge(e, on=["date", "series"], how="left")
        if joined["es"].isna().any():
            row = joined[joined["es"].isna()].iloc[0]
            raise InputError(f"no ES forecast for series {row['series']!r} on {row['date'].date()}",
                             where=str(es_file), fix="give an ES row for every VaR row (same date and series)")
        bad = joined["es"] <= joined["var"]
        if bad.any():
            row = joined[bad].iloc[0]
            raise InputError(f"ES {row['es']!r} is not above VaR {row['var']!r} for series {row['series']!r} on "
                             f"{row['date'].date()}", where=str(es_file),
                             fix="ES at a level must exceed the VaR at that level")
        frame = joined
    if frame.empty:
        raise InputError("no (date, series) has both a return and a VaR forecast", where=f"{returns}, {var_file}",
                         fix="the files must share dates and series ids")
    frame = frame.sort_values(["series", "date"]).reset_index(drop=True)
    law = None
    if es_file is not None:
        law = LocationScale.from_var_es(frame["var"].to_numpy(), frame["es"].to_numpy(), c,
                                        math.inf if dist == "normal" else dof)
    pooled, per, skipped = run_panel(frame, c, law, series="series", time="date", n_sims=sims, seed=seed,
                                     zone_days=zone_days)
    result = {"level": c, "dist": None if law is None else (dist if dist == "normal" else f"t({dof:g})"),
              "n_sims": sims, "seed": seed, "pooled": pooled, "per_series": per.to_dict("records"),
              "not_tested": unmatched + [{"series": s, "reason": why} for s, why in skipped.itertuples(index=False)]}
    if output == "json":
        _emit_json(result)
        return
    lines = [f"VaR{'/ES' if law is not None else ''} backtest of your forecasts at {c * 100:g}%: "
             f"{pooled['n']} forecasts, {per.shape[0]} series"]
    keys = [k for k in P_VALUES if k in pooled]
    for name, res in [("pooled", pooled)] + [(row["series"], row) for row in per.to_dict("records")]:
        lines.append(f"  {name}: {res['exceptions']} exceptions (expected {res['expected']:.1f}), zone "
                     f"{res['zone']} (last {res['zone_n']}), FRTB multiplier {res['multiplier']:.2f}")
        lines.append("    " + "  ".join(f"{P_VALUES[k]} p {res[k]:.4f}" if np.isfinite(res[k]) else
                                        f"{P_VALUES[k]} n/a" for k in keys))
    if result["not_tested"]:
        lines.append(f"  not tested: {len(result['not_tested'])} row(s)/series, e.g. {result['not_tested'][0]}")
    typer.echo("\n".join(lines))
