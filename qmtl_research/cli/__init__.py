"""The `qmtl-research` command: one typer app; each module of this package adds a
command group through ``register(app)`` (data, report, runs, audit, risk,
validate, override, policy, events ...).

Building the parser must stay cheap (``qmtl-research --help`` <= 0.5 s): command modules
import pandas, scipy, sklearn, keras, jax, matplotlib, papermill and the project's
computing modules only inside their command functions (tests/test_cli_imports.py)."""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys

# Plain click help unless asked otherwise (TYPER_USE_RICH=1): rich's help formatting costs about
# 0.3 s of imports, most of the `qmtl-research --help` budget (0.5 s; benchmarks/bench_cli.py).
# Set before typer is imported: typer reads it once. An explicit environment variable wins.
os.environ.setdefault("TYPER_USE_RICH", "0")

import typer  # noqa: E402

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


#: exit codes at the shell: 0 success; 1 a gate tripped (validate --fail-on, policy diff > 5 %,
#: policy invariants, runs monitor demotion candidates, runs overrides --overdue, report all with a
#: failed strategy, a failed notebook); 2 bad input / configuration / store refusal (the message
#: says what, where and what to do) or a usage error; 130 interrupted.
EXIT_GATE = 1


def main() -> None:
    """Entry point: people get a clear message and a non-zero exit code, not a traceback.

    ``standalone_mode=False`` makes click *return* the exit code of ``typer.Exit`` (and a
    command's return value) instead of exiting: that code is passed on to the shell here."""
    try:
        rc = app(standalone_mode=False)
    except QMTLResearchError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:
        # usage errors (typer vendors its own click: match by shape, not by class) show
        # themselves and carry their exit code (2)
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(rc if isinstance(rc, int) and not isinstance(rc, bool) else 0)
