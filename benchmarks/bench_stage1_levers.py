"""Stage 1's scale levers, each timed against the path it replaces in ONE process, back to back
(issue #20 item 6):

* the EWMA and HAR walk-forwards through :mod:`qmtl_research.volatility.series_batch` vs the
  per-fund driver (a model fit and filter per refit), yearly and weekly refits, with the check
  that both give the same numbers (bitwise);
* the LSTM walk-forward with weekly refits: ``lstm_retrain="yearly"`` vs retraining at every
  weekly refit (``"refit"``, the default), with the number of trainings.

    .venv/bin/python -m benchmarks.bench_stage1_levers            # 300 funds
    .venv/bin/python -m benchmarks.bench_stage1_levers --quick    # 100 funds
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np


def _series(returns, refit: str) -> dict:
    from qmtl_research.volatility import Stage1Config, series_batch
    from qmtl_research.volatility.series import series_walk_forward
    from qmtl_research.volatility.splits import walk_forward_schedule

    sched = walk_forward_schedule(returns, None, refit)
    out = {"n_refits": len(sched.refit_dates)}
    for name in ("EWMA", "HAR"):
        cfg = Stage1Config(models=(name,))
        series_walk_forward(name, cfg, returns.iloc[:, :2], sched.refit_dates[:1])     # imports, first calls
        t = time.perf_counter()
        lean = series_walk_forward(name, cfg, returns, sched.refit_dates)
        t_lean = time.perf_counter() - t
        real = series_batch.walk_fund
        series_batch.walk_fund = lambda *a, **k: False
        try:
            t = time.perf_counter()
            loop = series_walk_forward(name, cfg, returns, sched.refit_dates)
            t_loop = time.perf_counter() - t
        finally:
            series_batch.walk_fund = real
        same = bool(np.array_equal(lean.forecast.to_numpy(), loop.forecast.to_numpy(), equal_nan=True)
                    and lean.fits.equals(loop.fits))
        out[name] = {"per_fund_driver_s": round(t_loop, 2), "lean_s": round(t_lean, 2),
                     "speedup": round(t_loop / t_lean, 1), "fits": len(lean.fits), "identical": same}
    return out


def _lstm(panel, n_funds: int) -> dict:
    from qmtl_research.volatility import Stage1Config
    from qmtl_research.volatility.pipeline import _usable
    from qmtl_research.volatility.walkforward import build_walk_forward

    out = {}
    for retrain in ("yearly", "refit"):
        cfg = Stage1Config(models=("LSTM", "Naive"), cv=False, refit="weekly", lstm_retrain=retrain)
        returns, fund_type, _, sched = _usable(panel, cfg)
        t = time.perf_counter()
        _, _, training, _ = build_walk_forward(returns, fund_type, cfg, sched, progress=False)
        out[retrain] = {"seconds": round(time.perf_counter() - t, 2), "trainings": len(training),
                        "training_s": round(float(training["seconds"].sum()), 2)}
    out["speedup"] = round(out["refit"]["seconds"] / out["yearly"]["seconds"], 1)
    out["note"] = f"LSTM only (GARCH-LSTM scales the same way), weekly refits, {n_funds} funds"
    return out


def run(quick: bool = False) -> dict:
    import qmtl_research  # noqa: F401  (runtime defaults first)
    from qmtl_research.data.synthetic import make_synthetic_universe

    n_funds = 100 if quick else 300
    panel = make_synthetic_universe(n_funds=n_funds, seed=20230831)
    out = {"n_funds": n_funds, "cpu_count": os.cpu_count(), "load_average_before": os.getloadavg()}
    returns = panel.returns
    out["series_yearly"] = _series(returns, "yearly")
    out["series_weekly"] = _series(returns, "weekly")
    out["lstm_weekly"] = _lstm(panel, n_funds)
    out["load_average_after"] = os.getloadavg()
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
