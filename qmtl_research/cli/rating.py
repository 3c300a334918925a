"""`qmtl-research rating ...`: stage-2 fund risk-grade tools (early warning)."""
from __future__ import annotations

from pathlib import Path

import typer

rating_app = typer.Typer(no_args_is_help=True, help="Fund risk-grade model (stage 2): early warning.")


@rating_app.command("early-warning")
def early_warning_cmd(
    strategy: str = typer.Option(..., "--strategy", "-s", help="params/strategies/<name>.yaml"),
    horizon: int = typer.Option(None, "--horizon", help="training horizon in weeks (default: settings, 4)"),
    output: Path = typer.Option(None, "--output", "-o", help="CSV file to write (default: print only)"),
    stage1_model: str = typer.Option(None, "--stage1-model", help="GARCH | EWMA | GARCH-LSTM ... (default: settings)"),
    kernel: str = typer.Option("RBF", "--kernel", help="RBF | Sigmoid | Linear | Poly"),
    n_funds: int = typer.Option(None, "--n-funds", help="override the universe's number of funds"),
    as_of: str = typer.Option(None, "--as-of", help="as-of date YYYY-MM-DD (default: the panel's last week)"),
    all_funds: bool = typer.Option(False, "--all", help="list unchanged funds too"),
    settings_file: Path = typer.Option(None, "--settings", help="rating settings YAML (default params/rating/settings.yaml)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
):
    """Funds whose predicted grade at the next settlement differs from the current grade."""
    import pandas as pd

    from qmtl_research.errors import InputError
    from qmtl_research.rating.early_warning import export_early_warning, run_early_warning
    from qmtl_research.rating.models import KERNELS
    from qmtl_research.rating.settings import load_rating_settings
    from qmtl_research.config import load_strategy
    from qmtl_research.data.universe import load_universe

    if kernel not in KERNELS:
        raise InputError(f"unknown kernel {kernel!r}", where="--kernel", fix=f"use one of {list(KERNELS)}")
    try:
        when = pd.Timestamp(as_of) if as_of else None
    except ValueError:
        raise InputError(f"--as-of {as_of!r} is not a date", where="--as-of", fix="use YYYY-MM-DD") from None
    settings = load_rating_settings(settings_file)
    if stage1_model:
        settings = settings.model_copy(update={"stage1_model": stage1_model})
    cfg = load_strategy(strategy)
    panel = load_universe(cfg.universe.model_copy(update={"n_funds": n_funds} if n_funds else {}))
    table, excluded = run_early_warning(panel, settings, horizon=horizon, kernel=kernel, seed=cfg.seed,
                                        as_of=when, include_unchanged=all_funds, progress=not quiet)
    typer.echo(f"{panel.label()}: {len(table)} fund(s) flagged, {len(excluded)} excluded")
    if len(excluded):
        for row in excluded.itertuples(index=False):
            typer.echo(f"  excluded {row.fund_id}: {row.reason}")
    with pd.option_context("display.width", 200, "display.max_columns", 12):
        typer.echo(table[["fund_id", "current_grade", "predicted_grade", "probability", "blended_std_pct",
                          "distance_to_boundary_pp", "days_to_settlement", "urgency"]].round(3).to_string(index=False))
    if output:
        path = export_early_warning(table, output)
        typer.secho(f"early-warning table -> {path}", fg=typer.colors.GREEN)


def register(app: typer.Typer) -> None:
    app.add_typer(rating_app, name="rating")
