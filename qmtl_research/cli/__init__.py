"""The `qmtl-research` command: one typer app; each module of this package adds a
command group through ``register(app)`` (data, report, runs, audit, risk,
validate, override, policy, events ...)."""
from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from qmtl_research.errors import QMTLResearchError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="qmtl-research: fund risk-rating model, risk/audit engine and QMTL-compatible model validation.")


def _register_all() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(app)


_register_all()


def main() -> None:
    """Entry point: people get a clear message and a non-zero exit code, not a traceback."""
    try:
        app(standalone_mode=False)
    except QMTLResearchError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
