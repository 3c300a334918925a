"""Building the `qmtl-research` parser (and rendering every command's help) loads no heavy
library: command modules import them inside their command functions (issue #19).

An import test, not a timing test: a fresh interpreter builds the click command from the
typer app, renders the help of every group and command, and reports which modules it
loaded. The speed figure is benchmarks/bench_cli.py's."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: libraries that must wait for a command to run (each costs 0.1-2 s to import)
HEAVY = ("pandas", "scipy", "sklearn", "keras", "jax", "matplotlib", "papermill", "statsmodels", "arch",
         "numpy", "sqlalchemy", "skfolio", "rich")

_PROBE = r"""
import json, sys
from qmtl_research.cli import app  # first, as the console script does (it sets typer's plain help)
import typer

command = typer.main.get_command(app)
shown = []

def walk(cmd, ctx):
    cmd.get_help(ctx)
    shown.append(ctx.command_path)
    for name in getattr(cmd, "list_commands", lambda c: [])(ctx):
        sub = cmd.get_command(ctx, name)
        walk(sub, sub.make_context(name, [], parent=ctx, resilient_parsing=True))

walk(command, command.make_context("qmtl-research", [], resilient_parsing=True))
print(json.dumps({"shown": shown, "modules": sorted(sys.modules)}))
"""


@pytest.fixture(scope="module")
def probe() -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_help_of_every_command_was_rendered(probe):
    shown = set(probe["shown"])
    # every group the package registers, and at least one command below each
    for group in ("data", "report", "runs", "audit", "risk", "validate", "policy", "events", "volatility",
                  "rating", "findings", "strategy"):
        assert f"qmtl-research {group}" in shown, group
    assert "qmtl-research data build" in shown and "qmtl-research risk var" in shown
    assert len(shown) > 40


@pytest.mark.parametrize("library", HEAVY)
def test_building_the_parser_does_not_import(probe, library):
    loaded = [m for m in probe["modules"] if m == library or m.startswith(library + ".")]
    assert loaded == [], f"building the CLI parser imported {library} ({len(loaded)} modules, e.g. {loaded[:3]})"


def test_project_computing_modules_wait_for_their_command(probe):
    """Only the CLI package and the light modules it needs for help texts are loaded."""
    light = {"qmtl_research", "qmtl_research.cli", "qmtl_research.errors", "qmtl_research.paths",
             "qmtl_research.lazy", "qmtl_research.validation", "qmtl_research.validation.compat"}
    ours = {m for m in probe["modules"] if m.startswith("qmtl_research")}
    extra = sorted(m for m in ours - light if not m.startswith("qmtl_research.cli."))
    assert extra == []
