"""forecasts_for: the stage-2 forecaster contract read from the walk-forward panel."""
import numpy as np
import pandas as pd
import pytest

from qmtl_research.data.synthetic import make_synthetic_universe
from qmtl_research.errors import InputError
from qmtl_research.volatility import LSTMConfig, Stage1Config, forecasts_for, run_stage1
from qmtl_research.volatility.lookup import FORECAST_COLUMNS


@pytest.fixture(scope="module")
def result():
    panel = make_synthetic_universe(n_funds=10, seed=7)
    cfg = Stage1Config(models=("GARCH", "Naive"), cv=False, mcs_reps=100,
                       lstm=LSTMConfig(units=4, epochs=1, patience=None, validation_fraction=0.0))
    return run_stage1(panel, cfg, progress=False)


def test_requests_are_answered_from_the_info_date_row(result):
    fc = result.forecasts
    rows = fc.dropna(subset=["GARCH"]).sample(30, random_state=1)
    req = pd.DataFrame({"fund_id": rows["fund_id"], "prediction_date": rows["info_date"]})
    got = forecasts_for(fc, "GARCH", req)
    assert list(got.columns) == FORECAST_COLUMNS and len(got) == len(req)
    np.testing.assert_array_equal(got["forecast_vol_pct"].to_numpy(), rows["GARCH"].to_numpy())
    assert got["method"].str.match(r"GARCH walk-forward \(fit \d{4}-\d{2}-\d{2}").all()
    now = fc.loc[fc["origin"] == fc["origin"].max()].iloc[0]      # the "now" forecast: last week of the panel
    one = forecasts_for(fc, "Naive", pd.DataFrame({"fund_id": [now["fund_id"]], "prediction_date": [now["info_date"]]}))
    assert one["forecast_vol_pct"].iloc[0] == now["Naive"]


def test_unanswerable_requests_get_nan_and_the_reason(result):
    fc = result.forecasts
    first = fc["info_date"].min()
    late = fc.loc[fc["GARCH"].isna()].iloc[0]                     # a fund without a GARCH estimate yet
    req = pd.DataFrame({"fund_id": ["NOPE", fc["fund_id"].iloc[0], late["fund_id"]],
                        "prediction_date": [first, first - pd.Timedelta(weeks=30), late["info_date"]]})
    got = forecasts_for(fc, "GARCH", req)
    assert got["forecast_vol_pct"].isna().all()
    assert "fund not in the stage-1 forecasts" in got.at[0, "method"]
    assert "outside the walk-forward test period" in got.at[1, "method"]
    assert "no GARCH(1,1) estimate yet" in got.at[2, "method"]
    with pytest.raises(InputError, match="not in the forecast panel"):
        forecasts_for(fc, "LSTM", req)
    with pytest.raises(InputError, match="lack columns"):
        forecasts_for(fc, "GARCH", req.drop(columns="prediction_date"))
