"""Metric blocks against hand computations, closed forms and empyrical."""
import math

import empyrical
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from qmtl_research.validation import metrics as M


@pytest.fixture
def r():
    rng = np.random.default_rng(7)
    idx = pd.bdate_range("2018-01-01", periods=756)
    return pd.Series(rng.standard_t(5, size=756) * 0.01 + 0.0004, index=idx)


def test_sharpe_convention_is_annualised_rf0(r):
    x = r.to_numpy()
    assert M.sharpe_ratio(x, periods_per_year=252) == pytest.approx(x.mean() / x.std(ddof=1) * math.sqrt(252), rel=1e-12)
    assert M.sharpe_ratio(x, periods_per_year=252) == pytest.approx(empyrical.sharpe_ratio(r, annualization=252), rel=1e-9)
    assert "sqrt(periods_per_year)" in M.SHARPE_CONVENTION and "risk-free 0" in M.SHARPE_CONVENTION


def test_drawdown_gain_to_pain_time_under_water_by_hand():
    x = [0.10, -0.05, -0.10, 0.20, -0.02]
    # wealth 1, 1.1, 1.045, 0.9405, 1.1286, 1.106028 ; peaks 1.1 then 1.1286
    assert M.max_drawdown(x) == pytest.approx(1 - 0.9405 / 1.1, rel=1e-12)
    assert M.gain_to_pain_ratio(x) == pytest.approx(0.13 / 0.17, rel=1e-12)
    assert M.time_under_water_ratio(x) == pytest.approx(3 / 5)
    assert M.max_drawdown([0.01, 0.02]) == 0.0
    assert math.isinf(M.gain_to_pain_ratio([0.01, 0.02]))


def test_max_drawdown_matches_empyrical(r):
    assert M.max_drawdown(r) == pytest.approx(-empyrical.max_drawdown(r), rel=1e-9)


def test_sortino_matches_empyrical(r):
    assert M.sortino_ratio(r, periods_per_year=252) == pytest.approx(empyrical.sortino_ratio(r, annualization=252), rel=1e-9)


def test_var_es_by_hand():
    x = np.arange(-50, 50) / 1000.0          # 100 values, -0.050 .. 0.049
    var, es = M.var_es(x, 0.05)
    q = np.quantile(x, 0.05)
    assert var == pytest.approx(-q) and var > 0
    assert es == pytest.approx(-x[x <= q].mean())
    assert es >= var


def test_max_time_under_water_days_by_hand():
    idx = pd.date_range("2024-01-05", periods=6, freq="7D")   # Fridays
    s = pd.Series([0.01, -0.02, 0.005, 0.02, -0.01, 0.0], index=idx)
    # peak at 01-05; under water 01-12, 01-19; regained 01-26 -> 21 days. Then peak 01-26, under 02-02, 02-09 (open) -> 14
    assert M.max_time_under_water_days(s) == 21.0


def _psr_by_hand(x, sr_star_pp):
    n = len(x)
    sr = x.mean() / x.std(ddof=1)
    m = x.mean()
    m2 = ((x - m) ** 2).mean()
    g3 = ((x - m) ** 3).mean() / m2 ** 1.5
    g4 = ((x - m) ** 4).mean() / m2 ** 2
    return stats.norm.cdf((sr - sr_star_pp) * math.sqrt(n - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr ** 2))


def test_psr_against_the_formula(r):
    x = r.to_numpy()
    assert M.probabilistic_sharpe_ratio(x, periods_per_year=252, benchmark_sharpe=0.0) == pytest.approx(_psr_by_hand(x, 0.0), rel=1e-10)
    assert M.probabilistic_sharpe_ratio(x, periods_per_year=252, benchmark_sharpe=0.5) == pytest.approx(_psr_by_hand(x, 0.5 / math.sqrt(252)), rel=1e-10)
    # hand-computed case: 50 x (0.1 + 1) and 50 x (0.1 - 1): skewness 0, kurtosis 1, so the denominator
    # is 1; SR = 0.1 / sqrt(100/99) and z = SR sqrt(99) = 0.99 exactly; Phi(0.99) = 0.838913 (normal table)
    two_point = np.array([1.1, -0.9] * 50)
    assert M.probabilistic_sharpe_ratio(two_point, periods_per_year=252, benchmark_sharpe=0.0) == pytest.approx(0.838913, abs=1e-6)


