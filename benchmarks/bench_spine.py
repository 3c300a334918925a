"""Spine: wall time of `make setup` from nothing, of `make report STRATEGY=demo` warm (target
<= 30 s) and of the report of the real 20-year universe ending in 2018 (`us-1999-2018`, target
<= 60 s, no notebook parameter: every default from the data).

`make setup` from nothing is measured in a throwaway copy of the checkout with pip's
cache disabled (every wheel downloaded again), so it is what a fresh machine pays.
The report is measured with the environment ready, into a throwaway store and
reports folder so the benchmark does not add versions to reports/.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _timed(cmd, **kw) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, **kw)
    return time.perf_counter() - t


def run(quick: bool = False) -> dict:
    figures: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, QMTL_STORE_URL=f"sqlite:///{tmp}/store.sqlite", QMTL_REPORTS_DIR=f"{tmp}/reports")
        py = str(ROOT / ".venv" / "bin" / "qmtl-research")
        figures["load_average_before"] = os.getloadavg()
        # the first run fills the caches (compiled XLA programs in .cache/jax); the second is "warm"
        figures["report_demo_first_s"] = round(_timed([py, "report", "run", "--strategy", "demo", "--quiet"],
                                                      env=env, cwd=ROOT, capture_output=True), 1)
        figures["report_demo_warm_s"] = round(_timed([py, "report", "run", "--strategy", "demo", "--quiet"],
                                                     env=env, cwd=ROOT, capture_output=True), 1)
        figures["report_demo_target_s"] = 30
        figures["report_us_1999_2018_s"] = round(_timed([py, "report", "run", "--strategy", "us-1999-2018", "--quiet"],
                                                        env=env, cwd=ROOT, capture_output=True), 1)
        figures["report_us_1999_2018_target_s"] = 60
        if not quick:
            work = Path(tmp) / "checkout"
            subprocess.run(["git", "clone", "-q", str(ROOT), str(work)], check=True)
            env2 = {k: v for k, v in os.environ.items() if not k.startswith(("QMTL_", "VIRTUAL_ENV"))}
            env2["PIP_NO_CACHE_DIR"] = "1"
            figures["make_setup_from_nothing_s"] = round(
                _timed(["make", "setup"], cwd=work, env=env2, capture_output=True), 1)
            figures["make_setup_noop_s"] = round(_timed(["make", "setup"], cwd=work, env=env2, capture_output=True), 2)
            figures["venv_size_mb"] = round(sum(f.stat().st_size for f in (work / ".venv").rglob("*") if f.is_file()) / 2**20)
            shutil.rmtree(work, ignore_errors=True)
    return figures
