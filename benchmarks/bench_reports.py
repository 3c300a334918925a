"""`make report-all` with 1 and with 2 workers (every shipped strategy, each in its own
process), into throwaway stores and report folders; the speed-up is measured in one run."""
from __future__ import annotations

import os
import tempfile
import time

from qmtl_research.config import list_strategies
from qmtl_research.reporting.batch import run_many


def _run(workers: int, names: list[str]) -> tuple[float, list[dict]]:
    with tempfile.TemporaryDirectory() as tmp:
        old = {k: os.environ.get(k) for k in ("QMTL_REPORTS_DIR",)}
        os.environ["QMTL_REPORTS_DIR"] = f"{tmp}/reports"
        try:
            t = time.perf_counter()
            out = run_many(names, workers=workers, store_url=f"sqlite:///{tmp}/store.sqlite")
            return time.perf_counter() - t, out
        finally:
            for k, v in old.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def run(quick: bool = False) -> dict:
    names = ["audit-demo", "qmtl-import"] if quick else list_strategies()
    t1, o1 = _run(1, names)
    t2, o2 = _run(2, names)
    return {"strategies": names, "workers_1_s": round(t1, 1), "workers_2_s": round(t2, 1),
            "speedup_2_over_1": round(t1 / t2, 2),
            "per_strategy_s_1_worker": {o["strategy"]: round(o["seconds"], 1) for o in o1},
            "all_succeeded": all(o["returncode"] == 0 for o in o1 + o2),
            "load_average_after": os.getloadavg()}
