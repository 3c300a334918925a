"""Stage 1 of the fund risk-rating model: 1-month volatility forecasting.

GARCH(1,1) (``arch``), LSTM and GARCH(1,1)-LSTM (``keras``) and a naive
challenger forecast the 1-month (4-week) annualised standard deviation of
weekly simple returns, in percent; evaluated out of time (walk-forward,
default) or with the paper's 4-fold CV.

Main entry points: :func:`realized_vol`, :func:`fit_garch_panel`,
:func:`build_samples`, the estimators in :mod:`.models`, :func:`diebold_mariano`,
and :func:`run_stage1` (everything, returning a :class:`Stage1Result`).
"""
from qmtl_research.volatility.config import MODEL_NAMES, GarchConfig, LSTMConfig, Stage1Config
from qmtl_research.volatility.dm import diebold_mariano, dm_test_loss_differential
from qmtl_research.volatility.for_rating import forecast_for_rating
from qmtl_research.volatility.garch import GarchPanelResult, fit_garch_fund, fit_garch_panel
from qmtl_research.volatility.models import (GarchLSTMVolatility, GarchVolatility, LSTMVolatility,
                                             NaiveVolatility, make_model)
from qmtl_research.volatility.pipeline import Stage1Result, run_stage1
from qmtl_research.volatility.samples import build_inputs, build_samples
from qmtl_research.volatility.targets import (REGULATORY_WINDOW, STAGE2_WINDOW, TARGET_WINDOW, realized_vol,
                                              regulatory_vol, stage2_vol, variance_to_target_scale)

__all__ = [
    "MODEL_NAMES", "GarchConfig", "LSTMConfig", "Stage1Config", "diebold_mariano", "dm_test_loss_differential",
    "GarchPanelResult", "fit_garch_fund", "fit_garch_panel", "GarchLSTMVolatility", "GarchVolatility",
    "LSTMVolatility", "NaiveVolatility", "make_model", "Stage1Result", "run_stage1", "build_samples", "build_inputs", "forecast_for_rating",
    "REGULATORY_WINDOW", "STAGE2_WINDOW", "TARGET_WINDOW", "realized_vol", "regulatory_vol", "stage2_vol",
    "variance_to_target_scale",
]
