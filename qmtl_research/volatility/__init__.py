"""Stage 1 of the fund risk-rating model: 1-month volatility forecasting.

GARCH(1,1), LSTM and GARCH(1,1)-LSTM (``keras``) and the challengers (naive, EWMA, GJR-GARCH,
HAR; every model is registered in :mod:`.registry`) forecast the
1-month (4-week) annualised standard deviation of weekly simple returns, in percent.
:func:`run_stage1` produces one out-of-time forecast panel (walk-forward, refitted
yearly or weekly, warm-started) that the evaluation, stage 2 and the early warnings read
(:func:`forecasts_for`), and runs the paper's 4-fold CV beside it for comparison.

Main entry points: :func:`run_stage1` (-> :class:`Stage1Result`), :func:`forecasts_for`,
:class:`GarchVolatility` (the one GARCH(1,1) estimation home), the estimators in
:mod:`.models`, :func:`realized_vol` and :func:`expected_target_vol` (the map from
variance forecasts to the expected target).

The names below are loaded on first use (PEP 562), so importing one light submodule
(:mod:`.names`, :mod:`.config`) does not load the GARCH engine's jax or Keras.
"""
from __future__ import annotations

from qmtl_research.lazy import lazy_exports

#: public name -> the submodule that is its home
_HOMES = {
    "GarchConfig": "config", "HighVolRegime": "config", "LSTMConfig": "config", "Stage1Config": "config",
    "GarchVolatility": "garch", "fit_garch_series": "garch",
    "GarchPanelResult": "garch_panel", "fit_garch_panel": "garch_panel", "garch_walk_forward": "garch_panel",
    "GarchFitResult": "garch_result",
    "forecasts_for": "lookup",
    "GarchLSTMVolatility": "models", "LSTMVolatility": "models", "NaiveVolatility": "models",
    "Stage1Result": "pipeline", "run_stage1": "pipeline",
    "ModelSpec": "registry", "VolatilityModel": "registry", "make_model": "registry", "register": "registry",
    "unregister": "registry",
    "build_inputs": "samples", "build_samples": "samples",
    "default_test_start": "splits", "walk_forward_schedule": "splits",
    "REGULATORY_WINDOW": "targets", "STAGE2_WINDOW": "targets", "TARGET_WINDOW": "targets",
    "expected_sample_std": "targets", "expected_target_vol": "targets", "realized_vol": "targets",
    "regulatory_vol": "targets", "stage2_vol": "targets",
}

__all__ = sorted(_HOMES)


__getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
