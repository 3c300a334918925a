"""Stage-1 (volatility) benchmarks (``python -m benchmarks.bench_volatility [--quick]``).

1. **Demo universe** (60 synthetic funds, seed 20230831): the whole of ``run_stage1`` with the
   defaults (walk-forward, yearly refits, and the paper's 4-fold CV; all four models), run
   twice in this process: the first run includes Keras' import and XLA compilation (or
   loading it from the persistent cache in ``.cache/jax``), the second is the steady state.
   Target: about 10-12 s.
2. **GARCH walk-forward at paper scale** (2,585 funds), yearly refits: wall time with 1 and 2
   joblib (loky) workers, speed-up, identical numbers.
3. **Paper scale, walk-forward stage 1, yearly refits** (all four models, no CV): wall time
   (target: well under 4 min) and peak RSS of the process tree (target <= 4 GB).
4. **Paper scale, weekly refits** (every origin, warm-started; GARCH with 2 workers): wall
   time (target <= ~18 min) and peak RSS.

The 1-minute load average before each part is reported: the machine is shared, and other
processes slow these figures down. ``--quick`` runs 1 and 2-3 on 120 funds, and 4 on 60.
"""
from __future__ import annotations

import os
import sys
import threading
import time

DEMO_TARGET_S = 12.0
YEARLY_TARGET_S = 240.0
WEEKLY_TARGET_S = 18 * 60.0
TARGET_PEAK_MB = 4096.0


class _PeakRSS:
    """Peak RSS (MB) of this process and all its children, sampled in a thread."""

    def __init__(self, interval: float = 0.1):
        import psutil

        self._proc = psutil.Process()
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()

    def _sample(self) -> float:
        total = 0
        for p in [self._proc, *self._proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except Exception:  # a child that just exited
                continue
        return total / 2 ** 20

    def _loop(self):
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self):
        self.peak_mb = self._sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._sample())
        return False


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _stage1(panel, cfg, progress):
    from qmtl_research.volatility import run_stage1

    with _PeakRSS() as mem:
        t0 = time.perf_counter()
        res = run_stage1(panel, cfg, progress=progress)
        wall = time.perf_counter() - t0
    tr = res.training
    return res, {
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(mem.peak_mb, 1),
        "n_forecast_rows": res.summary["n_forecast_rows"],
        "n_test_points": res.summary["n_test_points"],
        "n_refits": res.summary["n_refits"],
        "test_start": res.summary["test_start"],
        "lstm_fit_s": round(float(tr["seconds"].sum()), 1) if len(tr) else 0.0,
        "garch_estimations": int(len(res.garch_params)),
        "garch_degenerate": int(res.summary["n_degenerate_garch_fits"]),
        "rmse": {k: round(v, 4) for k, v in res.summary["rmse"].items()},
        "qlike": {k: round(v, 4) for k, v in res.summary["qlike"].items()},
    }


def run(quick: bool = False) -> dict:
    import qmtl_research  # noqa: F401  (sets the keras backend)
    from qmtl_research.data.synthetic import make_synthetic_universe
    from qmtl_research.volatility import GarchConfig, Stage1Config, garch_walk_forward, walk_forward_schedule

    out: dict = {"cpu_count": os.cpu_count()}

    # 1. demo: the whole of stage 1 with the defaults, twice
    demo = make_synthetic_universe(n_funds=60, seed=20230831)
    out["demo_load_average_1min_before"] = _load()
    runs = []
    for _ in range(2):
        res, fig = _stage1(demo, Stage1Config(), progress=False)
        runs.append(fig["wall_s"])
    out["demo_stage1_wall_s_first_run"] = runs[0]
    out["demo_stage1_wall_s_second_run"] = runs[1]
    out["demo_table2_walk_forward"] = res.tables["table2_walk_forward"][["RMSE", "QLIKE", "MSE"]].round(4).to_dict()
    out["demo_table2_cv"] = res.tables["table2_cv"][["RMSE", "QLIKE", "MSE"]].round(4).to_dict()
    out["demo_mcs"] = res.summary["mcs"]
    out["ratio_demo_to_target"] = round(runs[1] / DEMO_TARGET_S, 3)

    # 2. GARCH walk-forward at paper scale, 1 vs 2 workers
    n_funds = 120 if quick else 2585
    panel = make_synthetic_universe(n_funds=n_funds)
    sched = walk_forward_schedule(panel.returns)
    garch_walk_forward(panel.returns.iloc[:, :32], sched.refit_dates, GarchConfig(n_jobs=2), progress=False)  # pool up
    out["n_funds"] = n_funds
    out["n_weeks"] = len(panel.dates)
    out["garch_load_average_1min_before"] = _load()
    walls, results = {}, {}
    for n_jobs in (1, 2):
        t0 = time.perf_counter()
        results[n_jobs] = garch_walk_forward(panel.returns, sched.refit_dates, GarchConfig(n_jobs=n_jobs),
                                             progress=False)
        walls[n_jobs] = time.perf_counter() - t0
    out["garch_yearly_wall_s_1_worker"] = round(walls[1], 2)
    out["garch_yearly_wall_s_2_workers"] = round(walls[2], 2)
    out["garch_speedup_2_over_1"] = round(walls[1] / walls[2], 3)
    out["garch_same_numbers_1_vs_2_workers"] = bool(results[1].forecast.equals(results[2].forecast))
    out["garch_estimations"] = int(len(results[1].params))
    out["garch_mean_iterations"] = round(float(results[1].params["n_iter"].mean()), 2)

    # 3. paper scale, walk-forward yearly (no CV)
    garch = GarchConfig(n_jobs=2)
    out["yearly_load_average_1min_before"] = _load()
    _, fig = _stage1(panel, Stage1Config(garch=garch, cv=False), progress=not quick)
    out["paper_yearly"] = fig
    out["ratio_yearly_wall_to_target"] = round(fig["wall_s"] / YEARLY_TARGET_S, 3)
    out["ratio_yearly_peak_memory_to_target"] = round(fig["peak_rss_mb"] / TARGET_PEAK_MB, 3)

    # 4. paper scale, weekly refits
    weekly_panel = make_synthetic_universe(n_funds=60) if quick else panel
    out["weekly_load_average_1min_before"] = _load()
    _, fig = _stage1(weekly_panel, Stage1Config(garch=garch, cv=False, refit="weekly"), progress=not quick)
    out["paper_weekly"] = fig
    out["ratio_weekly_wall_to_target"] = round(fig["wall_s"] / WEEKLY_TARGET_S, 3)
    out["ratio_weekly_peak_memory_to_target"] = round(fig["peak_rss_mb"] / TARGET_PEAK_MB, 3)
    out["load_average_1min_after"] = _load()
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2))
