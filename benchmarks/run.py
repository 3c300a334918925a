"""`make bench`: run every benchmarks/bench_*.py (or those named in BENCH) and print their figures.

Each module exposes ``run(quick=False) -> dict``. Results are printed as JSON and
saved to ``.cache/bench/<name>.json`` so notes can quote them. With ``QMTL_BENCH_ENGINE_SPEED_ONLY=1`` and
no names, only ``bench_volatility`` runs, and only its part 0 (a). Benchmarks are
measurements, not tests: they never fail on a missed target, they report it.
"""
from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
import time
from pathlib import Path

import benchmarks


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    names = [a for a in argv if not a.startswith("--")]
    if not names and os.environ.get("QMTL_BENCH_ENGINE_SPEED_ONLY"):
        names = ["bench_volatility"]          # only its part 0 (a), the GARCH engine against arch
    names = names or sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    out_dir = Path(os.environ.get("QMTL_RESEARCH_HOME", ".")) / ".cache" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        mod = importlib.import_module(f"benchmarks.{name if name.startswith('bench_') else 'bench_' + name}")
        print(f"== {mod.__name__} {'(quick)' if quick else ''}", flush=True)
        t = time.perf_counter()
        figures = mod.run(quick=quick)
        figures["_bench_wall_s"] = round(time.perf_counter() - t, 2)
        print(json.dumps(figures, indent=2, default=str), flush=True)
        (out_dir / f"{mod.__name__.split('.')[-1]}.json").write_text(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
