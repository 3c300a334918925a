"""The GARCH(1,1) likelihood engine: the batched data layout, arch's backcast, the variance
recursion, the Gaussian log-likelihood and its analytic derivatives, the filter and the
``k``-step forecasts.

Model (per fund, on returns ``y_t`` divided by the fund's ``scale``)::

    y_t = mu + e_t,   e_t = sqrt(h_t) z_t,   z_t iid N(0, 1)   (Gaussian quasi-likelihood)
    h_t = omega + alpha e_{t-1}^2 + beta h_{t-1}
    h_0 = omega + (alpha + beta) * backcast

The objective is **the objective of** ``arch``
(``arch_model(y, mean="Constant"|"Zero", vol="GARCH", p=1, q=1, dist="normal")``): the same
backcast (exponentially weighted mean of the first ``min(75, n)`` squared residuals, weights
``0.94**k``, residuals at the sample mean during estimation) and the same bounds (``omega`` in
``[1e-8 v, 10 v]`` with ``v`` the mean squared residual).

Layout: columns = series (funds), rows = observations, left-aligned, masked (:class:`_Batch`).
The variance recursion, the log-likelihood and its derivatives run as compiled loops over weeks
(JAX ``lax.scan`` + ``jit`` in float64, :mod:`.garch_kernels`); the numpy versions
(``_loglik_numpy``, ``_derivatives_numpy``) stay as the reference they are tested against. Both
assemble the score and curvature with one helper, :func:`_assemble_derivatives`.

Filtering and forecasting use the estimated parameters with the backcast taken from the first
``min(75, n)`` residuals at the estimated mean (as ``arch``'s ``forecast``): ``h_s`` is the
variance of week ``s`` given the returns before ``s``, and the ``k``-step forecasts are
``h_{t+k} = omega + (alpha + beta) h_{t+k-1}``. ``arch``'s variance bounds (a safeguard that clips
``h`` to 1e-6..1e6 times an EWMA of the squared residuals) are not applied; they do not bind for
estimated models.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from qmtl_research.volatility import garch_kernels as kernels
from qmtl_research.volatility.innovations import fit_student_t_df

PARAM_NAMES = ("mu", "omega", "alpha", "beta")
LOG_2PI = math.log(2.0 * math.pi)
BACKCAST_OBS = 75          # arch: backcast from the first 75 residuals
BACKCAST_DECAY = 0.94
OMEGA_BOUNDS = (1e-8, 10.0)  # times the mean squared residual (arch)


def _tsum(a: np.ndarray) -> np.ndarray:
    """Sum over weeks (axis 0) in week order for every column: ``cumsum`` never switches to
    pairwise summation (``sum`` does when a single column makes axis 0 contiguous), so a
    fund's numbers do not depend on the other funds in its batch."""
    return np.cumsum(a, axis=0)[-1]


