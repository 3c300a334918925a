"""Stage-1 challengers (``python -m benchmarks.bench_challengers [--quick]``).

Wall time of each per-fund challenger's walk-forward (EWMA, GJR-GARCH on arch's likelihood, HAR;
:func:`qmtl_research.volatility.series.series_walk_forward`) on the demo universe (60 synthetic
funds, seed 20230831) with the demo's schedule (data-relative test start, yearly refits),
next to the GARCH(1,1) engine's walk-forward on the same panel and schedule, and the number
of estimations, and the K-fold CV's estimations (one per fund and fold). ``--quick``: 20 funds. Measurements, not tests: nothing fails on a target.
"""
from __future__ import annotations

import os
import time


def run(quick: bool = False) -> dict:
    from qmtl_research.data.synthetic import make_synthetic_universe
    from qmtl_research.volatility import Stage1Config, garch_walk_forward, registry
    from qmtl_research.volatility.inputs import check_histories
    from qmtl_research.volatility.series import series_masked, series_walk_forward
    from qmtl_research.volatility.splits import cv_splits, walk_forward_schedule

    n_funds = 20 if quick else 60
    panel = make_synthetic_universe(n_funds=n_funds, seed=20230831)
    cfg = Stage1Config()
    usable, _ = check_histories(panel.returns, min_obs=2 * cfg.window + cfg.horizon)
    returns = panel.returns[usable]
    sched = walk_forward_schedule(returns, cfg.test_start, cfg.refit, cfg.window, cfg.horizon,
                                  cfg.garch.min_train_obs, cfg.test_start_share)
    out = {"n_funds": int(returns.shape[1]), "n_weeks": int(returns.shape[0]),
           "n_refits": len(sched.refit_dates), "load_1m_before": round(os.getloadavg()[0], 2)}
    t0 = time.perf_counter()
    g = garch_walk_forward(returns, sched.refit_dates, cfg.garch, horizon=cfg.horizon, progress=False)
    out["GARCH engine s"] = round(time.perf_counter() - t0, 2)
    out["GARCH estimations"] = int(len(g.params))
    for name in registry.names(kind="series"):
        t0 = time.perf_counter()
        res = series_walk_forward(name, cfg, returns, sched.refit_dates)
        out[f"{name} s"] = round(time.perf_counter() - t0, 2)
        out[f"{name} estimations"] = int(len(res.fits))
        out[f"{name} flagged"] = int((res.fits["flags"] != "").sum())
        out[f"{name} failures"] = len(res.failures)
        t0 = time.perf_counter()
        for split in cv_splits(returns.index, cfg.folds, cfg.window, cfg.horizon):
            series_masked(name, cfg, returns, split.garch_mask)
        out[f"{name} cv {cfg.folds} folds s"] = round(time.perf_counter() - t0, 2)
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
