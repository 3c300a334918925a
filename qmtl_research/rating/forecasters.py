"""Stage-1 volatility forecasts as an input of stage 2 (the forecaster contract).

A *forecaster* is any callable::

    forecaster(panel, requests) -> DataFrame[fund_id, prediction_date, forecast_vol_pct, method]

``requests`` is a DataFrame with columns ``fund_id`` and ``prediction_date`` (a week-end of
``panel``). For each request the forecaster may use the fund's weekly returns **up to and
including** ``prediction_date`` and returns the forecast annualised std (percent, x sqrt(52)) of
the fund's next 4 weekly returns. ``method`` says how each number was produced; a request it
cannot answer gets NaN and the reason.

Stage 2 reads stage 1's one out-of-time forecast panel (the paper's Figure 6 flow):
:class:`PanelForecaster` looks the forecasts up in
:attr:`Stage1Result.forecasts <qmtl_research.volatility.pipeline.Stage1Result>` with
:func:`qmtl_research.volatility.lookup.forecasts_for`. Stage 2 never trains a stage-1 model of
its own.
"""
from __future__ import annotations

from typing import Callable

import pandas as pd

from qmtl_research.data.panel import FundPanel
from qmtl_research.errors import InputError
from qmtl_research.volatility.names import GARCH_LSTM

Forecaster = Callable[[FundPanel, pd.DataFrame], pd.DataFrame]
FORECAST_COLUMNS = ["fund_id", "prediction_date", "forecast_vol_pct", "method"]


def check_requests(panel: FundPanel, requests: pd.DataFrame) -> None:
    """Requests must name ``fund_id`` and ``prediction_date`` of funds of the panel.

    Parameters
    ----------
    panel : FundPanel
        Weekly returns (simple, fractions; W-FRI) and fund metadata.
    requests : pandas.DataFrame
        ``fund_id`` and ``prediction_date`` of each forecast asked for.

    Raises
    ------
    InputError
        A column is missing or a fund is not in the panel.
    """
    missing = {"fund_id", "prediction_date"} - set(requests.columns)
    if missing:
        raise InputError(f"forecast requests lack columns {sorted(missing)}",
                         where="forecaster(panel, requests)",
                         fix="pass a DataFrame with fund_id and prediction_date")
    unknown = sorted(set(requests["fund_id"]) - set(panel.fund_ids))
    if unknown:
        raise InputError(f"forecast requested for funds not in the panel: {unknown[:5]}",
                         where="forecaster(panel, requests)", fix="request only the panel's funds")


class PanelForecaster:
    """Stage 2's forecaster: ``model``'s column of a stage-1 walk-forward forecast panel.

    Parameters
    ----------
    forecasts : DataFrame
        ``Stage1Result.forecasts`` (one row per fund and forecast origin, ``info_date`` = the
        last week the forecast used).
    model : str
        The stage-1 model (a column of the panel, a name of
        :mod:`qmtl_research.volatility.registry`) whose forecasts feed the blended std (the paper:
        GARCH-LSTM).
    """

    def __init__(self, forecasts: pd.DataFrame, model: str = GARCH_LSTM):
        self.forecasts = forecasts
        self.model = model
        self.name = f"{model} (stage-1 walk-forward panel)"

    def __call__(self, panel: FundPanel, requests: pd.DataFrame) -> pd.DataFrame:
        from qmtl_research.volatility.lookup import forecasts_for

        check_requests(panel, requests)
        return forecasts_for(self.forecasts, self.model, requests)
