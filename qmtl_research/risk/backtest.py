"""VaR backtesting: rolling out-of-sample forecasts, exception tests, Basel zone.

The tests themselves live in :mod:`qmtl_research.risk.backtests` (with the ES tests and the
rest of the VaR suite); this module makes the rolling forecasts of one return series.

Forecast for day ``t`` uses only the ``window`` returns before ``t``;
an *exception* is a loss larger than the forecast: ``-r_t > VaR_t``.

Tests (``p = 1 - confidence``, ``n`` forecasts, ``x`` exceptions):

* Kupiec POF: ``LR = -2 ln[(1-p)^(n-x) p^x] + 2 ln[(1-x/n)^(n-x) (x/n)^x]``,
  chi-square(1) p-value (``0 ln 0 = 0``).
* Christoffersen independence: transitions ``n_ij`` (state i on day t-1 to j on
  day t) over the n - 1 consecutive pairs, ``pi01 = n01/(n00+n01)``,
  ``pi11 = n11/(n10+n11)``, ``pi = (n01+n11)/(n - 1)``;
  ``LR = -2 ln[(1-pi)^(n00+n10) pi^(n01+n11)] + 2 ln[(1-pi01)^n00 pi01^n01 (1-pi11)^n10 pi11^n11]``,
  chi-square(1).
* Conditional coverage: ``LR_cc = LR_pof + LR_ind``, chi-square(2).

Basel traffic light: the zone of ``x`` exceptions in ``n`` days at coverage
``p`` is green when the binomial probability ``P(X <= x) < 95 %``, yellow when
``< 99.99 %``, red otherwise. For 250 days at 99 % this is exactly the Basel
table (green 0-4, yellow 5-9, red >= 10); for other sizes and confidence levels
the same cumulative-probability cut-offs are applied (documented scaling).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy import stats

from qmtl_research.errors import InputError
from qmtl_research.measures import historical_tail
# the tests live in risk.backtests (one home); re-exported here for the existing callers
from qmtl_research.risk.backtests.var_tests import (GREEN_CUTOFF, RED_CUTOFF, christoffersen_independence,  # noqa: F401
                                                    kupiec_pof, traffic_light, transition_counts, zone_thresholds)
from qmtl_research.risk.input_checks import check_confidence, check_returns
from qmtl_research.risk.var import fhs_scenarios, moments_dof, normal_var_es

BACKTEST_METHODS = ("historical", "normal", "t", "fhs_ewma", "fhs_garch")


def rolling_var_forecasts(returns: pd.Series, confidence: float = 0.99, window: int = 250,
                          method: str = "historical", *, convention: str = "seed",
                          refit_every: int = 20, progress: bool = False) -> pd.DataFrame:
    """One-day-ahead VaR forecasts from a rolling window.

    Parameters
    ----------
    returns : Series of per-period returns (DatetimeIndex), NaN refused.
    window : int
        Estimation window length (periods).
    method : {"historical", "normal", "t", "fhs_ewma", "fhs_garch"}
        ``t`` uses method-of-moments dof per window; ``fhs_garch`` refits the
        GARCH every ``refit_every`` days (between refits the standardised
        residuals of the last fit are re-scaled by the filter's volatility).

    Returns
    -------
    DataFrame indexed by date: ``return, var, exception`` for every day after
    the first ``window`` days.
    """
    c = check_confidence(confidence)
    if not isinstance(returns, pd.Series):
        returns = pd.Series(np.asarray(returns, dtype=float), index=pd.RangeIndex(len(returns)))
    r = check_returns(returns, where="returns")
    if window < 10:
        raise InputError(f"window {window} is too short", where="window", fix="use at least 10 periods (250 is Basel)")
    if r.size <= window:
        raise InputError(f"{r.size} returns are not more than the window {window}: no out-of-sample day",
                         where="returns", fix="use a longer series or a shorter --window")
    wins = sliding_window_view(r[:-1], window)        # wins[i] forecasts r[window + i]
    n = wins.shape[0]
    if method == "historical":
        srt = np.sort(wins, axis=1)
        var = np.array([historical_tail(srt[i], c, convention)[0] for i in range(n)])
    elif method == "normal":
        var = np.array([normal_var_es(m, s, c)[0] for m, s in zip(wins.mean(axis=1), wins.std(axis=1, ddof=1))])
    elif method == "t":                 # fit_t(..., "moments") + t_var_es, vectorised over windows
        dof = np.array([moments_dof(k) for k in stats.kurtosis(wins, axis=1, fisher=True, bias=False)])
        scale = wins.std(axis=1, ddof=1) * np.sqrt((dof - 2.0) / dof)
        var = -wins.mean(axis=1) + scale * stats.t.ppf(c, dof)
    elif method == "fhs_ewma":
        var = np.array([historical_tail(np.sort(fhs_scenarios(wins[i], "ewma")), c, convention)[0]
                        for i in range(n)])
    elif method == "fhs_garch":
        var = _rolling_garch(r, wins, c, convention, refit_every, progress)
    else:
        raise InputError(f"unknown backtest method {method!r}", where="method",
                         fix=f"use one of: {', '.join(BACKTEST_METHODS)}")
    realised = r[window:]
    return pd.DataFrame({"return": realised, "var": var, "exception": -realised > var},
                        index=returns.index[window:])


def _rolling_garch(r, wins, c, convention, refit_every, progress):
    """FHS-GARCH VaR forecasts: GARCH(1,1) re-estimated every ``refit_every`` windows by the
    project's one GARCH home (:func:`qmtl_research.volatility.garch.fit_garch_series`), its
    standardised residuals re-scaled by the filtered volatility in between (fractions)."""
    from qmtl_research.volatility.garch import fit_garch_series

    n = wins.shape[0]
    var = np.empty(n)
    steps = range(0, n, max(1, refit_every))
    if progress:
        from tqdm import tqdm
        steps = tqdm(steps, desc="GARCH refits")
    for i0 in steps:
        fit = fit_garch_series(wins[i0])
        mu, omega, a, b = fit.mu, fit.omega, fit.alpha, fit.beta
        z = np.asarray(fit.std_resid)
        s2 = float(fit.cond_vol[-1]) ** 2
        eps = wins[i0][-1] - mu
        for i in range(i0, min(i0 + refit_every, n)):
            s2 = omega + a * eps ** 2 + b * s2          # forecast for day window + i
            scen = np.sort(mu + np.sqrt(s2) * z)
            var[i] = historical_tail(scen, c, convention)[0]
            eps = r[len(wins[0]) + i] - mu
    return var


@dataclass
class BacktestResult:
    """Backtest summary (the contract's ``risk/backtest`` dict via :meth:`as_dict`).

    Attributes
    ----------
    confidence : float
        VaR confidence level, a fraction (0.99).
    window : int
        Estimation window, in periods (days).
    method : str
        One of :data:`BACKTEST_METHODS`.
    n : int
        Number of out-of-sample forecasts.
    exceptions : int
        Days whose loss exceeded the VaR (``-r_t > VaR_t``).
    expected_exceptions : float
        ``n * (1 - confidence)``.
    kupiec_lr, kupiec_p : float
        Kupiec POF likelihood ratio and its chi-square(1) p-value.
    christoffersen_lr, christoffersen_p : float
        Christoffersen independence LR and chi-square(1) p-value (0 and 1 with fewer than 2 forecasts).
    cc_lr, cc_p : float
        Conditional coverage LR (Kupiec + independence) and its chi-square(2) p-value.
    zone : str
        Basel traffic light over the last ``zone_n`` forecasts: ``green``, ``yellow`` or ``red``.
    zone_n : int
        Forecasts the zone counts (the last ``zone_days``, or all when fewer).
    zone_exceptions : int
        Exceptions among those.
    zone_yellow_from, zone_red_from : int
        Exception counts where the yellow and the red zone start for ``zone_n`` days.
    """

    confidence: float
    window: int
    method: str
    n: int
    exceptions: int
    expected_exceptions: float
    kupiec_lr: float
    kupiec_p: float
    christoffersen_lr: float
    christoffersen_p: float
    cc_lr: float
    cc_p: float
    zone: str
    zone_n: int
    zone_exceptions: int
    zone_yellow_from: int
    zone_red_from: int

    def as_dict(self) -> dict:
        """The fields as a plain dict (the contract's ``risk/backtest``)."""
        return asdict(self)


def backtest_var(returns: pd.Series, confidence: float = 0.99, window: int = 250, method: str = "historical",
                 *, zone_days: int = 250, progress: bool = False, **kwargs) -> tuple[BacktestResult, pd.DataFrame]:
    """Rolling VaR backtest: forecasts, Kupiec, Christoffersen, conditional
    coverage over all forecasts, and the Basel zone over the last ``zone_days``
    forecasts (all of them when fewer).

    Parameters
    ----------
    returns : pandas.Series
        Per-period simple returns as fractions (NaN refused).
    confidence : float
        VaR confidence level, a fraction (0.99).
    window : int
        Estimation window, in periods.
    method : str
        One of :data:`BACKTEST_METHODS` (see :func:`rolling_var_forecasts`).
    zone_days : int
        How many of the last forecasts the Basel zone counts (250 = the Basel year).
    progress : bool
        Show a progress bar for the GARCH refits.
    **kwargs
        Passed to :func:`rolling_var_forecasts` (``convention``, ``refit_every``).

    Returns
    -------
    (BacktestResult, pandas.DataFrame)
        The summary, and the forecasts (``return, var, exception``; VaR a positive loss fraction).
    """
    fc = rolling_var_forecasts(returns, confidence, window, method, progress=progress, **kwargs)
    hits = fc["exception"].to_numpy()
    n, x = hits.size, int(hits.sum())
    k_lr, k_p = kupiec_pof(n, x, confidence)
    if n >= 2:
        i_lr, i_p = christoffersen_independence(hits)
    else:
        i_lr, i_p = 0.0, 1.0
    cc = k_lr + i_lr
    last = hits[-zone_days:]
    yellow, red = zone_thresholds(last.size, confidence)
    res = BacktestResult(confidence=float(confidence), window=int(window), method=method, n=n, exceptions=x,
                         expected_exceptions=n * (1.0 - confidence), kupiec_lr=k_lr, kupiec_p=k_p,
                         christoffersen_lr=i_lr, christoffersen_p=i_p, cc_lr=cc, cc_p=float(stats.chi2.sf(cc, 2)),
                         zone=traffic_light(int(last.sum()), last.size, confidence), zone_n=int(last.size),
                         zone_exceptions=int(last.sum()), zone_yellow_from=yellow, zone_red_from=red)
    return res, fc


ES_METHODS = ("historical", "normal", "t", "fhs_ewma")


def rolling_var_es(returns: pd.Series, confidence: float = 0.975, window: int = 250, method: str = "historical",
                   *, convention: str = "seed"):
    """One-day-ahead VaR and ES forecasts from a rolling window, with their predictive laws.

    Parameters
    ----------
    returns : Series of per-period returns (NaN refused); confidence : float; window : int.
    method : {"historical", "normal", "t", "fhs_ewma"}
        The same estimators as :func:`rolling_var_forecasts` (so the VaR equals its VaR);
        ES is the matching CVaR (historical conventions of :mod:`qmtl_research.risk.var`,
        closed forms for normal / t).

    Returns
    -------
    (frame, dist)
        ``frame`` indexed by date: ``return, var, es, exception``; ``dist`` the predictive
        distributions (:class:`~qmtl_research.risk.backtests.Empirical` of the window's
        scenarios, or :class:`~qmtl_research.risk.backtests.LocationScale`) the ES tests draw from.
    """
    from qmtl_research.risk.backtests import Empirical, LocationScale

    if method not in ES_METHODS:
        raise InputError(f"no ES backtest for the method {method!r}", where="method",
                         fix=f"use one of: {', '.join(ES_METHODS)}")
    c = check_confidence(confidence)
    fc = rolling_var_forecasts(returns, c, window, method, convention=convention)
    r = check_returns(returns if isinstance(returns, pd.Series) else pd.Series(returns), where="returns")
    wins = sliding_window_view(r[:-1], window)
    if method in ("historical", "fhs_ewma"):
        scen = wins if method == "historical" else np.array([fhs_scenarios(w, "ewma") for w in wins])
        srt = np.sort(scen, axis=1)
        es = np.array([historical_tail(srt[i], c, convention)[1] for i in range(srt.shape[0])])
        dist = Empirical(scen)
    else:
        mean, sd = wins.mean(axis=1), wins.std(axis=1, ddof=1)
        if method == "normal":
            dist = LocationScale(mean, sd, np.inf)
        else:
            dof = np.array([moments_dof(k) for k in stats.kurtosis(wins, axis=1, fisher=True, bias=False)])
            dist = LocationScale(mean, sd, dof)          # unit-variance t scaled by the sample std
        _, es = dist.var_es(c)
    out = fc.assign(es=es)[["return", "var", "es", "exception"]]
    return out, dist


def backtest_var_es(returns: pd.Series, confidences=(0.975, 0.99), window: int = 250, method: str = "historical",
                    *, n_sims: int = 1000, seed: int = 0, zone_days: int = 250) -> pd.DataFrame:
    """The whole VaR/ES suite (:func:`qmtl_research.risk.backtests.run_suite`) on rolling forecasts
    of one return series, one row per level (the portfolio reports' ES backtests).

    Parameters
    ----------
    returns : pandas.Series
        Per-period simple returns as fractions (NaN refused).
    confidences : sequence of float
        Confidence levels, fractions (0.975, 0.99).
    window : int
        Estimation window, in periods.
    method : str
        One of :data:`ES_METHODS` (see :func:`rolling_var_es`).
    n_sims : int
        Simulations for the simulated / bootstrap p-values of the ES tests.
    seed : int
        Random seed of those simulations.
    zone_days : int
        How many of the last forecasts the Basel zone counts.

    Returns
    -------
    pandas.DataFrame
        One row per level: ``level``, ``method``, ``window`` and :func:`run_suite`'s fields.
    """
    from qmtl_research.risk.backtests import run_suite

    rows = []
    for c in confidences:
        fc, dist = rolling_var_es(returns, c, window, method)
        res = run_suite(fc["return"].to_numpy(), fc["var"].to_numpy(), fc["es"].to_numpy(), c, dist,
                        n_sims=n_sims, seed=seed, zone_days=zone_days)
        rows.append({"level": float(c), "method": method, "window": int(window), **res})
    return pd.DataFrame(rows)
