"""W-FRI resampling against hand-computed weeks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qmtl_research.data.resample import to_weekly, weekly_returns_from_daily_returns, weekly_returns_from_prices
from qmtl_research.errors import InputError


def _prices() -> pd.DataFrame:
    # Mon 1 Jan 2024 .. ; Fri 5 Jan, Fri 12 Jan (no quote), Thu 11 Jan, week of 15-19 Jan empty,
    # Mon 22 Jan, Sat 27 Jan (belongs to the week ending Fri 2 Feb)
    idx = pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-05", "2024-01-08", "2024-01-11",
                          "2024-01-22", "2024-01-27"])
    return pd.DataFrame({"A": [100, 101, 102, np.nan, 104, 105, 110.0],
                         "B": [np.nan, np.nan, 50, 51, np.nan, np.nan, np.nan]}, index=idx)


def test_prices_last_observation_of_each_friday_week():
    w = weekly_returns_from_prices(_prices())
    fridays = pd.to_datetime(["2024-01-05", "2024-01-12", "2024-01-19", "2024-01-26", "2024-02-02"])
    assert list(w.index) == list(fridays) and w.index.name == "date"
    a = w["A"].to_numpy()
    assert np.isnan(a[0])                                    # first week: no previous week-end price
    assert a[1] == pytest.approx(104 / 102 - 1)              # Thursday close stands for the week
    assert a[2] == 0.0                                       # empty week inside the history
    assert a[3] == pytest.approx(105 / 104 - 1)
    assert a[4] == pytest.approx(110 / 105 - 1)              # Saturday -> next Friday's week
    b = w["B"].to_numpy()
    assert np.isnan(b[0]) and b[1] == pytest.approx(51 / 50 - 1)
    assert np.isnan(b[2:]).all()                             # after B's last quote: NaN, not 0


def test_daily_returns_are_compounded():
    idx = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-05", "2024-01-08", "2024-01-26"])
    r = pd.Series([0.01, 0.02, -0.01, 0.03, 0.05], index=idx, name="A")
    w = weekly_returns_from_daily_returns(r)
    assert w.loc["2024-01-05"] == pytest.approx(1.01 * 1.02 * 0.99 - 1)
    assert w.loc["2024-01-12"] == pytest.approx(0.03)
    assert w.loc["2024-01-19"] == 0.0
    assert w.loc["2024-01-26"] == pytest.approx(0.05)


def test_prices_and_their_daily_returns_agree_after_the_first_week():
    rng = np.random.default_rng(1)
    days = pd.bdate_range("2023-01-02", periods=120)
    px = pd.Series(100 * np.cumprod(1 + rng.normal(0, 0.01, len(days))), index=days)
    from_px = to_weekly(px, "price")
    from_r = to_weekly(px.pct_change().iloc[1:], "return")
    pd.testing.assert_series_equal(from_px.iloc[1:], from_r.iloc[1:], check_names=False, rtol=1e-12)


@pytest.mark.parametrize("bad,match", [
    (pd.Series([0.01, np.nan, 0.02], index=pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"])), "NaN daily return"),
    (pd.Series([0.01, -1.0], index=pd.to_datetime(["2024-01-02", "2024-01-03"])), "-100 %"),
    (pd.Series([0.01, 0.02], index=pd.to_datetime(["2024-01-03", "2024-01-02"])), "not increasing"),
    (pd.Series([0.01, 0.02], index=[0, 1]), "not indexed by dates"),
])
def test_daily_returns_errors(bad, match):
    with pytest.raises(InputError, match=match):
        weekly_returns_from_daily_returns(bad)


def test_price_errors():
    with pytest.raises(InputError, match="positive") as info:
        weekly_returns_from_prices(pd.DataFrame({"X": [1.0, -2.0]}, index=pd.to_datetime(["2024-01-02", "2024-01-03"])))
    assert "column X, date 2024-01-03" in info.value.where
    with pytest.raises(InputError, match="duplicate date"):
        weekly_returns_from_prices(pd.Series([1.0, 2.0], index=pd.to_datetime(["2024-01-02", "2024-01-02"])))
    with pytest.raises(InputError, match="unknown kind"):
        to_weekly(pd.Series([1.0], index=pd.to_datetime(["2024-01-02"])), "nav")
