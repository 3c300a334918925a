"""Where stage 1's seconds go: the walk-forward of ``bench_two_stage``'s child (``run_volatility``:
stage 1 and the fund-level VaR beside it) on a synthetic universe, split per model and per phase.

Timers wrap the stage's own functions (nothing is re-implemented): the GARCH(1,1) walk-forward,
each series challenger's walk-forward (EWMA, GJR-GARCH, HAR), the LSTM / GARCH-LSTM fits and
predictions, the Naive rule, the sample building (``gather``), the panel assembly, the evaluation
(DM tests, MCS, the other tables) and the fund-level VaR; "other" is the rest (Python overhead).

    .venv/bin/python -m benchmarks.profile_stage1 150 weekly
    .venv/bin/python -m benchmarks.profile_stage1 300 yearly
    .venv/bin/python -m benchmarks.profile_stage1 40 weekly levers   # lstm_retrain, challenger_refit yearly
"""
from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections import defaultdict

SECONDS: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)


def _timed(owner, attr: str, label):
    """Replace ``owner.attr`` by a timed wrapper; ``label`` is a string or ``f(args, kwargs) -> str``."""
    func = getattr(owner, attr)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        key = label(args, kwargs) if callable(label) else label
        t0 = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            SECONDS[key] += time.perf_counter() - t0
            CALLS[key] += 1

    setattr(owner, attr, wrapper)


def instrument() -> None:
    """Wrap the stage's functions with timers (see the module docstring)."""
    from qmtl_research.volatility import evaluation as ev
    from qmtl_research.volatility import models, pipeline, walkforward
    import qmtl_research.pipeline as top
    import qmtl_research.risk.fund_var as fund_var

    _timed(walkforward, "garch_walk_forward", "GARCH walk-forward (engine)")
    _timed(walkforward, "series_walk_forward", lambda a, k: f"{a[0]} walk-forward")
    _timed(walkforward, "gather", "sample building (gather)")
    _timed(walkforward, "_panel", "forecast panel assembly (_panel, notes)")
    _timed(models.LSTMVolatility, "fit", lambda a, k: f"{a[0]._name()} fit")
    _timed(models.LSTMVolatility, "predict_path", lambda a, k: f"{a[0]._name()} predict")
    _timed(models.NaiveVolatility, "predict", "Naive predict")
    for name in ("dm_tests", "model_confidence_set"):
        _timed(ev, name, f"evaluation: {name}")
    _timed(pipeline, "evaluate", "evaluation (all tables)")
    _timed(pipeline, "build_walk_forward", "build_walk_forward (total)")
    _timed(top, "with_fund_risk", "fund-level VaR (with_fund_risk)")
    del fund_var


def profile(n_funds: int, refit: str, n_jobs: int = 2, levers: bool = False) -> dict:
    """Run ``run_volatility`` as the bench's child does, timed; returns the table."""
    import qmtl_research  # noqa: F401  (runtime defaults first)
    from qmtl_research.data.synthetic import make_synthetic_universe
    from qmtl_research.pipeline import StageInputs, VolatilityParams, run_volatility

    instrument()
    panel = make_synthetic_universe(n_funds=n_funds, seed=20230831)
    t0 = time.perf_counter()
    extra = dict(lstm_retrain="yearly", challenger_refit="yearly") if levers else {}
    _, vol = run_volatility(VolatilityParams(refit=refit, cv=False, n_jobs=n_jobs, **extra),
                            StageInputs(None, panel=panel))
    total = time.perf_counter() - t0
    wf = SECONDS["build_walk_forward (total)"]
    inner = sum(v for k, v in SECONDS.items() if k not in ("build_walk_forward (total)", "evaluation (all tables)",
                                                            "fund-level VaR (with_fund_risk)")
                and not k.startswith("evaluation: "))
    table = {k: {"seconds": round(v, 2), "calls": CALLS[k]} for k, v in sorted(SECONDS.items(), key=lambda x: -x[1])}
    return {"n_funds": n_funds, "refit": refit, "levers": extra, "n_refits": vol.summary["n_refits"],
            "n_forecast_rows": vol.summary["n_forecast_rows"], "stage1_s": round(total, 2), "table": table,
            "walk_forward_other_s": round(wf - inner, 2),
            "outside_walk_forward_other_s": round(total - wf - SECONDS["evaluation (all tables)"]
                                                  - SECONDS["fund-level VaR (with_fund_risk)"], 2),
            "load_average": os.getloadavg()}


if __name__ == "__main__":
    print(json.dumps(profile(int(sys.argv[1]), sys.argv[2], levers="levers" in sys.argv[3:]), indent=2))
