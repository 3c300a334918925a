"""Warm-started GARCH refits against ``arch`` on simulated data (issue #20 item 1): every refit
ends at a log-likelihood >= arch's on the same sample (minus 1e-6). The full sweep (2 x 2,400
fits) is in ``benchmarks/bench_volatility.py``; this is a small version of it."""
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from arch import arch_model

from qmtl_research.volatility import GarchVolatility


def simulate_garch(n_series: int, n_weeks: int, dist: str, seed: int, omega: float = 2e-5, alpha: float = 0.08,
                   beta: float = 0.90, burn: int = 200) -> pd.DataFrame:
    """Weekly returns ``0.001 + e_t`` with GARCH(1,1) errors; innovations standard normal (``dist =
    "normal"``) or Student-t with ``dist`` degrees of freedom scaled to unit variance."""
    rng = np.random.default_rng(seed)
    t = n_weeks + burn
    if dist == "normal":
        z = rng.standard_normal((t, n_series))
    else:
        nu = float(dist)
        z = rng.standard_t(nu, (t, n_series)) / math.sqrt(nu / (nu - 2.0))
    h, e = np.empty((t, n_series)), np.empty((t, n_series))
    h[0] = omega / (1.0 - alpha - beta)
    for k in range(t):
        if k:
            h[k] = omega + alpha * e[k - 1] ** 2 + beta * h[k - 1]
        e[k] = np.sqrt(h[k]) * z[k]
    return pd.DataFrame(0.001 + e[burn:], index=pd.date_range("2010-01-01", periods=n_weeks, freq="W-FRI"),
                        columns=[f"S{i}" for i in range(n_series)])


def arch_loglik(y: np.ndarray, mean: str = "Constant") -> float:
    """arch's log-likelihood at its default optimum (the project's objective: same data, mean, no
    rescaling). SLSQP may end slightly outside ``alpha + beta <= 1``; then the log-likelihood at
    the feasible point (alpha, beta divided by their sum), also computed by arch."""
    model = arch_model(y, mean=mean, vol="GARCH", p=1, q=1, dist="normal", rescale=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(disp="off")
    p = res.params.to_numpy().copy()
    if p[-2] + p[-1] <= 1.0:
        return float(res.loglikelihood)
    p[-2:] /= p[-2] + p[-1]
    return float(model.fix(p).loglikelihood)


def warm_refit_gaps(returns: pd.DataFrame, start: int = 104, step: int = 4, mean: str = "Constant") -> np.ndarray:
    """Log-likelihood of each warm-started refit (every ``step`` weeks from ``start``) minus arch's."""
    est = GarchVolatility(mean=mean, warm_start=True)
    gaps = []
    for end in range(start, len(returns) + 1, step):
        est.fit(returns.iloc[:end])
        diag = est.diagnostics_
        for fid in returns.columns:
            y = returns[fid].iloc[:end].to_numpy() / est.scale_[fid]
            gaps.append(diag.loc[fid, "loglik"] - arch_loglik(y, mean))
    return np.array(gaps)


@pytest.mark.parametrize("dist", ["normal", "6"])
def test_warm_refits_end_at_least_at_arch_optimum(dist):
    # seed 1: with warm starts alone (the engine before issue #20) 5-8 % of these refits ended
    # more than 0.01 below arch (stuck in an interior local maximum or on a bound)
    gaps = warm_refit_gaps(simulate_garch(12, 240, dist, seed=1), step=8)
    assert len(gaps) == 12 * 18
    assert gaps.min() >= -1e-6, f"{(gaps < -1e-6).sum()} refits below arch, worst {gaps.min():.4g}"


def test_zero_mean_warm_refits_end_at_least_at_arch_optimum():
    gaps = warm_refit_gaps(simulate_garch(6, 200, "8", seed=3), step=12, mean="Zero")
    assert gaps.min() >= -1e-6, f"{(gaps < -1e-6).sum()} refits below arch, worst {gaps.min():.4g}"


def _rounded_nav_returns(n_funds: int, seed: int) -> pd.DataFrame:
    """Money-market-like funds: a daily accrual of 0.5-3 % a year with tiny noise, the NAV rounded to
    its tick (1.0000, 10.00, 1000.00 style; coarser for half of them), weekly (Friday) returns."""
    rng = np.random.default_rng(seed)
    cols = {}
    for k in range(n_funds):
        base, dec = [(1.0, 4), (10.0, 2), (1000.0, 2)][k % 3]
        dec -= k % 2
        daily = base * np.cumprod(1 + rng.uniform(0.005, 0.03) / 252 + rng.uniform(0, 5e-6) * rng.standard_normal(2000))
        nav = pd.Series(np.round(daily, dec), index=pd.bdate_range("2012-01-02", periods=2000)).resample("W-FRI").last()
        cols[f"M{k}"] = nav.pct_change().iloc[1:]
    return pd.DataFrame(cols)


def test_near_constant_money_market_series_reach_arch_and_are_flagged():
    from qmtl_research.volatility.evaluation import diagnostics_summary

    returns = _rounded_nav_returns(12, seed=0)
    est = GarchVolatility().fit(returns)
    assert not est.failures_ and len(est.params_) == 12
    diag = est.diagnostics_
    for fid in returns.columns:
        y = returns[fid].to_numpy() / est.scale_[fid]
        assert diag.loc[fid, "loglik"] >= arch_loglik(y) - 1e-6, fid
        n_distinct = returns[fid].nunique()
        near = n_distinct < 0.5 * len(returns)
        assert (f"near-constant returns: {n_distinct} distinct values in {len(returns)}" in diag.loc[fid, "flags"]) == near
        assert diag.loc[fid, "degenerate"] or not near
    flagged = diag["flags"].str.contains("near-constant")
    assert 0 < flagged.sum() < 12                       # the coarse ticks are flagged, the fine ones not
    params = est.params_.join(diag).assign(design="walk-forward")
    assert diagnostics_summary(params)["near-constant returns"].tolist() == [int(flagged.sum())]
