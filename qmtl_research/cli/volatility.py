"""`qmtl-research volatility ...`: stage-1 volatility forecasts of a distributor's own files.

    qmtl-research volatility forecast --returns returns.csv [--funds funds.csv] --output csv [--out fc.csv]

One row per fund and forecast origin of the walk-forward test period (including the
"now" origin, the week after the file's last week): each model's forecast of the
annualised std (percent) of the fund's next 4 weekly returns, made from returns up to
``info_date``. File schema: ``data/README.md`` (returns long form ``date, fund_id,
return|nav``; funds ``fund_id, name, fund_type, ...``). Progress bars go to stderr.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Optional

import typer

from qmtl_research.cli._outputs import check_out
from qmtl_research.errors import InputError

OUTPUTS = ("csv", "json")
DATE_COLUMNS = ("origin", "info_date", "date", "fit_date", "garch_fit_date")


def _panel(returns: Path, funds: Optional[Path]):
    import pandas as pd

    from qmtl_research.data.loaders import load_funds, load_returns, require_fund_rows
    from qmtl_research.data.panel import FundPanel

    wide, facts = load_returns(returns)
    if funds is None:
        meta = pd.DataFrame({"fund_type": "unknown"}, index=pd.Index(list(wide.columns), name="fund_id"))
    else:
        meta = load_funds(funds)
        require_fund_rows(wide, meta, facts, str(funds), fix="add a row for it to the funds file, or leave out --funds")
        meta = meta.loc[list(wide.columns)]
    bench = pd.DataFrame(index=wide.index)
    return FundPanel(wide, meta, bench, source=f"files: {returns.name}", synthetic=False,
                     notes={"returns_file": str(returns)})


def _rows(forecasts, latest: bool, since: Optional[str]):
    import pandas as pd

    out = forecasts
    if latest:
        out = out.loc[out["origin"] == out["origin"].max()]
    if since:
        try:
            when = pd.Timestamp(since)
        except ValueError:
            raise InputError(f"--since {since!r} is not a date", where="--since", fix="use YYYY-MM-DD") from None
        out = out.loc[out["origin"] >= when]
    out = out.rename(columns={"y": "realised_vol_pct"}).copy()
    for c in DATE_COLUMNS:
        out[c] = pd.to_datetime(out[c]).dt.strftime("%Y-%m-%d").where(out[c].notna(), "")
    return out.reset_index(drop=True)


def register(app: typer.Typer) -> None:
    grp = typer.Typer(help="Stage 1: 1-month volatility forecasts (GARCH(1,1), LSTM, GARCH-LSTM, challengers: "
                           "naive, EWMA, GJR-GARCH, HAR).",
                      no_args_is_help=True)
    app.add_typer(grp, name="volatility")

    @grp.command("forecast")
    def forecast(
        returns: Path = typer.Option(..., "--returns", help="weekly returns or NAVs, long form: date, fund_id, "
                                                            "return|nav (CSV/Parquet; data/README.md)"),
        funds: Optional[Path] = typer.Option(None, "--funds", help="funds file (fund_id, name, fund_type, ...); "
                                                                   "gives fund_type"),
        models: Optional[list[str]] = typer.Option(None, "--models",
                                                   help="models to run (repeat the option; default: the "
                                                        "registry's default models, qmtl_research.volatility."
                                                        "registry)"),
        refit: str = typer.Option("yearly", "--refit", help="walk-forward refit cadence: yearly | weekly"),
        test_start: Optional[str] = typer.Option(None, "--test-start",
                                                 help="first forecast origin YYYY-MM-DD (default: data-relative)"),
        seed: int = typer.Option(42, "--seed", help="seed of the LSTMs (same files + seed = same numbers)"),
        output: str = typer.Option(..., "--output", help="csv | json"),
        out: Optional[Path] = typer.Option(None, "--out", help="write to this file instead of stdout"),
        force: bool = typer.Option(False, "--force", help="replace an existing --out file"),
        latest: bool = typer.Option(False, "--latest", help="only the latest origin (the 'now' forecast)"),
        since: Optional[str] = typer.Option(None, "--since", help="only origins from this date YYYY-MM-DD"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
    ):
        """Walk-forward 1-month volatility forecasts: one row per fund and forecast origin."""
        from pydantic import ValidationError

        from qmtl_research.errors import ConfigError
        from qmtl_research.volatility import registry
        from qmtl_research.volatility.config import Stage1Config
        from qmtl_research.volatility.pipeline import forecast_panel

        if output not in OUTPUTS:
            raise InputError(f"unknown output format {output!r}", where="--output", fix="use csv or json")
        models = list(models or registry.default_models())
        unknown = [m for m in models if m not in registry.names()]
        if unknown:
            raise InputError(f"unknown model(s) {unknown}", where="--models",
                             fix=f"use {', '.join(registry.names())}")
        check_out(out, force=force)
        try:
            config = Stage1Config(models=tuple(dict.fromkeys(models)), refit=refit, test_start=test_start,
                                  seed=seed, cv=False)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "options"
            raise ConfigError(f"invalid option: {first['msg']}", where=f"--{field.replace('_', '-')}",
                              fix="see qmtl-research volatility forecast --help") from None
        panel = _panel(returns, funds)
        forecasts, failures, schedule = forecast_panel(panel, config, progress=not quiet)
        rows = _rows(forecasts, latest, since)
        if output == "csv":
            buf = io.StringIO()
            rows.to_csv(buf, index=False, float_format="%.10g")
            text = buf.getvalue()
        else:
            payload = {"test_start": str(schedule.test_start.date()), "test_start_rule": schedule.test_start_rule,
                       "refit": schedule.refit, "refit_dates": [str(d.date()) for d in schedule.refit_dates],
                       "models": list(config.models), "units": "annualised std of the next 4 weekly returns, %",
                       "forecasts": json.loads(rows.to_json(orient="records", double_precision=10)),
                       "failures": failures.to_dict(orient="records")}
            text = json.dumps(payload, indent=1, ensure_ascii=False) + "\n"
        if out is None:
            typer.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8")
        if not quiet or out is not None:
            typer.echo(f"{len(rows)} forecast rows ({rows['fund_id'].nunique()} funds, origins "
                       f"{rows['origin'].min() if len(rows) else '-'} .. {rows['origin'].max() if len(rows) else '-'}; "
                       f"test period from {schedule.test_start.date()}, {schedule.refit} refits)"
                       + (f" -> {out}" if out else ""), err=True)
        for row in failures.itertuples(index=False):
            typer.echo(f"  no forecast for {row.fund_id} ({row.step}): {row.message}", err=True)
