"""CLI start-up: wall time of `qmtl-research --help` (median of 5, target <= 0.5 s).

Every run is a fresh process, as a person at a shell pays it: interpreter start, the
package, typer and the parser of every command group. The heavy libraries are not
part of it (command modules import them inside their functions); which of them a
`--help` loads is listed too, so a slow figure can be told apart from a lazy import
that stopped being lazy (tests/test_cli_imports.py is the test of that).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 0.5
RUNS = 5
HEAVY = ("pandas", "scipy", "sklearn", "keras", "jax", "matplotlib", "papermill", "rich")


def _executable() -> str:
    """The console script installed beside this interpreter (the one people run)."""
    exe = Path(sys.executable).parent / "qmtl-research"
    if not exe.exists():
        raise FileNotFoundError(f"{exe} is missing: run `make setup` first")
    return str(exe)


def help_seconds(runs: int = RUNS) -> list[float]:
    """Wall seconds of ``runs`` fresh ``qmtl-research --help`` processes, in order of running."""
    exe, times = _executable(), []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([exe, "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return times


def heavy_loaded_by_help() -> list[str]:
    """Top-level heavy packages present in ``sys.modules`` after ``qmtl-research --help``."""
    code = ("import json, sys\n"
            "sys.argv = ['qmtl-research', '--help']\n"
            "from qmtl_research.cli import main\n"
            "try:\n    main()\n"
            "except SystemExit:\n    pass\n"
            f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env=dict(os.environ))
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> dict:
    times = help_seconds(3 if quick else RUNS)
    median = statistics.median(times)
    return {"help_median_s": round(median, 3), "help_runs_s": [round(t, 3) for t in times],
            "target_s": TARGET_S, "target_met": median <= TARGET_S,
            "heavy_loaded_by_help": heavy_loaded_by_help(),
            "typer_use_rich": os.environ.get("TYPER_USE_RICH", "(default: 0, set by qmtl_research.cli)"),
            "load_average_1min": round(os.getloadavg()[0], 2)}
