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


def machine_reference() -> dict:
    """How fast this machine is today, to compare figures across machines (CI machines of the same
    kind differ by up to 2x in single-thread speed): a pure-Python loop of 1e7 additions and 200
    float64 400x400 matrix products (BLAS), in seconds (lower = faster)."""
    import numpy as np

    t = time.perf_counter()
    total = 0
    for i in range(10**7):
        total += i
    loop = time.perf_counter() - t
    a = np.random.default_rng(0).random((400, 400))
    t = time.perf_counter()
    for _ in range(200):
        a @ a
    return {"python_loop_1e7_s": round(loop, 3), "matmul_200x400_s": round(time.perf_counter() - t, 3),
            "cpu": next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("model name")), "unknown") if Path("/proc/cpuinfo").exists() else "unknown"}


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
        figures["machine_reference"] = machine_reference()
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
