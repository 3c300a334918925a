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
"""
from qmtl_research.volatility.config import GarchConfig, HighVolRegime, LSTMConfig, Stage1Config
from qmtl_research.volatility.garch import GarchVolatility, fit_garch_series
from qmtl_research.volatility.garch_panel import GarchPanelResult, fit_garch_panel, garch_walk_forward
from qmtl_research.volatility.garch_result import GarchFitResult
from qmtl_research.volatility.lookup import forecasts_for
from qmtl_research.volatility.models import GarchLSTMVolatility, LSTMVolatility, NaiveVolatility
from qmtl_research.volatility.pipeline import Stage1Result, run_stage1
from qmtl_research.volatility.registry import ModelSpec, VolatilityModel, make_model, register, unregister
from qmtl_research.volatility.samples import build_inputs, build_samples
from qmtl_research.volatility.splits import default_test_start, walk_forward_schedule
from qmtl_research.volatility.targets import (REGULATORY_WINDOW, STAGE2_WINDOW, TARGET_WINDOW, expected_sample_std,
                                              expected_target_vol, realized_vol, regulatory_vol, stage2_vol)

__all__ = [
    "ModelSpec", "VolatilityModel", "register", "unregister", "GarchConfig", "HighVolRegime", "LSTMConfig", "Stage1Config",
    "GarchFitResult", "GarchPanelResult", "GarchVolatility", "fit_garch_panel", "fit_garch_series", "garch_walk_forward",
    "forecasts_for", "GarchLSTMVolatility", "LSTMVolatility", "NaiveVolatility", "make_model",
    "Stage1Result", "run_stage1", "build_inputs", "build_samples", "default_test_start", "walk_forward_schedule",
    "REGULATORY_WINDOW", "STAGE2_WINDOW", "TARGET_WINDOW", "expected_sample_std", "expected_target_vol",
    "realized_vol", "regulatory_vol", "stage2_vol",
]
