"""`qmtl-research report ...`: run strategies into versioned Validation Reports."""
from __future__ import annotations

import typer

report_app = typer.Typer(no_args_is_help=True, help="Execute notebooks, store the run, render the versioned report.")


@report_app.command("run")
def run_cmd(
    strategy: str = typer.Option(None, "--strategy", "-s", help="params/strategies/<name>.yaml"),
    world: str = typer.Option(None, "--world", "-w", help="params/worlds/<name>.yaml (default: the strategy's first world)"),
    engine: str = typer.Option("auto", help="auto | quarto | pandoc"),
    store_url: str = typer.Option(None, envvar="QMTL_STORE_URL", help="SQLAlchemy URL of the Evaluation Store"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
    no_notebooks: bool = typer.Option(False, "--no-notebooks", help="compute, store and judge the run in this "
                                      "process; execute no notebook and render no report"),
    recompute: bool = typer.Option(False, "--recompute", help="compute every stage even when the stage cache "
                                   "holds it for the same inputs and code (also QMTL_STAGE_CACHE=0)"),
):
    """Run one strategy (STRATEGY) or every strategy of a world (WORLD only) into reports."""
    from qmtl_research.reporting.runner import run_report, strategies_for
    from qmtl_research.reporting.world_summary import world_summary

    if strategy is None and world is None:
        raise typer.BadParameter("give --strategy (and optionally --world), or --world alone")
    targets = [strategy] if strategy else strategies_for(world)
    results = []
    for name in targets:
        res = run_report(name, world, store_url=store_url, engine=engine, progress=not quiet, echo=typer.echo,
                         no_notebooks=no_notebooks, recompute=recompute)
        results.append(res)
        where = res.pdf if res.pdf else f"run {res.run_id} (no report)"
        typer.secho(f"{res.strategy_id}/{res.world_id} {res.version or '-'}: {res.status}, verdict {res.verdict} -> {where}",
                    fg=typer.colors.GREEN)
    if strategy is None and not no_notebooks:
        path = world_summary(world, store_url=store_url, engine=engine)
        typer.secho(f"world summary -> {path}", fg=typer.colors.GREEN)


@report_app.command("all")
def all_cmd(
    workers: int = typer.Option(2, min=1, help="parallel processes"),
    world: str = typer.Option(None, help="only the strategies of this world"),
    scheduler: str = typer.Option("processes", help="processes | dask"),
    dask_address: str = typer.Option(None, help="dask scheduler address (default: a LocalCluster)"),
    engine: str = typer.Option("auto", help="auto | quarto | pandoc"),
    store_url: str = typer.Option(None, envvar="QMTL_STORE_URL"),
):
    """Every shipped strategy (each in its own process), with a progress display."""
    from qmtl_research.config import list_strategies, load_strategy
    from qmtl_research.reporting.batch import run_many

    names = [s for s in list_strategies() if world is None or world in load_strategy(s).worlds]
    outcomes = run_many(names, workers=workers, scheduler=scheduler, dask_address=dask_address,
                        engine=engine, store_url=store_url, world=world)
    failed = [o for o in outcomes if o["returncode"] != 0]
    for o in outcomes:
        colour = typer.colors.GREEN if o["returncode"] == 0 else typer.colors.RED
        typer.secho(f"{o['strategy']:>18}: exit {o['returncode']} in {o['seconds']:.1f} s  {o['last_line']}", fg=colour)
    if failed:
        raise typer.Exit(1)


@report_app.command("sign")
def sign_cmd(
    strategy: str = typer.Option(..., "--strategy", "-s", help="params/strategies/<name>.yaml"),
    run_id: str = typer.Option(..., "--run", help="the evaluated run whose decisions the report shows"),
    world: str = typer.Option(None, "--world", "-w", help="the world (default: the strategy's first world)"),
    engine: str = typer.Option("auto", help="auto | quarto | pandoc"),
    store_url: str = typer.Option(None, envvar="QMTL_STORE_URL", help="SQLAlchemy URL of the Evaluation Store"),
):
    """The signed report: render an evaluated run's report again as a new version (nothing is
    recomputed), its Sign-off block filled from the decisions recorded on that run."""
    from qmtl_research.reporting.runner import render_signed

    res = render_signed(strategy, world, run_id, store_url=store_url, engine=engine, echo=typer.echo)
    typer.secho(f"{res.strategy_id}/{res.world_id} {res.version}: signed report of run {res.run_id} -> {res.pdf}",
                fg=typer.colors.GREEN)


@report_app.command("diff")
def diff_cmd(
    strategy: str = typer.Argument(..., help="the strategy (params/strategies/<name>.yaml)"),
    version_a: str = typer.Argument(..., help="the earlier report version, e.g. v0001"),
    version_b: str = typer.Argument(..., help="the later report version, e.g. v0002"),
    world: str = typer.Option(None, "--world", "-w", help="the world (default: the strategy's first world)"),
    output: str = typer.Option("text", "--output", help="text | json"),
    store_url: str = typer.Option(None, envvar="QMTL_STORE_URL", help="SQLAlchemy URL of the Evaluation Store"),
):
    """What changed between two report versions: inputs (strategy, parameters, policy, model card,
    data and input files), code (commit, packages) and results (verdict, rules, metrics)."""
    import json

    from qmtl_research.config import load_strategy
    from qmtl_research.errors import InputError
    from qmtl_research.reporting.changes import diff_json, diff_runs, diff_text, load_version
    from qmtl_research.reporting.runner import resolve_world
    from qmtl_research.store import EvaluationStore
    from qmtl_research.store.codec import to_jsonable

    if output not in ("text", "json"):
        raise InputError(f"unknown output format '{output}'", where="--output", fix="use text or json")
    world_id = resolve_world(load_strategy(strategy), world)
    store = EvaluationStore.open(store_url)
    a, b = (load_version(store, strategy, world_id, v) for v in (version_a, version_b))
    frame = diff_runs(a, b)
    if output == "json":
        typer.echo(json.dumps(to_jsonable(diff_json(a, b, frame)), indent=2, ensure_ascii=False))
    else:
        typer.echo(diff_text(a, b, frame))


@report_app.command("list")
def list_cmd():
    """Strategies and worlds that can be reported."""
    from qmtl_research.config import list_strategies, list_worlds

    typer.echo("strategies: " + ", ".join(list_strategies()))
    typer.echo("worlds:     " + ", ".join(list_worlds()))


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
