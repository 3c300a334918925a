"""The stage-1 forecaster of qmtl_research.volatility as used by stage 2 (contract checks)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import qmtl_research  # noqa: F401
from qmtl_research.data.panel import FundPanel
from qmtl_research.data.synthetic import make_synthetic_universe
from qmtl_research.errors import ConfigError
from qmtl_research.rating.forecasters import VolatilityModelForecaster, make_forecaster
from qmtl_research.volatility import LSTMConfig, Stage1Config


@pytest.fixture(scope="module")
def panel():
    return make_synthetic_universe(n_funds=12, seed=20230831)


def _requests(panel, positions):
    funds = panel.fund_ids[:4]
    return pd.DataFrame([(f, panel.dates[p]) for f in funds for p in positions],
                        columns=["fund_id", "prediction_date"])


def test_naive_forecast_is_the_last_4_week_realised_vol(panel):
    req = _requests(panel, [200, 260, 330])
    got = VolatilityModelForecaster("Naive", progress=False)(panel, req)
    for row in got.itertuples(index=False):
        q = panel.dates.get_loc(row.prediction_date)
        r = panel.returns[row.fund_id].to_numpy()[q - 3:q + 1]
        if np.isfinite(r).all():
            assert row.forecast_vol_pct == pytest.approx(np.std(r, ddof=1) * math.sqrt(52) * 100, rel=1e-10)
            assert row.method.startswith("Naive")


def test_garch_lstm_uses_no_data_after_the_prediction_date(panel):
    cfg = Stage1Config(seed=3, lstm=LSTMConfig(epochs=2, units=4, patience=None, validation_fraction=0.0))
    positions = [240, 250]  # 2021 prediction dates: the model is trained on data up to 2020-12-31
    req = _requests(panel, positions)
    a = VolatilityModelForecaster("GARCH-LSTM", progress=False, config=cfg)(panel, req)
    later = panel.dates > panel.dates[max(positions)]
    bent_returns = panel.returns.copy()
    bent_returns.loc[later] = bent_returns.loc[later] * 3.0
    bent = FundPanel(bent_returns, panel.metadata, panel.benchmarks, panel.source, panel.synthetic)
    b = VolatilityModelForecaster("GARCH-LSTM", progress=False, config=cfg)(bent, req)
    assert a["method"].str.startswith("GARCH-LSTM").all()
    assert (a["forecast_vol_pct"] > 0).all()
    # identical forecasts: nothing after the prediction dates was used, and the same seed
    # gives the same numbers (two independent trainings)
    pd.testing.assert_frame_equal(a, b)


def test_unknown_stage1_model(panel):
    with pytest.raises(ConfigError, match="stage1_model"):
        make_forecaster("ARIMA", progress=False)(panel, _requests(panel, [200]))