def _backcast(resid2: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """arch's backcast per column: sum_k w_k e_k^2 / sum_k w_k over k < min(75, n), w_k = 0.94**k."""
    tau = min(BACKCAST_OBS, resid2.shape[0])
    w = BACKCAST_DECAY ** np.arange(tau)
    use = np.arange(tau)[:, None] < np.minimum(lengths, BACKCAST_OBS)[None, :]
    ww = np.where(use, w[:, None], 0.0)
    return _tsum(ww * resid2[:tau]) / _tsum(ww)


def _variance_path(eps2: np.ndarray, omega, alpha, beta, backcast) -> np.ndarray:
    """``h`` with ``h[0] = omega + (alpha + beta) backcast``, ``h[t] = omega + alpha eps2[t-1] + beta h[t-1]``;
    one more row than ``eps2`` (the variance after the last observation)."""
    n_rows = eps2.shape[0]
    h = np.empty((n_rows + 1,) + eps2.shape[1:])
    h[0] = omega + (alpha + beta) * backcast
    drive = omega + alpha * eps2
    for t in range(1, n_rows + 1):
        np.multiply(beta, h[t - 1], out=h[t])
        h[t] += drive[t - 1]
    return h


def _filtered(b: "_Batch", theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Residuals ``y - mu``, their squares and the one-step variances ``h`` on the batch's rows at
    ``theta`` (``mu, omega, alpha, beta`` per column; backcast fixed)."""
    mu, omega, alpha, beta = theta.T
    eps = b.y - mu
    eps2 = eps ** 2
    return eps, eps2, _variance_path(eps2, omega, alpha, beta, b.backcast)[:-1]


@dataclass(eq=False)
class _Batch:
    """Columns ``cols`` of a fit's left-aligned observations ``y_all``, ``mask_all`` (L, M) (all
    of them, in order, when ``cols`` is None), with their per-column constants. Subsets
    (:func:`_subset`) share the observations and their device copy (``observations()``, made on
    first use): only ``y`` and ``mask``, read by the numpy paths, gather the columns on the host."""

    y_all: np.ndarray      # (L, M) left-aligned observations, 0 beyond each length
    mask_all: np.ndarray   # (L, M) True on observations
    cols: np.ndarray | None
    lengths: np.ndarray    # (N,)
    zero_mean: bool
    mean: np.ndarray       # (N,) sample mean (0 for a zero mean)
    backcast: np.ndarray   # (N,) estimation backcast (residuals at the sample mean)
    omega_lo: np.ndarray
    omega_hi: np.ndarray
    n_obs: np.ndarray      # float lengths
    shared: dict = field(default_factory=dict)

    @property
    def n_series(self) -> int:
        return len(self.lengths)

    @property
    def index(self) -> np.ndarray:
        """The batch's columns of ``y_all``."""
        return np.arange(self.y_all.shape[1]) if self.cols is None else self.cols

    @cached_property
    def y(self) -> np.ndarray:
        return self.y_all if self.cols is None else self.y_all[:, self.cols]

    @cached_property
    def mask(self) -> np.ndarray:
        return self.mask_all if self.cols is None else self.mask_all[:, self.cols]

    def observations(self) -> kernels.Observations:
        """The device copy of ``y_all`` and ``mask_all`` the compiled kernels read."""
        if "observations" not in self.shared:
            self.shared["observations"] = kernels.Observations(self.y_all, self.mask_all)
        return self.shared["observations"]


def _make_batch(y: np.ndarray, mask: np.ndarray, zero_mean: bool) -> _Batch:
    lengths = mask.sum(axis=0)
    n = lengths.astype(float)
    ybar = np.zeros(y.shape[1]) if zero_mean else _tsum(y * mask) / n
    r0 = np.where(mask, y - ybar, 0.0)
    v = _tsum(r0 ** 2) / n
    return _Batch(y_all=y, mask_all=mask, cols=None, lengths=lengths, zero_mean=zero_mean, mean=ybar,
                  backcast=_backcast(r0 ** 2, lengths), omega_lo=OMEGA_BOUNDS[0] * v, omega_hi=OMEGA_BOUNDS[1] * v,
                  n_obs=n)


def _loglik(b: _Batch, theta: np.ndarray) -> np.ndarray:
    """Gaussian log-likelihood per column (-inf where the variance path is not positive/finite);
    the compiled kernel (:func:`~qmtl_research.volatility.garch_kernels.loglik`)."""
    return kernels.loglik(b.observations(), None, theta, b.backcast, b.index)


def _loglik_numpy(b: _Batch, theta: np.ndarray) -> np.ndarray:
    """:func:`_loglik` with numpy, a Python loop over weeks (the reference for the compiled kernel)."""
    _, eps2, h = _filtered(b, theta)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        terms = np.where(b.mask, LOG_2PI + np.log(h) + eps2 / h, 0.0)
        ll = -0.5 * _tsum(terms)
    bad = ~np.isfinite(ll) | ~(np.where(b.mask, h, 1.0) > 0).all(axis=0)
    return np.where(bad, -np.inf, ll)


# second derivatives of h that are not identically 0: (mu,mu), (mu,alpha), (mu,beta), (omega,beta),
# (alpha,beta), (beta,beta); forcing: 2 alpha, -2 e[t-1], then dh_i[t-1] * (1, 1, 1, 2)
_SECOND = ((0, 0), (0, 2), (0, 3), (1, 3), (2, 3), (3, 3))


def _derivatives(b: _Batch, theta: np.ndarray):
    """:func:`_derivatives_numpy` with the sums over weeks from the compiled kernel
    (:func:`~qmtl_research.volatility.garch_kernels.derivative_sums`)."""
    ll, linear, sum_eh, cross, info, outer, sum_inv = kernels.derivative_sums(b.observations(), None, theta, b.backcast,
                                                                                 b.index)
    return _assemble_derivatives(ll, linear, sum_eh, cross, info, outer, sum_inv)


def _assemble_derivatives(ll, linear, sum_eh, cross, info, outer, sum_inv):
    """Score, expected information and observed curvature from the sums over weeks."""
    score = linear[:, :4].copy()
    score[:, 0] += sum_eh
    info = info.copy()
    info[:, 0, 0] += sum_inv
    hess = -outer
    second = linear[:, 4:]
    for k, (i, j) in enumerate(_SECOND):
        hess[:, i, j] += second[:, k]
        if i != j:
            hess[:, j, i] += second[:, k]
    hess[:, 0, :] -= cross
    hess[:, :, 0] -= cross
    hess[:, 0, 0] -= sum_inv
    return ll, score, info, -hess


def _derivatives_numpy(b: _Batch, theta: np.ndarray):
    """Log-likelihood, score (N, 4), expected information and observed curvature (minus the
    Hessian), both (N, 4, 4), at ``theta``; analytic (recursions for dh and d2h, backcast fixed).

    With ``a = e^2 / h``: score ``sum 0.5 (a - 1) / h dh + e/h [mu]``; Hessian
    ``sum 0.5 (a - 1)/h d2h - 0.5 (2a - 1)/h^2 dh dh' - e/h^2 (dh [mu]' + [mu] dh') - [mu][mu]'/h``;
    expected information ``sum 0.5 dh dh' / h^2 + [mu][mu]'/h``.
    """
    _, _, alpha, beta = theta.T
    eps, eps2, h = _filtered(b, theta)
    n_rows, n_cols = eps.shape
    # state[t] = (dh/dmu, dh/domega, dh/dalpha, dh/dbeta, the six second derivatives of _SECOND)
    state = np.empty((n_rows, n_cols, 10))
    state[0] = 0.0
    state[0, :, 1] = 1.0
    state[0, :, 2] = b.backcast
    state[0, :, 3] = b.backcast
    forcing = np.zeros((n_rows, n_cols, 10))
    forcing[1:, :, 0] = -2.0 * alpha * eps[:-1]
    forcing[1:, :, 1] = 1.0
    forcing[1:, :, 2] = eps2[:-1]
    forcing[1:, :, 3] = h[:-1]
    forcing[1:, :, 4] = 2.0 * alpha
    forcing[1:, :, 5] = -2.0 * eps[:-1]
    beta_col = beta[:, None]
    double = np.array([1.0, 1.0, 1.0, 2.0])
    for t in range(1, n_rows):
        prev = state[t - 1]
        cur = state[t]
        np.multiply(beta_col, prev, out=cur)
        cur += forcing[t]
        cur[:, 6:10] += prev[:, 0:4] * double
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inv_h = np.where(b.mask, 1.0 / h, 0.0)
        a = eps2 * inv_h
        ll = -0.5 * _tsum(np.where(b.mask, LOG_2PI + np.log(h) + a, 0.0))
        dh = state[:, :, :4]
        w1 = 0.5 * (a - 1.0) * inv_h                         # weight of dh (score) and d2h (Hessian)
        # reductions over weeks as elementwise products summed along axis 0: the same order of
        # additions for every fund whatever the batch, so estimates do not depend on the chunking
        linear = _tsum(w1[:, :, None] * state)          # (N, 10): score part, second-derivative part
        e_h = eps * inv_h
        sum_eh = _tsum(e_h)
        cross = _tsum((e_h * inv_h)[:, :, None] * dh)
        w_info = 0.5 * inv_h ** 2
        w_obs = 0.5 * (2.0 * a - 1.0) * inv_h ** 2
        info = np.empty((n_cols, 4, 4))
        outer = np.empty((n_cols, 4, 4))
        for i in range(4):
            for j in range(i, 4):
                prod = dh[:, :, i] * dh[:, :, j]
                info[:, i, j] = info[:, j, i] = _tsum(w_info * prod)
                outer[:, i, j] = outer[:, j, i] = _tsum(w_obs * prod)
        sum_inv = _tsum(inv_h)
    return _assemble_derivatives(ll, linear, sum_eh, cross, info, outer, sum_inv)




def _residual_df(b: _Batch, theta: np.ndarray) -> np.ndarray:
    """Student-t degrees of freedom of each column's standardised residuals ``(y - mu) / sqrt(h)``
    at the estimates (:func:`~qmtl_research.volatility.innovations.fit_student_t_df`)."""
    eps, _, h = _filtered(b, theta)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(b.mask, eps / np.sqrt(h), 0.0)
    return fit_student_t_df(z, b.mask)



def _subset(b: _Batch, idx: np.ndarray) -> _Batch:
    """The columns ``idx`` of the batch (no copy of the observations)."""
    return _Batch(y_all=b.y_all, mask_all=b.mask_all, cols=b.index[idx], lengths=b.lengths[idx], zero_mean=b.zero_mean,
                  mean=b.mean[idx], backcast=b.backcast[idx], omega_lo=b.omega_lo[idx], omega_hi=b.omega_hi[idx],
                  n_obs=b.n_obs[idx], shared=b.shared)


def _left_align(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Finite values of each column moved to the top (order kept), zeros below; and the mask."""
    finite = np.isfinite(values)
    lengths = finite.sum(axis=0)
    n_rows = int(lengths.max()) if values.size else 0
    out = np.zeros((n_rows, values.shape[1]))
    mask = np.arange(n_rows)[:, None] < lengths[None, :]
    for j in range(values.shape[1]):
        out[: lengths[j], j] = values[finite[:, j], j]
    return out, mask


def _filter_columns(values: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """One-step variances on the original grid: row ``s`` = variance of week ``s`` given the
    returns before ``s``; one extra row (the week after the last). NaN before each column's
    first return and after its last + 1. Backcast from the first min(75, n) residuals at mu."""
    n_rows, n_cols = values.shape
    out = np.full((n_rows + 1, n_cols), np.nan)
    finite = np.isfinite(values)
    has = finite.any(axis=0)
    first = np.where(has, finite.argmax(axis=0), 0)
    last = np.where(has, n_rows - 1 - finite[::-1].argmax(axis=0), -1)
    # shift each column so that its first return is row 0 (histories have no inner gaps)
    span = int((last - first + 1).max()) if has.any() else 0
    aligned = np.zeros((span, n_cols))
    lengths = np.maximum(last - first + 1, 0)
    for j in np.flatnonzero(has):
        aligned[: lengths[j], j] = values[first[j]: last[j] + 1, j]
    mu, omega, alpha, beta = theta.T
    eps2 = np.where(np.arange(span)[:, None] < lengths[None, :], (aligned - mu) ** 2, 0.0)
    bc = _backcast(eps2, lengths)
    h = _variance_path(eps2, omega, alpha, beta, bc)
    for j in np.flatnonzero(has):
        out[first[j]: last[j] + 2, j] = h[: lengths[j] + 1, j]
    return out


def forecast_variances(one_step: np.ndarray, theta: np.ndarray, horizon: int) -> np.ndarray:
    """``k``-step variance forecasts from the one-step ones: ``h_{+1}`` given, then
    ``h_{+k} = omega + (alpha + beta) h_{+k-1}``. ``one_step`` (..., N), ``theta`` (N, 4);
    returns (..., N, horizon).

    Parameters
    ----------
    one_step : ndarray, shape (..., N)
        One-step variances (scaled units).
    theta : ndarray, shape (N, 4)
        ``mu, omega, alpha, beta``.
    horizon : int
        Steps.

    Returns
    -------
    ndarray, shape (..., N, horizon)
    """
    omega, persistence = theta[:, 1], theta[:, 2] + theta[:, 3]
    out = np.empty(one_step.shape + (horizon,))
    out[..., 0] = one_step
    for k in range(1, horizon):
        out[..., k] = omega + persistence * out[..., k - 1]
    return out



def _extended(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return index.append(pd.DatetimeIndex([index[-1] + pd.Timedelta(weeks=1)]))
