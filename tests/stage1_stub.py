"""A cheap stage-1 forecaster for the stage-2 tests (the forecaster contract of
qmtl_research.rating.forecasters): the naive forecast, the annualised std (ddof=1, x sqrt(52), %)
of the fund's last 4 weekly returns up to and including the prediction date."""
from __future__ import annotations

import numpy as np
import pandas as pd

from qmtl_research.rating.forecasters import FORECAST_COLUMNS, check_requests


class TrailingStdForecaster:
    name = "trailing 4-week std (test stub)"

    def __call__(self, panel, requests: pd.DataFrame) -> pd.DataFrame:
        check_requests(panel, requests)
        vol = panel.returns.rolling(4, min_periods=4).std(ddof=1) * np.sqrt(52) * 100
        out = requests[["fund_id", "prediction_date"]].copy()
        out["forecast_vol_pct"] = [float(vol.at[pd.Timestamp(d), f]) for f, d in zip(out["fund_id"], out["prediction_date"])]
        out["method"] = self.name
        return out[FORECAST_COLUMNS].reset_index(drop=True)
