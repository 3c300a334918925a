"""World summary: the latest run of every strategy of a world, verdict counts and health."""
from __future__ import annotations

from pathlib import Path

from qmtl_research.reporting.render import render_notebook
from qmtl_research.reporting.notebooks import Execution, execute_all, store_env
from qmtl_research.reporting.versions import allocate_version


def world_summary(world: str, *, store_url: str | None = None, engine: str = "auto") -> Path:
    """Execute notebooks/world.ipynb for ``world`` and render it under reports/_world/<world>/<version>/."""
    import datetime as dt

    version, folder = allocate_version("_world", world)
    nb = folder / "world_summary.ipynb"
    # the store URL goes to the kernel's environment, never into the notebook (it may hold a password)
    execute_all([Execution("world", nb, {"world": world}, env=store_env(store_url))], echo=lambda _m: None)
    meta = {"title": "World summary", "subtitle": f"World {world}",
            "qmtl": {"strategy": "all strategies", "world": world, "version": version, "verdict": "see table",
                     "stage": "n/a", "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}}
    out = render_notebook(nb, folder / "_build", meta, engine=engine, stem="world_summary", html=False)
    pdf = folder / "world_summary.pdf"
    out["pdf"].rename(pdf)
    return pdf
