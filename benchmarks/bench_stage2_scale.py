"""Stage 2's SVC fit at scale: the exact kernel SVM vs the kernel approximation (issue #20 item 6).

One tuned :class:`~qmtl_research.rating.models.GradeSVC` fit (the default grid, 3 inner folds) per
kernel on a synthetic 6-grade problem of ``n`` samples and 5 features, exact (libsvm; only up to
``EXACT_MAX_N``: it grows quadratically) and approximated (Nystroem + one-vs-one LinearSVC, the
default ``RatingSettings``), each in its own process so that its peak RSS is its own. Wall seconds
and peak RSS (MB) are measured, not extrapolated; the load average is printed beside them.

    .venv/bin/python -m benchmarks.bench_stage2_scale            # n = 2,000 / 5,000 / 20,000
    .venv/bin/python -m benchmarks.bench_stage2_scale --quick    # n = 2,000 / 8,000, RBF only
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

EXACT_MAX_N = 5000

CHILD = r"""
import json, resource, sys, time
import qmtl_research  # runtime defaults first
from sklearn.datasets import make_classification
from qmtl_research.rating.models import GradeSVC
n, kernel, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
X, y = make_classification(n_samples=n, n_features=5, n_informative=5, n_redundant=0, n_classes=6,
                           n_clusters_per_class=1, class_sep=1.0, random_state=7)
t = time.perf_counter()
m = GradeSVC(kernel, exact_max_samples=(n if mode == "exact" else 0)).fit(X, y)
wall = time.perf_counter() - t
print("RESULT " + json.dumps({"n": n, "kernel": kernel, "mode": mode, "fit_s": round(wall, 2),
                              "approximated": bool(m.approximated_),
                              "train_accuracy": round(float((m.predict(X) == y).mean()), 4),
                              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def _one(n: int, kernel: str, mode: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(n), kernel, mode], capture_output=True, text=True,
                          check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"n": n, "kernel": kernel, "mode": mode, "error": (proc.stderr or proc.stdout)[-1500:]}
    return json.loads(lines[-1][len("RESULT "):])


def run(quick: bool = False) -> dict:
    sizes, kernels = ((2000, 8000), ("rbf",)) if quick else ((2000, 5000, 20000), ("rbf", "sigmoid", "linear", "poly"))
    out = {"cpu_count": os.cpu_count(), "load_average_before": os.getloadavg(), "fits": []}
    for n in sizes:
        for kernel in kernels:
            for mode in ("exact", "approximated"):
                if mode == "exact" and n > EXACT_MAX_N:
                    continue
                out["fits"].append(_one(n, kernel, mode))
    out["load_average_after"] = os.getloadavg()
    return out


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
