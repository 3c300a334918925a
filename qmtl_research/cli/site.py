"""`qmtl-research site build`: the static validation portal rendered from the state view."""
from __future__ import annotations

from pathlib import Path

import typer

site_app = typer.Typer(no_args_is_help=True, help="The validation portal (static HTML from the state view).")


@site_app.command("build")
def build_cmd(out: Path = typer.Option(None, "--out", help="folder for the site (default: reports/site); must be "
                                                           "empty, new, or an earlier portal build"),
              store_url: str = typer.Option(None, "--store-url")):
    """Render the inventory, a page per model and a page per world from the state view (run
    `qmtl-research events follow --once` first to bring it up to date)."""
    from qmtl_research.paths import reports_dir
    from qmtl_research.reporting.site import build_site, pages
    from qmtl_research.store import EvaluationStore

    out = out or reports_dir() / "site"
    written = build_site(EvaluationStore.open(store_url), out)
    typer.echo(f"{len(pages(written))} page(s), {len(written) - len(pages(written))} figure(s) -> {out}/index.html")


def register(app: typer.Typer) -> None:
    app.add_typer(site_app, name="site")
