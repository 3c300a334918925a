"""Stage-2 indicators against hand computations and independent libraries."""
from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import qmtl_research  # noqa: F401
from qmtl_research.rating import measures as M

R = np.array([0.01, -0.02, 0.03, 0.00])
B = np.array([0.005, -0.01, 0.02, 0.005])


def test_annualised_std_by_hand():
    # mean 0.005; squared deviations 0.000025 + 0.000625 + 0.000625 + 0.000025 = 0.0013; /3
    sd = math.sqrt(0.0013 / 3)
    assert M.annualised_std_pct(R) == pytest.approx(sd * math.sqrt(52) * 100, rel=1e-12)


def test_sharpe_by_hand_and_against_empyrical():
    sd = math.sqrt(0.0013 / 3)
    assert M.sharpe_ratio(R, periods_per_year=52) == pytest.approx(0.005 / sd * math.sqrt(52), rel=1e-12)
    rng = np.random.default_rng(1)
    r = rng.normal(0.002, 0.02, 156)
    ref = empyrical.sharpe_ratio(pd.Series(r), risk_free=0.0, period="weekly")
    assert M.sharpe_ratio(r, periods_per_year=52) == pytest.approx(ref, rel=1e-10)
    # risk-free shifts the mean only
    assert M.sharpe_ratio(r, periods_per_year=52, risk_free=0.001) == pytest.approx(
        empyrical.sharpe_ratio(pd.Series(r), risk_free=0.001, period="weekly"), rel=1e-10)


def test_tracking_error_and_information_ratio_by_hand():
    active = R - B  # 0.005, -0.01, 0.01, -0.005 ; mean 0
    mean = 0.0
    var = sum((a - mean) ** 2 for a in active) / 3  # (0.000025+0.0001+0.0001+0.000025)/3
    assert var == pytest.approx(0.00025 / 3)
    assert M.tracking_error_pct(R, B) == pytest.approx(math.sqrt(0.00025 / 3) * math.sqrt(52) * 100, rel=1e-12)
    assert M.information_ratio(R, B) == pytest.approx(0.0, abs=1e-12)
    r2 = R + 0.001  # active mean 0.001, same std
    assert M.information_ratio(r2, B) == pytest.approx(0.001 / math.sqrt(0.00025 / 3) * math.sqrt(52), rel=1e-9)


def test_var_975_by_hand():
    # 41 returns -0.20, -0.19, ..., 0.20: the 2.5 % quantile sits at position 0.025 * 40 = 1
    r = np.round(np.arange(-20, 21) / 100.0, 10)
    np.random.default_rng(0).shuffle(r)
    assert M.historical_var_pct(r, 0.975) == pytest.approx(19.0, rel=1e-12)
    # 81 returns: position 0.025 * 80 = 2 -> third smallest
    r = np.arange(-40, 41) / 1000.0
    assert M.historical_var_pct(r, 0.975) == pytest.approx(3.8, rel=1e-12)
    # between order statistics: 11 returns, position 0.25 -> -0.10 + 0.25 * 0.01
    r = np.arange(-10, 1) / 100.0
    assert M.historical_var_pct(r, 0.975) == pytest.approx(9.75, rel=1e-12)


def test_beta_against_ols_slope():
    rng = np.random.default_rng(3)
    b = rng.normal(0, 0.02, 152)
    r = 0.7 * b + rng.normal(0, 0.01, 152)
    assert M.beta(r, b) == pytest.approx(stats.linregress(b, r).slope, rel=1e-12)
    assert math.isnan(M.beta(r[:5], np.zeros(5)))


def test_blended_std_by_hand():
    # s = 10 %, f = 20 %, h = 4: sqrt((152 * 100 + 4 * 400) / 156)
    assert M.blended_std_pct(10.0, 20.0, 4) == pytest.approx(math.sqrt(16800 / 156), rel=1e-12)
    assert M.blended_std_pct(10.0, 10.0, 52) == pytest.approx(10.0)
    np.testing.assert_allclose(M.blended_std_pct(np.array([3.0, 4.0]), np.array([4.0, 3.0]), 78),
                               [math.sqrt(12.5), math.sqrt(12.5)])


def test_blended_std_equals_the_window_std_for_equal_means():
    # when the known and unknown parts have the same mean, the blend with f = std of the
    # unknown part (same ddof convention up to n-1 weights) is close to the full-window std
    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.02, 156)
    x[:152] -= x[:152].mean()
    x[152:] -= x[152:].mean()
    s_known = np.sqrt(np.mean(x[:152] ** 2) * 52) * 100
    f = np.sqrt(np.mean(x[152:] ** 2) * 52) * 100
    full = np.sqrt(np.mean(x ** 2) * 52) * 100
    assert M.blended_std_pct(s_known, f, 4) == pytest.approx(full, rel=1e-12)
