"""`make report STRATEGY=demo`, warm: the wall time of the second of two report runs (the first fills
the JAX compilation cache and the OS file cache), each in its own process like ``make report``, into
a throwaway store and report folder, with each step's seconds as the run prints them (the manifest's
``timings``). Target (issue #20): <= 20 s wall. ``--quick``: ``--no-notebooks`` (stages only).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 20.0


def _report(tmp: str, quick: bool) -> dict:
    env = {**os.environ, "QMTL_STORE_URL": f"sqlite:///{tmp}/store.sqlite", "QMTL_REPORTS_DIR": f"{tmp}/reports"}
    cli = str(Path(sys.executable).with_name("qmtl-research"))      # the venv's console script
    cmd = [cli, "report", "run", "--strategy", "demo", "--quiet"]
    if quick:
        cmd.append("--no-notebooks")
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("  seconds: ")), "")
    steps = {}
    for item in line.removeprefix("  seconds: ").split(", ") if line else []:
        name, _, value = item.rpartition(" ")
        steps[name] = float(value)
    out = {"wall_s": round(wall, 1), "exit": proc.returncode, "steps_s": steps}
    if proc.returncode != 0:
        out["error"] = (proc.stderr or proc.stdout)[-1500:]
    return out


def run(quick: bool = False) -> dict:
    out = {"cpu_count": os.cpu_count(), "load_average_before": os.getloadavg(), "no_notebooks": quick,
           "target_warm_s": TARGET_S}
    with tempfile.TemporaryDirectory() as tmp:
        out["first"] = _report(tmp, quick)
        out["warm"] = _report(tmp, quick)
    out["meets_target"] = out["warm"]["exit"] == 0 and out["warm"]["wall_s"] <= TARGET_S
    out["load_average_after"] = os.getloadavg()
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
