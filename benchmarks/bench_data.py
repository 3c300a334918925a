"""Data-layer benchmarks (``python -m benchmarks.bench_data [--quick]``).

1. ``make_synthetic_universe(2585)`` (paper scale): best-of-3 wall time after a
   warm-up call, and peak traced memory (tracemalloc, numpy included) of one
   call. Target: "a few seconds" -> 3 s (ratio wall / target <= 1).
2. Loading the paper-scale universe back from user-schema files with full
   validation: ``load_panel`` from Parquet returns and from CSV returns.
3. ``build_real_universe()`` (skfolio + Fama-French data, resampled to W-FRI).
"""
from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

TARGET_SYNTHETIC_S = 3.0


def _best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(quick: bool = False) -> dict:
    from qmtl_research.data.loaders import load_panel
    from qmtl_research.data.real import build_real_universe
    from qmtl_research.data.synthetic import make_synthetic_universe
    from qmtl_research.data.writers import frames_for_files, write_frame

    n = 300 if quick else 2585
    repeats = 1 if quick else 3
    make_synthetic_universe(n)                                   # warm-up (imports, caches)
    wall = _best_of(lambda: make_synthetic_universe(n), repeats)
    tracemalloc.start()
    panel = make_synthetic_universe(n)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name, frame in frames_for_files(panel).items():
            write_frame(frame, d / name)
        write_frame(frames_for_files(panel)["returns.parquet"], d / "returns.csv")
        t_parquet = _best_of(lambda: load_panel(d / "returns.parquet", d / "funds.csv", d / "benchmarks.parquet"),
                             repeats)
        t_csv = _best_of(lambda: load_panel(d / "returns.csv", d / "funds.csv", d / "benchmarks.parquet"), repeats)
        csv_mb = (d / "returns.csv").stat().st_size / 2**20

    t0 = time.perf_counter()
    build_real_universe()
    t_real = time.perf_counter() - t0
    return {
        "n_funds": n, "n_weeks": len(panel.dates),
        "synthetic_wall_s": round(wall, 4), "synthetic_peak_traced_mb": round(peak / 2**20, 1),
        "synthetic_target_s": TARGET_SYNTHETIC_S, "synthetic_wall_vs_target": round(wall / TARGET_SYNTHETIC_S, 3),
        "synthetic_target_ok": wall <= TARGET_SYNTHETIC_S,
        "load_panel_parquet_s": round(t_parquet, 3), "load_panel_csv_s": round(t_csv, 3),
        "returns_csv_mb": round(csv_mb, 1), "real_universe_build_s": round(t_real, 3),
    }


if __name__ == "__main__":
    for k, v in run(quick="--quick" in sys.argv).items():
        print(f"{k:>28}: {v}")
