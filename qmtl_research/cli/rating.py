"""`qmtl-research rating ...`: stage 2 on a distributor's own files (the weekly job) or a strategy.

    qmtl-research rating predict --returns returns.csv --funds funds.csv [--benchmarks b.csv] --output csv
    qmtl-research rating early-warning --strategy demo

Both run stage 1 (the walk-forward forecast panel) and stage 2 (the SVC study at every horizon,
which validates one model per horizon against persistence), then score every fund for its next
settlement as of the panel's last week (or ``--as-of``). ``predict`` lists every fund: grade now
(disclosed, else computed), the predicted grade at the next settlement and its probability, the
model's horizon and its validated accuracy beside persistence's, and ``warning`` (the predicted
grade differs from the current one and that horizon's model beats persistence).
``early-warning`` lists the warnings only. Progress bars go to stderr.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from qmtl_research.cli._outputs import check_out
from qmtl_research.errors import InputError

OUTPUTS = ("text", "csv", "json")
PREDICT_COLUMNS = ["fund_id", "fund_type", "current_grade", "current_grade_source", "predicted_grade", "probability",
                   "warning", "next_settlement", "weeks_to_settlement", "model_horizon_weeks", "model_kernel",
                   "validated_accuracy", "persistence_accuracy", "blended_std_pct", "forecast_vol_pct"]

rating_app = typer.Typer(no_args_is_help=True, help="Fund risk-grade model (stage 2): predictions and early warnings.")


def _panel(strategy: Optional[str], returns: Optional[Path], funds: Optional[Path], benchmarks: Optional[Path]):
    from qmtl_research.config import load_strategy
    from qmtl_research.data.loaders import load_panel
    from qmtl_research.data.universe import load_universe

    if (strategy is None) == (returns is None):
        raise InputError("give either --strategy or --returns (with --funds)", where="options",
                         fix="e.g. --returns returns.csv --funds funds.csv [--benchmarks benchmarks.csv]")
    if strategy:
        cfg = load_strategy(strategy)
        return load_universe(cfg.universe), cfg
    if funds is None:
        raise InputError("--returns needs --funds (fund types, benchmarks and settlement dates)", where="--funds",
                         fix="see data/README.md for the funds file")
    return load_panel(returns, funds, benchmarks), None


def predictions(panel, cfg, *, as_of=None, horizon=None, progress=True):
    """(all-funds prediction table, funds not scored) for a panel: stage 1, stage 2, per-horizon models."""
    import pandas as pd

    from qmtl_research.pipeline import RatingParams, StageInputs, run_rating
    from qmtl_research.rating.early_warning import warnings_by_horizon

    inputs = StageInputs(cfg, panel=panel)
    study, _ = run_rating(RatingParams(horizon=horizon), inputs, progress)
    when = pd.Timestamp(as_of) if as_of else None
    table, excluded = warnings_by_horizon(panel, study, study.forecaster, seed=cfg.seed if cfg else 42, as_of=when,
                                          include_unchanged=True, only_validated=False)
    table = table.copy()
    table["warning"] = (table["predicted_grade"] != table["current_grade"]) & \
        (table["validated_accuracy"] > table["persistence_accuracy"])
    return table[PREDICT_COLUMNS], excluded


def _check_outputs(output: str, out: Optional[Path]) -> None:
    """--output and --out, checked before anything is computed."""
    if output not in OUTPUTS:
        raise InputError(f"unknown output format {output!r}", where="--output", fix="use text, csv or json")
    check_out(out)


def _emit(table, excluded, output: str, out: Optional[Path]) -> None:
    import pandas as pd

    from qmtl_research.store.codec import to_jsonable

    _check_outputs(output, out)
    shown = table.copy()
    shown["next_settlement"] = pd.to_datetime(shown["next_settlement"]).dt.strftime("%Y-%m-%d")
    if output == "csv":
        text = shown.to_csv(index=False, float_format="%.6f")
    elif output == "json":
        text = json.dumps(to_jsonable({"predictions": shown.to_dict(orient="records"),
                                       "not_scored": excluded.to_dict(orient="records")}), indent=2)
    else:
        with pd.option_context("display.width", 220, "display.max_columns", 20):
            text = shown.round(3).to_string(index=False) + "\n"
        if len(excluded):
            text += "\nnot scored:\n" + "\n".join(f"  {r.fund_id}: {r.reason}" for r in excluded.itertuples()) + "\n"
    if out:
        out.write_text(text, encoding="utf-8")
        typer.secho(f"{len(shown)} fund(s) -> {out}", err=True, fg=typer.colors.GREEN)
    else:
        typer.echo(text, nl=False)


@rating_app.command("predict")
def predict_cmd(
    strategy: str = typer.Option(None, "--strategy", "-s", help="a strategy's universe (params/strategies/<name>.yaml)"),
    returns: Path = typer.Option(None, "--returns", help="weekly returns or NAVs, long form (data/README.md)"),
    funds: Path = typer.Option(None, "--funds", help="funds file: fund_type, benchmark, settlement month/day, disclosed grade"),
    benchmarks: Path = typer.Option(None, "--benchmarks", help="benchmark returns, long form (data/README.md)"),
    as_of: str = typer.Option(None, "--as-of", help="as-of date YYYY-MM-DD (default: the last week of the data)"),
    horizon: int = typer.Option(None, "--horizon", help="verdict horizon of the study (default: settings, 4 weeks)"),
    output: str = typer.Option("text", "--output", help="text | csv | json"),
    out: Path = typer.Option(None, "--out", help="file to write (default: stdout)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
):
    """Every fund: grade now, predicted grade at its next settlement, probability, validated accuracy."""
    _check_outputs(output, out)
    panel, cfg = _panel(strategy, returns, funds, benchmarks)
    table, excluded = predictions(panel, cfg, as_of=as_of, horizon=horizon, progress=not quiet)
    _emit(table, excluded, output, out)


@rating_app.command("early-warning")
def early_warning_cmd(
    strategy: str = typer.Option(None, "--strategy", "-s", help="a strategy's universe (params/strategies/<name>.yaml)"),
    returns: Path = typer.Option(None, "--returns", help="weekly returns or NAVs, long form (data/README.md)"),
    funds: Path = typer.Option(None, "--funds", help="funds file"),
    benchmarks: Path = typer.Option(None, "--benchmarks", help="benchmark returns, long form"),
    as_of: str = typer.Option(None, "--as-of", help="as-of date YYYY-MM-DD (default: the last week of the data)"),
    output: str = typer.Option("text", "--output", help="text | csv | json"),
    out: Path = typer.Option(None, "--out", help="file to write (default: stdout)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
):
    """Only the warnings: funds whose predicted grade differs, from a horizon that beats persistence."""
    _check_outputs(output, out)
    panel, cfg = _panel(strategy, returns, funds, benchmarks)
    table, excluded = predictions(panel, cfg, as_of=as_of, progress=not quiet)
    _emit(table[table["warning"]].reset_index(drop=True), excluded, output, out)


def register(app: typer.Typer) -> None:
    app.add_typer(rating_app, name="rating")