def test_dsr_against_the_formula(r):
    x = r.to_numpy()
    n_trials, std_ann = 20, 0.5
    std_pp = std_ann / math.sqrt(252)
    g = 0.5772156649015329
    sr0 = std_pp * ((1 - g) * stats.norm.ppf(1 - 1 / 20) + g * stats.norm.ppf(1 - 1 / (20 * math.e)))
    assert M.expected_max_sharpe(20, std_pp) == pytest.approx(sr0, rel=1e-12)
    assert M.deflated_sharpe_ratio(x, periods_per_year=252, n_trials=n_trials, trials_sharpe_std=std_ann) == pytest.approx(_psr_by_hand(x, sr0), rel=1e-10)
    # one trial: DSR = PSR(0); more trials deflate
    assert M.deflated_sharpe_ratio(x, periods_per_year=252, n_trials=1, trials_sharpe_std=None) == pytest.approx(M.probabilistic_sharpe_ratio(x, periods_per_year=252, benchmark_sharpe=0))
    assert M.deflated_sharpe_ratio(x, periods_per_year=252, n_trials=100, trials_sharpe_std=std_ann) < M.deflated_sharpe_ratio(x, periods_per_year=252, n_trials=2, trials_sharpe_std=std_ann)


def test_halves_and_cv(r):
    x = r.to_numpy()
    first, second = M.half_sharpes(x, 252)
    assert first == pytest.approx(M.sharpe_ratio(x[:378], periods_per_year=252))
    assert second == pytest.approx(M.sharpe_ratio(x[378:], periods_per_year=252))
    folds, mean, sd = M.cv_sharpe(x, 4, 252)
    parts = [M.sharpe_ratio(p, periods_per_year=252) for p in np.array_split(x, 4)]
    assert folds == 4 and mean == pytest.approx(np.mean(parts)) and sd == pytest.approx(np.std(parts, ddof=1))


def test_blocks_and_missing_trade_data(r):
    b = M.compute_metric_blocks(r, as_of="2021-01-01")
    assert b["diagnostics"]["periods_per_year"] == 252
    assert b["sample"]["effective_history_years"] == pytest.approx(3.0)
    assert b["risk"] == {} and "n_trades_total" not in b["sample"]
    assert M.metric_coverage_ratio(b) == pytest.approx(8 / 12)
    assert b["diagnostics"]["data_lag_days"] == (pd.Timestamp("2021-01-01") - r.index[-1]).days
    trades = pd.DataFrame({"quantity": [-10, 20, 30, 40], "adv": [100.0] * 4, "volume": [50.0] * 4})
    b2 = M.compute_metric_blocks(r, trades=trades)
    assert b2["sample"]["n_trades_total"] == 4 and b2["sample"]["n_trades_per_year"] == pytest.approx(4 / 3)
    assert b2["risk"]["adv_utilization_p95"] == pytest.approx(np.percentile([0.1, 0.2, 0.3, 0.4], 95))
    assert b2["risk"]["participation_rate_p95"] == pytest.approx(np.percentile([0.2, 0.4, 0.6, 0.8], 95))
    assert M.metric_coverage_ratio(b2) == 1.0


def test_regime_coverage_and_periods():
    idx = pd.date_range("2020-01-03", periods=200, freq="W-FRI")
    assert M.infer_periods_per_year(idx) == 52
    calm_up = pd.Series(0.001, index=idx[:100]) + np.tile([0.0005, -0.0005], 50)
    only_up = M.regime_coverage(calm_up)
    assert only_up <= 0.5
    rng = np.random.default_rng(1)
    mixed = pd.Series(rng.normal(0, 1, 200) * np.repeat([0.01, 0.05, 0.01, 0.05], 50), index=idx)
    assert M.regime_coverage(mixed) > only_up


def test_benchmark_block():
    idx = pd.bdate_range("2020-01-01", periods=300)
    rng = np.random.default_rng(3)
    b = pd.Series(rng.normal(0.0002, 0.012, 300), index=idx)
    p = b * 0.5 + 0.0003
    blk = M.benchmark_block(p, b, 252)
    assert blk["sharpe_uplift"] == pytest.approx(M.sharpe_ratio(p, periods_per_year=252) - M.sharpe_ratio(b, periods_per_year=252))
    assert blk["max_drawdown_improvement"] > 0 and blk["es_improvement"] > 0


def test_the_rules_var_and_es_are_the_risk_engines(r):
    """One home: the rules' VaR/ES and the stage-2 VaR feature are the risk engine's historical VaR with
    an explicit convention (linear quantile), which the appendix prints beside the report's seed convention."""
    from qmtl_research.conventions import conventions_table
    from qmtl_research.rating.measures import historical_var_pct
    from qmtl_research.risk.var import historical_var

    x = r.to_numpy()
    engine = historical_var(x, 0.99, convention=M.VAR_CONVENTION)
    assert M.var_es(x, 0.01) == (engine.var, engine.cvar)
    # and the linear convention is what numpy's quantile gives (independent reference)
    q = np.quantile(x, 0.01)
    assert engine.var == pytest.approx(-q, rel=1e-12) and engine.cvar == pytest.approx(-x[x <= q].mean(), rel=1e-12)
    assert historical_var_pct(x, 0.975) == pytest.approx(-np.quantile(x, 0.025) * 100, rel=1e-12)
    text = " ".join(conventions_table()["convention"])
    assert "linear" in text and "seed" in text
