"""The grading schemes' measures against independent computations: closed forms on constructed
samples, the regulation's formulas written out by hand (pure Python), and a published worked case."""
from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

import qmtl_research  # noqa: F401
from qmtl_research.errors import InputError
from qmtl_research.grades import (annualised_std_pct, cornish_fisher_var_from_moments, daily_var_pct,
                                  priips_vev_pct, vev_from_var)


def test_weekly_and_daily_std_match_the_standard_library():
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.01, 300)
    assert annualised_std_pct(r) == pytest.approx(statistics.stdev(r.tolist()) * math.sqrt(52) * 100, rel=1e-12)
    assert annualised_std_pct(r, 252) == pytest.approx(statistics.stdev(r.tolist()) * math.sqrt(252) * 100, rel=1e-12)


def test_daily_var_is_the_hand_quantile():
    # 41 equally spaced returns -2 % .. +2 %: the 2.5 % linear quantile sits at position 40 x 0.025 = 1,
    # the second smallest return, -1.9 % -> VaR 1.9 %
    r = np.linspace(-0.02, 0.02, 41)
    assert daily_var_pct(r, 0.975) == pytest.approx(1.9, abs=1e-12)
    assert daily_var_pct(r, 0.975, annualise=True, periods_per_year=252) == pytest.approx(1.9 * math.sqrt(252))


def test_cornish_fisher_var_and_vev_reproduce_a_published_worked_case():
    # quant.stackexchange q. 69314: sigma 0.0378, skew 0.9201, excess kurtosis 12.068, N 256, T 1
    var = cornish_fisher_var_from_moments(0.0378, 0.9201, 12.068, 256)
    assert var == pytest.approx(-1.3534, abs=1e-4)   # published to 4 decimals (truncated)
    assert vev_from_var(var, 1.0) == pytest.approx(0.5990, abs=1e-4)


def _hand_vev(simple, T, per_year=256):
    """Annex II points 12-13 written out with population moments (1/M0), pure Python."""
    x = [math.log(1 + v) for v in simple]
    m0 = len(x)
    m1 = sum(x) / m0
    m2 = sum((v - m1) ** 2 for v in x) / m0
    m3 = sum((v - m1) ** 3 for v in x) / m0
    m4 = sum((v - m1) ** 4 for v in x) / m0
    s = math.sqrt(m2)
    mu1, mu2 = m3 / s ** 3, m4 / s ** 4 - 3.0
    n = per_year * T
    var = s * math.sqrt(n) * (-1.96 + 0.474 * mu1 / math.sqrt(n) - 0.0687 * mu2 / n + 0.146 * mu1 ** 2 / n) - 0.5 * s ** 2 * n
    return (math.sqrt(3.842 - 2 * var) - 1.96) / math.sqrt(T) * 100


@pytest.mark.parametrize("T", [1.0, 3.0, 5.0])
def test_vev_equals_the_hand_formula_on_fat_tailed_skewed_returns(T):
    rng = np.random.default_rng(7)
    r = 0.01 * rng.standard_t(3, 1260) - 0.004 * rng.exponential(1, 1260) + 0.004
    got = priips_vev_pct(r, T)
    assert got == pytest.approx(_hand_vev(r.tolist(), T), rel=1e-10)


@pytest.mark.parametrize("T", [1.0, 5.0])
def test_vev_of_a_sample_without_skew_or_excess_kurtosis_is_the_annualised_std(T):
    # log returns -b, 0, 0, 0, 0, +b repeated: skew 0, m2 = b^2 / 3, m4 = b^4 / 3, kurtosis m4 / m2^2 = 3,
    # so excess kurtosis 0;
    # then 3.842 - 2 VaR = (1.96 + s sqrt(N))^2 + 0.0004 and VEV = s sqrt(256) up to 0.0002 / (1.96 + s sqrt(N))
    b = 0.012
    logs = np.tile([-b, 0.0, 0.0, 0.0, 0.0, b], 210)
    s = b / math.sqrt(3)
    x = s * math.sqrt(256 * T)
    closed = (math.sqrt((1.96 + x) ** 2 + 3.842 - 1.96 ** 2) - 1.96) / math.sqrt(T) * 100
    got = priips_vev_pct(np.expm1(logs), T)
    assert got == pytest.approx(closed, rel=1e-9)
    assert got == pytest.approx(s * 16 * 100, abs=0.01)


def test_vev_of_normal_returns_is_the_annualised_volatility():
    # simulation under a known truth: daily vol 1 % -> VEV ~ 16 % (x sqrt(256)) for any T
    rng = np.random.default_rng(3)
    r = np.expm1(rng.normal(0.0, 0.01, 200_000))
    assert priips_vev_pct(r, 5.0) == pytest.approx(16.0, rel=0.01)


def test_vev_refuses_bad_input():
    with pytest.raises(InputError, match="holding period"):
        priips_vev_pct([0.01, -0.01, 0.0], 0)
    with pytest.raises(InputError, match="-100 %"):
        priips_vev_pct([0.01, -1.0, 0.0, 0.02], 1)
    # constant returns: VaR 0, VEV = sqrt(3.842) - 1.96 = 0.0102 % (the text's 3.842 is 1.96^2 rounded up)
    assert priips_vev_pct([0.001] * 10, 1) == pytest.approx((math.sqrt(3.842) - 1.96) * 100, abs=1e-12)
