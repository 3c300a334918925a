"""The offline real universe: shape, dates, no NaN inside histories, hand checks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qmtl_research.data.real import weekly_cash_returns
from qmtl_research.data.universe import _real_built


@pytest.fixture(scope="module")
def real():
    return _real_built()


def test_shape_dates_and_no_nan(real):
    r = real.returns
    assert r.shape == (341, 30)
    assert r.index[0] == pd.Timestamp("2016-06-24") and r.index[-1] == pd.Timestamp("2022-12-30")
    assert (r.index.day_of_week == 4).all()
    assert not r.isna().any().any() and not real.benchmarks.isna().any().any()
    assert real.synthetic is False
    assert {"AAPL", "XOM", "SPX", "MTUM", "USMV", "BLEND_40_60"} <= set(real.fund_ids)
    assert real.metadata["disclosed_grade"].isna().all()
    assert (real.metadata["settlement_month"] == 12).all() and (real.metadata["settlement_day"] == 31).all()


def test_types_and_benchmarks_are_honest(real):
    m = real.metadata
    assert m.loc["AAPL", "fund_type"] == "US stock" and m.loc["AAPL", "benchmark"] == "SP500"
    assert m.loc["SPX", "fund_type"] == "US equity index" and m.loc["SPX", "benchmark"] == ""
    assert m.loc["QUAL", "fund_type"] == "US equity factor ETF"
    assert "constructed" in m.loc["BLEND_20_80", "fund_type"] and m.loc["BLEND_20_80", "benchmark"] == "BM_BLEND_20_80"


def test_weekly_return_by_hand_from_skfolio_prices(real):
    from skfolio.datasets import load_sp500_dataset, load_sp500_index

    px = load_sp500_dataset()
    # week ending Fri 2020-03-13 vs Fri 2020-03-06 (both trading days)
    assert real.returns.loc["2020-03-13", "AAPL"] == pytest.approx(
        px.loc["2020-03-13", "AAPL"] / px.loc["2020-03-06", "AAPL"] - 1, rel=1e-12)
    # last week: the data end on Wed 2022-12-28; labelled Fri 2022-12-30
    assert real.returns.loc["2022-12-30", "MSFT"] == pytest.approx(
        px.loc["2022-12-28", "MSFT"] / px.loc["2022-12-23", "MSFT"] - 1, rel=1e-12)
    spx = load_sp500_index()["SP500"]
    assert real.benchmarks.loc["2020-03-13", "SP500"] == pytest.approx(
        spx.loc["2020-03-13"] / spx.loc["2020-03-06"] - 1, rel=1e-12)


def test_blends_and_cash_leg(real):
    dates = real.dates
    cash = weekly_cash_returns(dates)
    # after the RF data end (2018-11, RF = 0.18 % a month): held constant
    assert cash.loc["2021-06-04"] == pytest.approx(1.0018 ** (12 / 52) - 1, rel=1e-12)
    # 2017-03: Fama-French RF = 0.03 % a month
    assert cash.loc["2017-03-10"] == pytest.approx(1.0003 ** (12 / 52) - 1, rel=1e-9)
    stocks = real.returns.loc[:, real.metadata.fund_type == "US stock"]
    blend = 0.4 * stocks.mean(axis=1) + 0.6 * cash
    np.testing.assert_allclose(real.returns["BLEND_40_60"], blend, rtol=1e-12)
    np.testing.assert_allclose(real.benchmarks["BM_BLEND_40_60"], 0.4 * real.benchmarks["SP500"] + 0.6 * cash,
                               rtol=1e-12)
    std = real.returns.std() * np.sqrt(52) * 100
    assert std["BLEND_60_40"] > std["BLEND_40_60"] > std["BLEND_20_80"] > std["BLEND_02_98"]
    assert std["BLEND_02_98"] < 0.5 < std["BLEND_20_80"]   # a grade-6 series exists


def test_us_1999_2018_universe_is_the_arch_data():
    from arch.data import frenchdata, sp500

    from qmtl_research.data.real import build_us_1999_2018_universe

    p = build_us_1999_2018_universe()
    assert p.synthetic is False and p.returns.shape == (1042, 8)
    assert p.dates[-1] == pd.Timestamp("2018-12-28") and (p.dates.day_of_week == 4).all()
    # S&P 500: ratio of the last adjusted closes of two consecutive Friday weeks (independent of the resampler)
    close = sp500.load()["Adj Close"]
    a, b = close.loc[:"2008-10-10"].iloc[-1], close.loc[:"2008-10-03"].iloc[-1]
    assert p.returns.loc["2008-10-10", "SPX"] == pytest.approx(a / b - 1, rel=1e-12)
    # the T-bill leg: (1 + RF of the Friday's month)^(12/52) - 1, RF in percent a month
    ff = frenchdata.load()
    rf = ff["RF"].iloc[[i for i, v in enumerate(ff.index.asi8.astype(str)) if v == "200703"][0]] / 100
    assert p.returns.loc["2007-03-16", "CASH"] == pytest.approx((1 + rf) ** (12 / 52) - 1, rel=1e-12)
    blend = 0.6 * p.returns["SPX"] + 0.4 * p.returns["CASH"]
    np.testing.assert_allclose(p.returns["BLEND_60_40"], blend, rtol=1e-12)
    assert set(p.metadata["benchmark"]) <= set(p.benchmarks.columns)
