"""`make report STRATEGY=demo`, cold and warm: two report runs, each in its own process like
``make report``, into a throwaway store, report folder and stage cache. The first is cold (every
stage computed; it fills the stage cache, the JAX compilation cache and the OS file cache), the
second warm (the stages read back from the stage cache: its report says so). Printed: each run's
wall seconds, its children's CPU seconds (robust when the machine is shared), each step's seconds
as the run prints them (the manifest's ``timings``), the load average before and after, and the
ratio of the warm wall time to the target (issue #20: <= 20 s wall on the 2-core machine).
``--quick``: ``--no-notebooks`` (stages only).
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 20.0


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _report(tmp: str, quick: bool) -> dict:
    env = {**os.environ, "QMTL_STORE_URL": f"sqlite:///{tmp}/store.sqlite", "QMTL_REPORTS_DIR": f"{tmp}/reports",
           "QMTL_STAGE_CACHE_DIR": f"{tmp}/stages"}
    env.pop("QMTL_STAGE_CACHE", None)
    cli = str(Path(sys.executable).with_name("qmtl-research"))      # the venv's console script
    cmd = [cli, "report", "run", "--strategy", "demo", "--quiet"]
    if quick:
        cmd.append("--no-notebooks")
    cpu, t = _cpu_children(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall, cpu = time.perf_counter() - t, _cpu_children() - cpu
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("  seconds: ")), "")
    steps = {}
    for item in line.removeprefix("  seconds: ").split(", ") if line else []:
        name, _, value = item.rpartition(" ")
        steps[name] = float(value)
    reused = [ln.strip() for ln in proc.stdout.splitlines() if "(reused:" in ln]
    out = {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "exit": proc.returncode, "steps_s": steps,
           "reused": reused, "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    if proc.returncode != 0:
        out["error"] = (proc.stderr or proc.stdout)[-1500:]
    return out


def run(quick: bool = False) -> dict:
    out = {"cpu_count": os.cpu_count(), "load_average_before": [round(x, 2) for x in os.getloadavg()],
           "no_notebooks": quick, "target_warm_s": TARGET_S}
    with tempfile.TemporaryDirectory() as tmp:
        out["cold"] = _report(tmp, quick)
        out["warm"] = _report(tmp, quick)
    warm = out["warm"]
    out["warm_over_target"] = round(warm["wall_s"] / TARGET_S, 2)
    out["cold_over_warm"] = round(out["cold"]["wall_s"] / warm["wall_s"], 1) if warm["wall_s"] else None
    out["meets_target"] = warm["exit"] == 0 and warm["wall_s"] <= TARGET_S
    out["note"] = ("wall seconds depend on the machine's load (see load_average_*): on a shared machine compare "
                   "cpu_s and the ratios measured in this one run")
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
