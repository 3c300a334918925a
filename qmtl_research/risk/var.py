"""Value at Risk and Conditional VaR (Expected Shortfall) of a return series.

Sign convention everywhere: returns are simple (or log) returns as fractions
over one period (0.01 = +1 %); **VaR and CVaR are losses reported as positive
numbers** (VaR 0.03 = "at this confidence the one-period loss does not exceed
3 %"). Confidence ``c`` is a fraction in (0, 1); the tail probability is
``alpha = 1 - c``. Nothing is annualised: the horizon is the sampling period of
the input (daily returns -> 1-day VaR).

Historical conventions (``convention=``):

``"seed"`` (default) - exactly the audit-layer seed (Go ``Engine.VaR``)::

    sorted = sort(returns)                      # ascending
    idx    = int((1 - c) * n)                   # truncation, floating point as in Go
    VaR    = -sorted[idx]
    CVaR   = -mean(sorted[0 .. idx])            # the idx + 1 worst returns

``"basel"`` - the k-th worst return with ``k = ceil(alpha * n)`` (e.g. 3rd worst
of 250 at 99 %); CVaR = mean loss of those k worst.

``"lower" | "higher" | "nearest" | "midpoint" | "linear" | "inverted_cdf" |
"averaged_inverted_cdf" | "closest_observation" | "interpolated_inverted_cdf" |
"hazen" | "weibull" | "median_unbiased" | "normal_unbiased"`` - VaR is
``-numpy.quantile(returns, alpha, method=convention)``; CVaR is the mean loss
of all returns at or below that quantile (never empty: the minimum qualifies).

Parametric: ``normal`` (mean, sample std with ddof=1) and Student-t (location,
scale, degrees of freedom by maximum likelihood ``scipy.stats.t.fit`` or by the
method of moments) with closed-form Expected Shortfall.

Filtered historical simulation (FHS): returns are standardised by an EWMA
(RiskMetrics, lambda 0.94) or GARCH(1,1) (``arch``) conditional volatility,
re-scaled by the one-step-ahead volatility forecast, and the historical
estimator above is applied to the re-scaled scenarios.

Over 400 lines because of its numpy docstrings (every estimator's parameters and units):
without docstrings the module is about 160 lines.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Literal

import numpy as np
import pandas as pd
from scipy import stats

from qmtl_research.errors import InputError
from qmtl_research.measures import CONVENTIONS, NUMPY_METHODS, historical_tail  # noqa: F401 (re-exported)
from qmtl_research.risk.input_checks import check_confidence, check_returns

METHODS = ("historical", "normal", "t", "fhs_ewma", "fhs_garch")
DofMethod = Literal["mle", "moments"]


@dataclass(frozen=True)
class VaRResult:
    """One VaR/CVaR figure: losses as positive fractions of value.

    Attributes
    ----------
    confidence : float
        Confidence level ``c``, a fraction (0.95).
    var, cvar : float
        One-period VaR and CVaR (ES), positive loss fractions (0.03 = a 3 % loss); not annualised.
    method : str
        ``historical``, ``normal``, ``t``, ``fhs_ewma`` or ``fhs_garch``.
    convention : str
        The historical quantile convention, or ``closed_form`` for the parametric methods.
    n : int
        Returns (or scenarios) used.
    """

    confidence: float
    var: float
    cvar: float
    method: str = "historical"
    convention: str = "seed"
    n: int = 0

    def as_dict(self) -> dict:
        """The fields as a plain dict."""
        return asdict(self)


# --------------------------------------------------------------- historical
def historical_var(returns, confidence: float = 0.95, convention: str = "seed") -> VaRResult:
    """Historical-simulation VaR and CVaR.

    Parameters
    ----------
    returns : array-like of float, shape (n,)
        Per-period returns as fractions; NaN/inf refused.
    confidence : float in (0, 1)
    convention : str
        Quantile convention, see the module docstring (default ``"seed"``).

    Returns
    -------
    VaRResult
        ``var`` and ``cvar`` as positive loss fractions for one period.
    """
    c = check_confidence(confidence)
    r = np.sort(check_returns(returns))
    var, cvar = historical_tail(r, c, convention)
    return VaRResult(c, var, cvar, "historical", convention, r.size)


# --------------------------------------------------------------- parametric
def normal_var_es(mu: float, sigma: float, confidence: float) -> tuple[float, float]:
    """Closed-form normal VaR and ES (positive losses).

    ``VaR = -mu + sigma * z_c`` and ``ES = -mu + sigma * phi(z_c) / (1 - c)``
    with ``z_c = Phi^-1(c)``.

    Parameters
    ----------
    mu, sigma : float
        Mean and standard deviation of the one-period return (fractions).
    confidence : float
        Confidence level ``c``, a fraction.

    Returns
    -------
    (float, float)
        VaR and ES, positive losses in the units of ``mu``.
    """
    c = check_confidence(confidence)
    z = stats.norm.ppf(c)
    return float(-mu + sigma * z), float(-mu + sigma * stats.norm.pdf(z) / (1.0 - c))


def t_var_es(loc: float, scale: float, dof: float, confidence: float) -> tuple[float, float]:
    """Closed-form Student-t VaR and ES (positive losses) for ``loc + scale * T_dof``.

    ``VaR = -loc + scale * q`` with ``q = t_dof^-1(c)`` and
    ``ES = -loc + scale * f_dof(q) / (1 - c) * (dof + q^2) / (dof - 1)``
    (finite for ``dof > 1``).

    Parameters
    ----------
    loc, scale : float
        Location and scale of the return (fractions; ``scale`` is not the standard deviation).
    dof : float
        Degrees of freedom, > 1.
    confidence : float
        Confidence level ``c``, a fraction.

    Returns
    -------
    (float, float)
        VaR and ES, positive losses in the units of ``loc``.
    """
    c = check_confidence(confidence)
    if not dof > 1:
        raise InputError(f"Student-t degrees of freedom {dof} <= 1: the expected shortfall is infinite",
                         where="dof", fix="use dof > 1 (estimated dof this low means the data is unusable)")
    q = stats.t.ppf(c, dof)
    es = stats.t.pdf(q, dof) / (1.0 - c) * (dof + q * q) / (dof - 1.0)
    return float(-loc + scale * q), float(-loc + scale * es)


def moments_dof(excess_kurtosis: float, max_dof: float = 200.0) -> float:
    """Degrees of freedom from excess kurtosis by the method of moments.

    A Student-t has excess kurtosis ``6 / (dof - 4)``, so ``dof = 4 + 6 / k``.
    Clipped to ``[4.05, max_dof]``: ``k <= 0`` (thin tails) gives ``max_dof``
    (close to normal), a huge ``k`` gives 4.05 (the moment-matched minimum).

    Parameters
    ----------
    excess_kurtosis : float
        Sample excess (Fisher) kurtosis; NaN gives ``max_dof``.
    max_dof : float
        Upper clip.

    Returns
    -------
    float
    """
    if not np.isfinite(excess_kurtosis) or excess_kurtosis <= 6.0 / (max_dof - 4.0):
        return float(max_dof)
    return float(min(max(4.0 + 6.0 / excess_kurtosis, 4.05), max_dof))


def fit_t(returns, dof_method: DofMethod = "mle") -> tuple[float, float, float]:
    """Fit a location-scale Student-t: returns ``(loc, scale, dof)``.

    ``"mle"``: ``scipy.stats.t.fit`` (maximum likelihood of all three).
    ``"moments"``: dof from sample excess kurtosis (:func:`moments_dof`),
    loc = sample mean, scale chosen so the variance equals the sample variance
    (ddof=1): ``scale = std * sqrt((dof - 2) / dof)``.

    Parameters
    ----------
    returns : array-like, shape (n,)
        Per-period returns (fractions), at least 3, NaN refused.
    dof_method : {"mle", "moments"}

    Returns
    -------
    (float, float, float)
        ``loc`` and ``scale`` in return units, ``dof``.
    """
    r = check_returns(returns, min_samples=3)
    if dof_method == "mle":
        dof, loc, scale = stats.t.fit(r)
        return float(loc), float(scale), float(dof)
    if dof_method == "moments":
        dof = moments_dof(stats.kurtosis(r, fisher=True, bias=False))
        return float(r.mean()), float(r.std(ddof=1) * math.sqrt((dof - 2.0) / dof)), dof
    raise InputError(f"unknown dof method {dof_method!r}", where="dof_method", fix="use 'mle' or 'moments'")


def parametric_var(returns, confidence: float = 0.95, dist: str = "normal", *,
                   dof: float | None = None, dof_method: DofMethod = "mle") -> VaRResult:
    """Parametric VaR/CVaR under a normal or Student-t fit of ``returns``.

    Parameters
    ----------
    returns : array-like, shape (n,)
        Per-period returns (fractions).
    dist : {"normal", "t"}
    dof : float, optional
        Fix the t degrees of freedom (loc/scale then by moments); else estimated
        with ``dof_method``.
    """
    c = check_confidence(confidence)
    r = check_returns(returns, min_samples=3)
    if dist == "normal":
        var, es = normal_var_es(r.mean(), r.std(ddof=1), c)
    elif dist == "t":
        if dof is not None:
            if not dof > 2:
                raise InputError(f"fixed Student-t dof {dof} <= 2 has no variance to match", where="dof",
                                 fix="use dof > 2, or leave it out to estimate it")
            loc, scale = r.mean(), r.std(ddof=1) * math.sqrt((dof - 2.0) / dof)   # variance-matched
        else:
            loc, scale, dof = fit_t(r, dof_method)
        var, es = t_var_es(loc, scale, dof, c)
    else:
        raise InputError(f"unknown distribution {dist!r}", where="dist", fix="use 'normal' or 't'")
    return VaRResult(c, var, es, dist, "closed_form", r.size)


# ---------------------------------------------------- filtered historical sim
def ewma_volatility(returns, lam: float = 0.94, init_window: int = 30) -> tuple[np.ndarray, float]:
    """RiskMetrics EWMA volatility.

    ``sigma2[t] = lam * sigma2[t-1] + (1 - lam) * r[t-1]**2`` (zero mean), started at
    the mean square of the first ``min(init_window, n)`` returns (the recursion is
    :func:`qmtl_research.volatility.challengers.ewma_variances`, shared with the stage-1
    EWMA challenger, which starts it at arch's backcast instead). Returns the
    in-sample conditional volatilities ``sigma[t]`` (forecast of period t made
    at t-1) and the one-step-ahead forecast ``sigma[n]``.

    Parameters
    ----------
    returns : array-like, shape (n,)
        Per-period returns (fractions), NaN refused.
    lam : float
        Decay in (0, 1) (0.94 = RiskMetrics daily).
    init_window : int
        Returns whose mean square starts the recursion.

    Returns
    -------
    (numpy.ndarray, float)
        ``sigma[0..n-1]`` and ``sigma[n]``, per-period volatilities in return units (not annualised).
    """
    r = check_returns(returns)
    if not 0.0 < lam < 1.0:
        raise InputError(f"EWMA lambda {lam} outside (0, 1)", where="lam")
    from qmtl_research.volatility.challengers import ewma_variances     # the recursion's one home

    s2 = ewma_variances(r ** 2, lam, float(np.mean(r[: min(init_window, r.size)] ** 2)))
    s2 = np.maximum(s2, 1e-24)
    return np.sqrt(s2[:-1]), float(math.sqrt(s2[-1]))


def garch_filter(returns) -> tuple[np.ndarray, np.ndarray, float, float]:
    """GARCH(1,1) with constant mean and normal errors (Gaussian quasi-likelihood), estimated
    by the project's one GARCH home, :func:`qmtl_research.volatility.garch.fit_garch_series`
    (the objective of ``arch``; see that module).

    Returns ``(std_resid, cond_vol, mu, sigma_next)`` in the units of ``returns`` (fractions):
    standardised residuals, the conditional volatility of each period (data before it), the
    mean and the one-step-ahead volatility after the last period.

    Parameters
    ----------
    returns : array-like, shape (n,)
        Per-period returns (fractions), at least 30, NaN refused.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, float, float)
        ``std_resid``, ``cond_vol`` (per period, not annualised), ``mu``, ``sigma_next``.
    """
    from qmtl_research.volatility.garch import fit_garch_series

    r = check_returns(returns, min_samples=30)
    fit = fit_garch_series(r)
    return fit.std_resid, fit.cond_vol, fit.mu, fit.sigma_next


def fhs_scenarios(returns, vol_model: str = "ewma", lam: float = 0.94) -> np.ndarray:
    """Filtered historical scenarios for the next period: standardised residuals
    re-scaled by the one-step-ahead volatility forecast (``mu + sigma_next * z``).

    Parameters
    ----------
    returns : array-like, shape (n,)
        Per-period returns (fractions), NaN refused.
    vol_model : {"ewma", "garch"}
        ``ewma`` has zero mean (``r_t / sigma_t * sigma_next``); ``garch`` a constant mean.
    lam : float
        EWMA decay (ignored for ``garch``).

    Returns
    -------
    numpy.ndarray
        ``n`` return scenarios for the next period (fractions, unsorted).
    """
    r = check_returns(returns)
    if vol_model == "ewma":
        sigma, nxt = ewma_volatility(r, lam)
        return r / sigma * nxt
    if vol_model == "garch":
        z, _, mu, nxt = garch_filter(r)
        return mu + nxt * z
    raise InputError(f"unknown volatility model {vol_model!r}", where="vol_model", fix="use 'ewma' or 'garch'")


def filtered_historical_var(returns, confidence: float = 0.95, vol_model: str = "ewma", *,
                            lam: float = 0.94, convention: str = "seed") -> VaRResult:
    """FHS VaR/CVaR: :func:`historical_var` on :func:`fhs_scenarios`.

    Parameters
    ----------
    returns : array-like, shape (n,)
        Per-period returns (fractions), NaN refused.
    confidence : float
        Confidence level, a fraction.
    vol_model : {"ewma", "garch"}
    lam : float
        EWMA decay.
    convention : str
        Historical quantile convention (module docstring).

    Returns
    -------
    VaRResult
        Positive loss fractions for the next period; ``method`` is ``fhs_<vol_model>``.
    """
    c = check_confidence(confidence)
    sc = np.sort(fhs_scenarios(returns, vol_model, lam))
    var, cvar = historical_tail(sc, c, convention)
    return VaRResult(c, var, cvar, f"fhs_{vol_model}", convention, sc.size)


# ---------------------------------------------------------------- dispatch
def value_at_risk(returns, confidence: float = 0.95, method: str = "historical", *,
                  convention: str = "seed", dof_method: DofMethod = "mle", lam: float = 0.94) -> VaRResult:
    """VaR/CVaR by ``method`` in :data:`METHODS` (historical, normal, t, fhs_ewma, fhs_garch).

    Parameters
    ----------
    returns : array-like, shape (n,)
        Per-period returns (fractions), NaN refused.
    confidence : float
        Confidence level, a fraction.
    method : str
        One of :data:`METHODS`.
    convention : str
        Historical quantile convention (historical and FHS methods).
    dof_method : {"mle", "moments"}
        Student-t fit (method ``t``).
    lam : float
        EWMA decay (``fhs_ewma``).

    Returns
    -------
    VaRResult
        One-period VaR and CVaR as positive loss fractions.
    """
    if method == "historical":
        return historical_var(returns, confidence, convention)
    if method in ("normal", "t"):
        return parametric_var(returns, confidence, method, dof_method=dof_method)
    if method in ("fhs_ewma", "fhs_garch"):
        return filtered_historical_var(returns, confidence, method[4:], lam=lam, convention=convention)
    raise InputError(f"unknown VaR method {method!r}", where="method", fix=f"use one of: {', '.join(METHODS)}")


def var_table(returns, confidences: Iterable[float] = (0.95, 0.99),
              methods: Iterable[str] = ("historical", "normal", "t", "fhs_ewma", "fhs_garch"),
              **kwargs) -> pd.DataFrame:
    """VaR and CVaR for every method x confidence: columns
    ``method, confidence, VaR, CVaR, n`` (positive loss fractions, one period).

    Parameters
    ----------
    returns : array-like, shape (n,)
        Per-period returns (fractions), NaN refused.
    confidences : iterable of float
        Confidence levels, fractions.
    methods : iterable of str
        Methods of :data:`METHODS`.
    **kwargs
        Passed to :func:`value_at_risk` (``convention``, ``dof_method``, ``lam``).

    Returns
    -------
    pandas.DataFrame
        One row per method x confidence.
    """
    rows = []
    for m in methods:
        for c in confidences:
            res = value_at_risk(returns, c, m, **kwargs)
            rows.append({"method": m, "confidence": res.confidence, "VaR": res.var, "CVaR": res.cvar, "n": res.n})
    return pd.DataFrame(rows)
