"""qmtl_research.measures, the one home of the return measures: one signature, one sign
convention, the other layers' names are the same functions, and PSR/DSR are skfolio's where the
conventions match (per-period inputs; skfolio's DSR needs every trial's Sharpe ratio)."""
from __future__ import annotations

import inspect
import math
import re

import empyrical
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from skfolio import measures as skm

from qmtl_research import measures
from qmtl_research.errors import InputError
from qmtl_research.risk.performance import analyze

ANNUALISED = ("sharpe_ratio", "sortino_ratio", "probabilistic_sharpe_ratio", "deflated_sharpe_ratio")


@pytest.fixture
def r() -> np.ndarray:
    rng = np.random.default_rng(11)
    return rng.standard_t(5, size=500) * 0.01 + 0.0005


@pytest.mark.parametrize("name", ANNUALISED)
def test_every_annualised_measure_has_the_one_signature(name):
    params = inspect.signature(getattr(measures, name)).parameters
    names = list(params)
    assert names[:3] == ["returns", "periods_per_year", "risk_free"]
    assert params["periods_per_year"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["periods_per_year"].default is inspect.Parameter.empty      # always named by the caller
    assert params["risk_free"].kind is inspect.Parameter.KEYWORD_ONLY and params["risk_free"].default == 0.0
    with pytest.raises(TypeError):
        getattr(measures, name)([0.01, -0.02, 0.03, 0.0], 252)                  # no positional annualisation


def test_other_layers_use_the_same_functions():
    from qmtl_research.rating import measures as rating_measures
    from qmtl_research.validation import metrics

    for name in ("sharpe_ratio", "sortino_ratio", "max_drawdown", "gain_to_pain_ratio", "var_es",
                 "probabilistic_sharpe_ratio", "deflated_sharpe_ratio", "expected_max_sharpe"):
        assert getattr(metrics, name) is getattr(measures, name), name
    assert rating_measures.sharpe_ratio is measures.sharpe_ratio
    assert rating_measures.information_ratio([0.01, 0.0, 0.02], [0.0, 0.01, 0.0]) == measures.information_ratio(
        [0.01, 0.0, 0.02], [0.0, 0.01, 0.0], periods_per_year=52)
    import qmtl_research.risk.performance as perf
    assert not hasattr(perf, "max_drawdown")      # no second, negative drawdown measure


def test_risk_free_is_per_period_and_shifts_the_mean(r):
    rf = 0.02 / 252
    assert measures.sharpe_ratio(r, periods_per_year=252, risk_free=rf) == pytest.approx(
        empyrical.sharpe_ratio(r, risk_free=rf, annualization=252), rel=1e-10)
    assert measures.sortino_ratio(r, periods_per_year=252, risk_free=rf) == pytest.approx(
        empyrical.sortino_ratio(r, required_return=rf, annualization=252), rel=1e-10)


def test_losses_are_positive(r):
    assert measures.max_drawdown(r) == pytest.approx(-empyrical.max_drawdown(r), rel=1e-12) and measures.max_drawdown(r) > 0
    var, es = measures.var_es(r, 0.01)
    assert var == pytest.approx(-np.quantile(r, 0.01), rel=1e-12) and es >= var > 0
    # the audit report prints the same drawdown with the seed's negative sign, nothing else
    s = pd.Series(r, index=pd.bdate_range("2020-01-01", periods=r.size))
    assert analyze(s).max_drawdown == -measures.max_drawdown(r)


def test_psr_is_skfolio_with_per_period_inputs_and_the_closed_form(r):
    ppy, bench, rf = 252, 0.5, 0.0001
    ours = measures.probabilistic_sharpe_ratio(r, periods_per_year=ppy, risk_free=rf, benchmark_sharpe=bench)
    assert ours == skm.probabilistic_sharpe_ratio(r, benchmark_sharpe_ratio=bench / math.sqrt(ppy), risk_free_rate=rf)
    ex = r - rf
    sr = ex.mean() / ex.std(ddof=1)
    g3, g4 = stats.skew(ex, bias=True), stats.kurtosis(ex, fisher=False, bias=True)
    z = (sr - bench / math.sqrt(ppy)) * math.sqrt(r.size - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr ** 2)
    assert ours == pytest.approx(stats.norm.cdf(z), rel=1e-12)


def test_dsr_equals_skfolio_dsr_given_the_trials_sharpe_ratios(r):
    """skfolio's deflated_sharpe_ratio takes every trial's (per-period) Sharpe ratio; ours takes
    their number and annualised std. Fed the same trials they agree, which is why ours calls
    skfolio's expected maximum and PSR rather than its DSR."""
    rng = np.random.default_rng(3)
    trials_pp = rng.normal(0.0, 0.03, 25)
    std_annual = float(np.std(trials_pp, ddof=1)) * math.sqrt(252)
    ours = measures.deflated_sharpe_ratio(r, periods_per_year=252, n_trials=25, trials_sharpe_std=std_annual)
    assert ours == pytest.approx(skm.deflated_sharpe_ratio(r, trials_pp), rel=1e-12)
    assert measures.expected_max_sharpe(25, 0.03) == pytest.approx(skm.expected_max_sharpe_ratio(25, 0.03), rel=1e-15)
    with pytest.raises(ValueError):
        measures.expected_max_sharpe(0, 0.03)


def test_undefined_cases_are_nan_not_numbers():
    for name in ANNUALISED:
        assert math.isnan(getattr(measures, name)([0.01], periods_per_year=252))
    assert math.isnan(measures.probabilistic_sharpe_ratio([0.01, 0.01, 0.01], periods_per_year=252))
    assert math.isnan(measures.max_drawdown([])) and math.isnan(measures.gain_to_pain_ratio([]))
    assert all(math.isnan(v) for v in measures.var_es([]))
    assert math.isinf(measures.sortino_ratio([0.01, 0.02], periods_per_year=252))


def test_tracking_error_and_information_ratio_by_hand_and_against_empyrical(r):
    rng = np.random.default_rng(4)
    b = r * 0.7 + rng.normal(0, 0.004, r.size)
    active = r - b
    te = active.std(ddof=1) * math.sqrt(252)
    assert measures.tracking_error(r, b, periods_per_year=252) == pytest.approx(te, rel=1e-12)
    assert measures.information_ratio(r, b, periods_per_year=252) == pytest.approx(
        empyrical.excess_sharpe(r, b) * math.sqrt(252), rel=1e-9)
    assert math.isnan(measures.information_ratio([0.01, 0.02], [0.0, 0.01], periods_per_year=252))  # no dispersion
    assert math.isnan(measures.tracking_error([0.01, math.nan, 0.0], [0.0, 0.0, 0.0], periods_per_year=252))


def test_historical_tail_is_the_hand_computed_quantile_of_each_convention():
    """20 returns -0.10, -0.09, ..., 0.09 at confidence 0.75 (tail 0.25): the seed takes
    sorted[int(0.25 * 20)] = sorted[5] = -0.05 and the mean loss of the 6 worst; Basel the
    ceil(5) = 5th worst and the mean of the 5 worst; numpy's 'lower' the position floor(0.25 * 19)
    = 4 (-0.06), 'linear' -0.06 + 0.75 * 0.01, both with the mean of the returns at or below."""
    r = np.round(np.arange(-10, 10) / 100.0, 2)
    assert measures.historical_tail(r, 0.75, "seed") == pytest.approx((0.05, 0.075), rel=1e-12)
    assert measures.historical_tail(r, 0.75, "basel") == pytest.approx((0.06, 0.08), rel=1e-12)
    assert measures.historical_tail(r, 0.75, "lower") == pytest.approx((0.06, 0.08), rel=1e-12)
    assert measures.historical_tail(r, 0.75, "linear") == pytest.approx((0.0525, 0.08), rel=1e-12)
    with pytest.raises(InputError, match="unknown VaR convention"):
        measures.historical_tail(r, 0.9, "median")


@pytest.mark.parametrize("returns, alpha, what", [([0.01, math.inf, -0.02], 0.01, "infinite return"),
                                                  ([0.01, -0.02], 0.0, "outside (0, 1)"),
                                                  ([0.01, -0.02], 1.5, "outside (0, 1)")])
def test_var_es_refuses_what_it_cannot_measure(returns, alpha, what):
    with pytest.raises(InputError, match=re.escape(what)):
        measures.var_es(returns, alpha)
