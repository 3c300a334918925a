"""`qmtl-research strategy new NAME --returns F --funds F [--benchmarks F] [--world W]`: a strategy
on your own fund files, with its model card skeleton (:mod:`qmtl_research.scaffold`).

Exit codes: 0 when both files are written; 2 on a bad name, an existing strategy, a file outside
the project or a file the loader refuses (file, line, field and fund in the message; nothing written)."""
from __future__ import annotations

import typer

strategy_app = typer.Typer(no_args_is_help=True, help="Strategies: create one on your own fund files.")


@strategy_app.command("new")
def new_cmd(
    name: str = typer.Argument(..., help="strategy name: lower-case letters/digits joined by - or _ (e.g. my-funds)"),
    returns: str = typer.Option(..., "--returns", help="returns (or NAV) file, inside the project (data/README.md)"),
    funds: str = typer.Option(..., "--funds", help="funds file, inside the project"),
    benchmarks: str = typer.Option(None, "--benchmarks", help="benchmarks file, inside the project (optional)"),
    world: str = typer.Option(None, "--world", help="world it is judged in (default fund-rating)"),
    title: str = typer.Option(None, "--title", help="report subtitle (default: generated)"),
    owner: str = typer.Option(None, "--owner", help="model owner, as they sign (--actor); may be added to the card later"),
    developer: str = typer.Option(None, "--developer", help="model developer, as they sign; may be added later"),
    synthetic: bool = typer.Option(False, "--synthetic", help="the files hold generated data (e.g. data/sample/): "
                                   "the report says so on every page"),
):
    """Validate the files with the loader of a run, write params/strategies/NAME.yaml and a model
    card skeleton params/model_cards/NAME.yaml bound to it, and print the `make report` line."""
    from qmtl_research.paths import project_root
    from qmtl_research.scaffold import new_strategy

    made = new_strategy(name, returns=returns, funds=funds, benchmarks=benchmarks, world=world, title=title,
                        owner=owner, developer=developer, synthetic=synthetic)
    root = project_root()
    lines = [f"strategy '{made.strategy_id}' written: {made.n_funds} funds, weeks {made.first_week} .. {made.last_week}, "
             f"world {made.world_id}",
             f"  strategy:   {made.strategy_file.relative_to(root)}",
             f"  model card: {made.model_card_file.relative_to(root)} (skeleton: complete the '(to be written)' fields"
             + ("" if owner and developer else "; declare owner and developer before sign-off") + ")",
             "run it with:",
             f"  {made.make_line}"]
    typer.echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.add_typer(strategy_app, name="strategy")
