"""The innovation law of a GARCH fit and the map of its variance forecasts to the expected target.

The stage-1 target is the sample std (``ddof=1``) of the next 4 weekly returns. For Gaussian
returns with variances ``h_1..h_4`` its expectation is
:func:`~qmtl_research.volatility.targets.expected_sample_std` (``c4(4) sqrt(h)`` for equal
variances). With fat-tailed innovations ``z`` (unit variance) the sample std of 4 returns is
smaller on average (Jensen: ``E sqrt(.)`` falls as the spread of the sample variance grows): for
Student-t(8) innovations by 2.1 %, t(5) by 4.4 %. The GARCH forecast is therefore

``E[target] = expected_target_vol(h_1..h_4) x tail_factor(nu)``,

``tail_factor(nu) = E[sd(z_1..z_4)] / E[sd(Z_1..Z_4)]`` for iid standardised Student-t(``nu``)
``z`` and standard normal ``Z`` (1 for Gaussian innovations), with ``nu`` estimated by maximum
likelihood on the fund's standardised residuals ``(r_t - mu) / sqrt(h_t)`` of the estimation
sample (unit-variance Student-t, ``nu`` on the grid :data:`DF_GRID`, ``inf`` = Gaussian). The
factor is computed for equal variances; over 4 weeks the forecast path is nearly flat, and the
ratio of the two expectations hardly depends on its slope.

``tail_factor`` is a seeded Monte Carlo expectation with common random numbers: ``z = Z
sqrt((nu - 2) / W)``, ``W ~ chi2(nu)``, the same ``Z`` in numerator and denominator
(:data:`FACTOR_DRAWS` samples of 4; standard error about 1e-4).
"""
from __future__ import annotations

import functools
import math

import numpy as np
from scipy.special import gammaln

DF_GRID = (2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 15.0, 20.0, 30.0, 50.0, 100.0, math.inf)
FACTOR_DRAWS = 400_000
FACTOR_SEED = 20_260_612
TARGET_RETURNS = 4


def student_t_loglik(z: np.ndarray, mask: np.ndarray, nu: float) -> np.ndarray:
    """Log-likelihood per column of the unit-variance Student-t(``nu``) (Gaussian for ``inf``) at
    ``z`` (rows = observations, columns = series; rows where ``mask`` is False are left out).

    Density: ``Gamma((nu+1)/2) / (Gamma(nu/2) sqrt(pi (nu-2))) (1 + z^2 / (nu-2))^-(nu+1)/2``.

    Parameters
    ----------
    z : ndarray, shape (L, N)
        Standardised residuals (0 where masked).
    mask : ndarray of bool, shape (L, N)
        Observations.
    nu : float
        Degrees of freedom (> 2; ``inf``: Gaussian).

    Returns
    -------
    ndarray, shape (N,)
    """
    return _t_loglik(np.where(mask, z, 0.0) ** 2, mask.sum(axis=0), nu)


def _t_loglik(z2: np.ndarray, n: np.ndarray, nu: float) -> np.ndarray:
    """:func:`student_t_loglik` from the squared residuals ``z2`` (0 where masked: their terms are
    ``log1p(0) = 0``) and the observation counts ``n``."""
    if math.isinf(nu):
        return -0.5 * (n * math.log(2.0 * math.pi) + np.cumsum(z2, axis=0)[-1])
    const = gammaln((nu + 1.0) / 2.0) - gammaln(nu / 2.0) - 0.5 * math.log(math.pi * (nu - 2.0))
    return n * const - 0.5 * (nu + 1.0) * np.cumsum(np.log1p(z2 / (nu - 2.0)), axis=0)[-1]


def fit_student_t_df(z: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Degrees of freedom per column: the point of :data:`DF_GRID` with the highest
    unit-variance Student-t log-likelihood of the standardised residuals ``z`` (``inf`` =
    Gaussian; ties keep the larger ``nu``).

    Parameters
    ----------
    z : ndarray, shape (L, N)
        Standardised residuals (0 where masked).
    mask : ndarray of bool, shape (L, N)
        Observations.

    Returns
    -------
    ndarray, shape (N,)
        Degrees of freedom (``inf``: Gaussian).
    """
    z = np.asarray(z, dtype=float)
    mask = np.asarray(mask, dtype=bool)
    best_ll = np.full(z.shape[1], -np.inf)
    best = np.full(z.shape[1], math.inf)
    z2, n = np.where(mask, z, 0.0) ** 2, mask.sum(axis=0)
    for nu in reversed(DF_GRID):
        ll = _t_loglik(z2, n, nu)
        take = ll > best_ll
        best = np.where(take, nu, best)
        best_ll = np.where(take, ll, best_ll)
    return best


@functools.lru_cache(maxsize=None)
def _factor(nu: float) -> float:
    if math.isinf(nu):
        return 1.0
    rng = np.random.default_rng(FACTOR_SEED)
    z = rng.standard_normal((FACTOR_DRAWS, TARGET_RETURNS))
    w = rng.chisquare(nu, (FACTOR_DRAWS, TARGET_RETURNS))
    gauss = z.std(axis=1, ddof=1).mean()
    return float((z * np.sqrt((nu - 2.0) / w)).std(axis=1, ddof=1).mean() / gauss)


def tail_factor(nu) -> np.ndarray:
    """``E[sd(z_1..z_4)] / E[sd(Z_1..Z_4)]`` for iid unit-variance Student-t(``nu``) ``z`` and
    standard normal ``Z`` (``nu > 2``; ``inf`` gives 1), elementwise; see the module docstring.

    Parameters
    ----------
    nu : array-like
        Degrees of freedom (``inf``: Gaussian, factor 1).

    Returns
    -------
    ndarray
        Unit-free factors (<= 1 for fat tails).
    """
    nus = np.asarray(nu, dtype=float)
    if np.any(nus <= 2.0):
        raise ValueError("Student-t degrees of freedom must exceed 2 (unit variance)")
    return np.vectorize(lambda v: _factor(float(v)), otypes=[float])(nus)
