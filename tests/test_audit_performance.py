"""Performance metrics vs empyrical-reloaded on real series (skfolio data)."""
import empyrical
import numpy as np
import pandas as pd
import pytest

from qmtl_research.risk.performance import analyze, period_bounds
from qmtl_research.data.portfolio import real_portfolio
from qmtl_research.errors import InputError


@pytest.fixture(scope="module")
def series():
    d = real_portfolio(start="2012-01-03")
    return d.portfolio_returns, d.benchmark_returns


def test_matches_empyrical(series):
    r, b = series
    rep = analyze(r, b)
    assert rep.sharpe == pytest.approx(empyrical.sharpe_ratio(r), abs=1e-9)
    assert rep.sortino == pytest.approx(empyrical.sortino_ratio(r), abs=1e-9)
    assert rep.max_drawdown == pytest.approx(empyrical.max_drawdown(r), abs=1e-9)
    assert rep.annual_return == pytest.approx(empyrical.annual_return(r), abs=1e-9)
    assert rep.volatility == pytest.approx(empyrical.annual_volatility(r), abs=1e-9)
    assert rep.calmar == pytest.approx(empyrical.calmar_ratio(r), abs=1e-9)
    alpha, beta = empyrical.alpha_beta(r, b)
    assert rep.alpha == pytest.approx(alpha, abs=1e-9)
    assert rep.beta == pytest.approx(beta, abs=1e-9)
    # ours is annualised, empyrical's excess_sharpe is not (docstring says so)
    assert rep.information_ratio == pytest.approx(empyrical.excess_sharpe(r, b) * np.sqrt(252), abs=1e-9)
    assert rep.total_return == pytest.approx(empyrical.cum_returns_final(r), abs=1e-9)


def test_risk_free_convention_matches_empyrical(series):
    r, b = series
    rf_annual = 0.02
    rep = analyze(r, b, risk_free=rf_annual)
    rf = rf_annual / 252
    assert rep.sharpe == pytest.approx(empyrical.sharpe_ratio(r, risk_free=rf), abs=1e-9)
    assert rep.sortino == pytest.approx(empyrical.sortino_ratio(r, required_return=rf), abs=1e-9)
    alpha, beta = empyrical.alpha_beta(r, b, risk_free=rf)
    assert rep.alpha == pytest.approx(alpha, abs=1e-9) and rep.beta == pytest.approx(beta, abs=1e-9)


def test_trading_figures_by_hand():
    idx = pd.bdate_range("2024-01-01", periods=6)
    r = pd.Series([0.02, -0.01, 0.0, 0.03, -0.02, 0.01], index=idx)
    rep = analyze(r)
    assert rep.win_rate == pytest.approx(3 / 5)
    assert rep.avg_win == pytest.approx(0.02) and rep.avg_loss == pytest.approx(-0.015)
    assert rep.profit_factor == pytest.approx(0.06 / 0.03)
    wealth = np.cumprod([1.02, 0.99, 1.0, 1.03, 0.98, 1.01])
    assert rep.max_drawdown == pytest.approx(min(0.99 - 1, 0.98 - 1))
    assert rep.total_return == pytest.approx(wealth[-1] - 1)
    # the report's drawdown keeps the seed's negative sign (the measure, qmtl_research.measures, is positive)
    assert analyze(pd.Series([0.1, -0.5, 0.2], index=idx[:3])).max_drawdown == pytest.approx(-0.5)


def test_periods(series):
    r, _ = series
    lo, hi = period_bounds("YTD", r.index)
    assert lo == pd.Timestamp("2022-01-01") and hi == r.index[-1]
    rep = analyze(r, period="1M")
    assert pd.Timestamp(rep.start_date) > r.index[-1] - pd.DateOffset(months=1)
    assert analyze(r, period="custom", start="2020-01-01", end="2020-12-31").n_periods == len(r.loc["2020"])
    with pytest.raises(InputError, match="unknown period"):
        analyze(r, period="2W")
    bad = r.copy()
    bad.iloc[-2] = np.nan
    with pytest.raises(InputError, match="NaN"):
        analyze(bad)
