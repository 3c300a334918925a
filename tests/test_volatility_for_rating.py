"""forecast_for_rating: the stage-2 forecaster contract, per-year training, no look-ahead."""
import numpy as np
import pandas as pd
import pytest

from qmtl_research.data.panel import FundPanel
from qmtl_research.data.synthetic import make_synthetic_universe
from qmtl_research.volatility import (GarchConfig, LSTMConfig, Stage1Config, fit_garch_panel,
                                      forecast_for_rating, realized_vol)


@pytest.fixture(scope="module")
def panel():
    return make_synthetic_universe(n_funds=10, seed=7)


def _requests(panel, positions):
    return pd.DataFrame([(f, panel.dates[p]) for p in positions for f in panel.fund_ids],
                        columns=["fund_id", "prediction_date"])


def test_naive_is_the_last_one_month_vol(panel):
    req = _requests(panel, [200, len(panel.dates) - 1])
    fc = forecast_for_rating("Naive", panel, req, progress=False)
    assert list(fc.columns) == ["fund_id", "prediction_date", "forecast_vol_pct", "method"]
    assert len(fc) == len(req)
    vol = realized_vol(panel.returns)
    for row in fc.itertuples():
        assert row.forecast_vol_pct == pytest.approx(vol.at[row.prediction_date, row.fund_id])


def test_garch_uses_data_before_the_year_and_up_to_the_date(panel):
    p = 230
    req = _requests(panel, [p])
    fc = forecast_for_rating("GARCH", panel, req, progress=False).set_index("fund_id")
    date = panel.dates[p]
    cutoff = panel.dates[panel.dates.searchsorted(pd.Timestamp(f"{date.year}-01-01"))]
    ref = fit_garch_panel(panel.returns, pd.Series(panel.dates < cutoff, index=panel.dates), GarchConfig(),
                          progress=False)
    origin = panel.dates[p + 1]
    for fid in ref.forecast.columns:
        expected = ref.forecast.at[origin, fid]
        if np.isnan(expected):   # late start: GARCH estimated only after this date
            assert np.isnan(fc.at[fid, "forecast_vol_pct"]) and "missing" in fc.at[fid, "method"]
        else:
            assert fc.at[fid, "forecast_vol_pct"] == pytest.approx(expected, rel=1e-10)
    assert ref.forecast.loc[origin].notna().sum() >= 5
    for fid in set(panel.fund_ids) - set(ref.forecast.columns):   # GARCH failures: NaN + reason
        assert np.isnan(fc.at[fid, "forecast_vol_pct"]) and "GARCH" in fc.at[fid, "method"]


def test_no_look_ahead_and_hybrid_inputs(panel):
    p = 260
    req = _requests(panel, [p])
    a = forecast_for_rating("GARCH", panel, req, progress=False)
    r = panel.returns.copy()
    r.iloc[p + 1:] = r.iloc[p + 1:] * 5          # returns after the prediction date
    b = forecast_for_rating("GARCH", FundPanel(r, panel.metadata, panel.benchmarks), req, progress=False)
    pd.testing.assert_frame_equal(a, b)
    r.iloc[p] = r.iloc[p] * 5                    # ... and on it: the forecast must move
    c = forecast_for_rating("GARCH", FundPanel(r, panel.metadata, panel.benchmarks), req, progress=False)
    assert not np.allclose(a["forecast_vol_pct"].dropna(), c["forecast_vol_pct"].dropna())
    cfg = Stage1Config(lstm=LSTMConfig(units=4, epochs=2, patience=None, validation_fraction=0.0))
    hyb = forecast_for_rating("GARCH-LSTM", panel, req, seed=3, progress=False, config=cfg)
    # the hybrid answers exactly the funds GARCH could fit
    assert hyb["forecast_vol_pct"].notna().tolist() == a["forecast_vol_pct"].notna().tolist()
    assert (hyb["forecast_vol_pct"].dropna() >= 0).all()
