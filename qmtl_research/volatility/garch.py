"""GARCH(1,1): the one estimation home of the project (stage 1 and the risk engine's FHS).

Model (per fund, on returns ``y_t`` divided by the fund's ``scale``)::

    y_t = mu + e_t,   e_t = sqrt(h_t) z_t,   z_t iid N(0, 1)   (Gaussian quasi-likelihood)
    h_t = omega + alpha e_{t-1}^2 + beta h_{t-1}
    h_0 = omega + (alpha + beta) * backcast

Estimation maximises the Gaussian log-likelihood with **the objective of** ``arch``
(``arch_model(y, mean="Constant"|"Zero", vol="GARCH", p=1, q=1, dist="normal")``):
the same backcast (exponentially weighted mean of the first ``min(75, n)`` squared
residuals, weights ``0.94**k``, residuals at the sample mean during estimation), the
same bounds (``omega`` in ``[1e-8 v, 10 v]`` with ``v`` the mean squared residual,
``alpha, beta >= 0``) and the constraint ``alpha + beta <= 1``. Tests compare the
estimates, log-likelihoods and forecasts with ``arch``'s.

The variance recursion, the log-likelihood and its analytic derivatives run as compiled loops
over weeks (JAX ``lax.scan`` + ``jit`` in float64, :mod:`.garch_kernels`); the numpy versions
(``_loglik_numpy``, ``_derivatives_numpy``) stay as the reference they are tested against.

Why not call ``arch`` for every fit: one ``arch`` fit costs 2.5-7 ms (SLSQP with
numerical constraint Jacobians), so weekly refits of the paper's 2,585 funds over
~240 test weeks (about 600,000 fits) would take 25-70 CPU minutes. Here all funds of
a refit are estimated together, vectorised over funds, by Fisher scoring (analytic
score and expected information of the Gaussian likelihood) with an active-set
projection for the bounds and a backtracking line search. The likelihood can have several
local maxima, so every estimation starts from several points at once (arch's grid start, one
on ``alpha = 0``, one on ``alpha + beta = 1`` and, for refits, the previous estimates, which
usually converge in 2-4 iterations) and keeps the best: simulated sweeps of warm refits end at
or above arch's log-likelihood on the same sample (tests/test_volatility_garch_refits.py).

Filtering and forecasting use the estimated parameters with the backcast taken from
the first ``min(75, n)`` residuals at the estimated mean (as ``arch``'s
``forecast``): ``h_s`` is the variance of week ``s`` given the returns before ``s``,
and the ``k``-step forecasts are ``h_{t+k} = omega + (alpha + beta) h_{t+k-1}``.
``arch``'s variance bounds (a safeguard that clips ``h`` to 1e-6..1e6 times an EWMA
of the squared residuals) are not applied; they do not bind for estimated models.

Entry points:

* :class:`GarchVolatility` - the scikit-learn-style estimator on a returns panel
  (``fit`` really estimates; ``clone`` and ``warm_start`` work);
* :func:`garch_walk_forward` - the walk-forward schedule of stage 1 (refit dates,
  late starts, warm starts) in parallel over chunks of funds;
* :func:`fit_garch_panel` - one estimation per fund on a mask of weeks (CV folds);
* :func:`fit_garch_series` - one series (used by ``risk.var.garch_filter``).
"""
from __future__ import annotations

import contextlib
import math
import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from qmtl_research.errors import InputError
from qmtl_research.parallel import dask_client as _dask_client
from qmtl_research.volatility import garch_batch
from qmtl_research.volatility import garch_kernels as kernels
from qmtl_research.volatility.innovations import fit_student_t_df, tail_factor
from qmtl_research.volatility.targets import ANNUALISE_PCT, expected_target_vol, realized_vol

PARAM_NAMES = ("mu", "omega", "alpha", "beta")
LOG_2PI = math.log(2.0 * math.pi)
BACKCAST_OBS = 75          # arch: backcast from the first 75 residuals
BACKCAST_DECAY = 0.94
OMEGA_BOUNDS = (1e-8, 10.0)  # times the mean squared residual (arch)

# degenerate-fit diagnostics (flags in GarchVolatility.diagnostics_)
PERSISTENCE_LIMIT = 0.999    # alpha + beta at or above: (near-)integrated variance
BETA_ZERO = 1e-4             # beta below this counts as 0 ...
LARGE_ALPHA = 0.2            # ... and together with alpha above this: an ARCH(1) spike model
NEAR_CONSTANT_SHARE = 0.5    # fewer distinct returns than this share of the sample: a tick-rounded NAV
BOUND_TOL = 1e-6             # a parameter within this of a bound is "on the bound"
SCORE_TOL = 1e-10            # optimiser: converged when g' I^-1 g (free parameters) is below this
WARM_MAX_ITER = 30           # a warm start not converged by then restarts from the grid of starting values

# the optimiser loop: "numpy" (a Python loop over iterations, compiled sums over weeks) or "compiled"
# (garch_batch: the whole loop in one XLA program; the same optimum to 1e-12, tests/test_volatility_garch_batch.py).
# Default "numpy": measured on this shared 2-core machine the compiled loop was 1.8x faster on 500 funds
# but not faster on 2,585 (17.8 s vs 18.7 s cold fit; yearly walk-forward 58 s vs 46 s with a warm
# .cache/jax, 215 s with a cold one: each new (weeks, width) shape compiles for ~40 s under load).
ENGINE = "numpy"

_STARTING_ALPHAS = (0.01, 0.05, 0.1, 0.2)          # arch's grid of starting values
_STARTING_PERSISTENCE = (0.5, 0.7, 0.9, 0.98)


_LIMITED = threading.local()


@contextlib.contextmanager
def _one_blas_thread():
    """One BLAS thread while estimating (the optimiser's path, so the last digits of the
    estimates, must not depend on the backend or the number of workers); re-entrant."""
    if getattr(_LIMITED, "on", False):
        yield
        return
    _LIMITED.on = True
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        _LIMITED.on = False


# ---------------------------------------------------------------------------------------------
# batched engine: columns = series (funds), rows = observations, left-aligned, masked
# ---------------------------------------------------------------------------------------------
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


@dataclass
class _Batch:
    y: np.ndarray          # (L, N) left-aligned observations, 0 beyond each length
    mask: np.ndarray       # (L, N) True on observations
    lengths: np.ndarray    # (N,)
    zero_mean: bool
    backcast: np.ndarray   # (N,) estimation backcast (residuals at the sample mean)
    omega_lo: np.ndarray
    omega_hi: np.ndarray
    n_obs: np.ndarray      # float lengths


def _make_batch(y: np.ndarray, mask: np.ndarray, zero_mean: bool) -> _Batch:
    lengths = mask.sum(axis=0)
    n = lengths.astype(float)
    ybar = np.zeros(y.shape[1]) if zero_mean else _tsum(y * mask) / n
    r0 = np.where(mask, y - ybar, 0.0)
    v = _tsum(r0 ** 2) / n
    return _Batch(y=y, mask=mask, lengths=lengths, zero_mean=zero_mean, backcast=_backcast(r0 ** 2, lengths),
                  omega_lo=OMEGA_BOUNDS[0] * v, omega_hi=OMEGA_BOUNDS[1] * v, n_obs=n)


def _loglik(b: _Batch, theta: np.ndarray) -> np.ndarray:
    """Gaussian log-likelihood per column (-inf where the variance path is not positive/finite);
    the compiled kernel (:func:`~qmtl_research.volatility.garch_kernels.loglik`)."""
    return kernels.loglik(b.y, b.mask, theta, b.backcast)


def _loglik_numpy(b: _Batch, theta: np.ndarray) -> np.ndarray:
    """:func:`_loglik` with numpy, a Python loop over weeks (the reference for the compiled kernel)."""
    mu, omega, alpha, beta = theta.T
    eps = b.y - mu
    eps2 = eps ** 2
    h = _variance_path(eps2, omega, alpha, beta, b.backcast)[:-1]
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
    ll, linear, sum_eh, cross, info, outer, sum_inv = kernels.derivative_sums(b.y, b.mask, theta, b.backcast)
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
    mu, omega, alpha, beta = theta.T
    eps = b.y - mu
    eps2 = eps ** 2
    h = _variance_path(eps2, omega, alpha, beta, b.backcast)[:-1]
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
        score = linear[:, :4].copy()
        e_h = eps * inv_h
        score[:, 0] += _tsum(e_h)
        second = linear[:, 4:]
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
        info[:, 0, 0] += sum_inv
        hess = -outer
        for k, (i, j) in enumerate(_SECOND):
            hess[:, i, j] += second[:, k]
            if i != j:
                hess[:, j, i] += second[:, k]
        hess[:, 0, :] -= cross
        hess[:, :, 0] -= cross
        hess[:, 0, 0] -= sum_inv
    return ll, score, info, -hess


# feasible set A theta >= c: omega >= lo, -omega >= -hi, alpha >= 0, beta >= 0, -alpha - beta >= -1
_A = np.array([[0, 1, 0, 0], [0, -1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, -1, -1]], dtype=float)


def _slack(b: _Batch, theta: np.ndarray) -> np.ndarray:
    c = np.column_stack([b.omega_lo, -b.omega_hi, np.zeros(len(theta)), np.zeros(len(theta)),
                         -np.ones(len(theta))])
    return theta @ _A.T - c


def _project(b: _Batch, theta: np.ndarray) -> np.ndarray:
    """Clip into the feasible set (used for starting values and after a step)."""
    out = theta.copy()
    out[:, 1] = np.clip(out[:, 1], b.omega_lo, b.omega_hi)
    out[:, 2:] = np.clip(out[:, 2:], 0.0, 1.0)
    over = out[:, 2] + out[:, 3] - 1.0
    fix = over > 0
    out[fix, 2:] -= over[fix, None] / 2.0
    out[:, 2:] = np.clip(out[:, 2:], 0.0, 1.0)
    if b.zero_mean:
        out[:, 0] = 0.0
    return out


def _grid_start(b: _Batch) -> np.ndarray:
    """arch's grid of starting values (alpha x persistence), best log-likelihood per column."""
    n = b.y.shape[1]
    v = b.omega_hi / OMEGA_BOUNDS[1]
    mu = np.zeros(n) if b.zero_mean else _tsum(b.y * b.mask) / b.n_obs
    cands = [np.column_stack([mu, v * (1.0 - p), np.full(n, a), np.full(n, p - a)])
             for a in _STARTING_ALPHAS for p in _STARTING_PERSISTENCE if p - a > 0]
    # --- issue #20 hook: with the compiled engine, the 16 candidates in one program (garch_batch) ---
    if ENGINE == "compiled":
        return garch_batch.grid_start(b.y, b.mask, b.backcast, np.stack(cands))
    best, best_ll = None, np.full(n, -np.inf)
    for cand in cands:
        ll = _loglik(b, cand)
        take = ll > best_ll
        best = cand if best is None else np.where(take[:, None], cand, best)
        best_ll = np.where(take, ll, best_ll)
    return best


@dataclass
class _Estimates:
    theta: np.ndarray
    loglik: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    message: list


def _estimate(b: _Batch, start: np.ndarray | None, max_iter=200, tol: float = 1e-11) -> _Estimates:
    """Maximise the log-likelihood for every column (independently: each column's path does not
    depend on the others, so results do not depend on how funds are batched). ``max_iter``: an int
    or one limit per column."""
    n = b.y.shape[1]
    limit = np.broadcast_to(np.asarray(max_iter, dtype=int), (n,))
    theta = np.full((n, 4), np.nan) if start is None else np.array(start, dtype=float)
    cold = ~np.isfinite(theta).all(axis=1)
    if cold.any():
        theta[cold] = _grid_start(_subset(b, np.flatnonzero(cold)))
    theta = _project(b, theta)
    n_iter = np.zeros(n, dtype=int)
    converged = np.zeros(n, dtype=bool)
    ll_final = np.full(n, np.nan)
    # --- issue #20 hook: the whole loop below runs compiled (garch_batch.estimate, the same algorithm);
    # the numpy loop stays as its reference (ENGINE = "numpy": tests compare the two) ---
    if ENGINE == "compiled":
        theta, ll_final, n_iter, converged, live = garch_batch.estimate(
            b.y, b.mask, b.backcast, b.omega_lo, b.omega_hi, theta, limit, b.zero_mean, tol, BOUND_TOL, SCORE_TOL)
        messages = ["" if ok else "the likelihood is not finite at the starting values" for ok in live]
        limit_max = 0
    else:
        live = np.isfinite(_loglik(b, theta))
        messages = ["" if ok else "the likelihood is not finite at the starting values" for ok in live]
        limit_max = int(limit.max(initial=0))
    for _ in range(limit_max):
        idx = np.flatnonzero(live & ~converged & (n_iter < limit))
        if not len(idx):
            break
        sb = _subset(b, idx)
        th = theta[idx]
        ll, g, info, observed = _derivatives(sb, th)
        slack = _slack(sb, th)
        rate = g @ _A.T                                        # d(slack)/ds along the gradient
        scale_tol = BOUND_TOL * np.maximum(1.0, np.abs(np.column_stack([sb.omega_lo, sb.omega_hi,
                                                                         np.ones((len(idx), 3))])))
        at_bound = slack <= scale_tol
        active = at_bound & (rate < 0)
        for _pass in range(_A.shape[0]):
            d, score_stat = _projected_newton(active, g, observed, info, sb.zero_mean)
            blocked = at_bound & ~active & ((d @ _A.T) < 0)     # Newton step leaves the set: add the bound
            if not blocked.any():
                break
            active |= blocked
        decrement = (g * d).sum(axis=1)
        # converged: no ascent predicted, or the score statistic (twice the log-likelihood distance
        # to the optimum under the model) is below 1e-8, far inside any statistical precision
        done = ~(decrement > tol) | ~np.isfinite(decrement) | (score_stat <= SCORE_TOL)
        # step: the largest feasible fraction of the Newton step, then backtracking (Armijo)
        drate = d @ _A.T
        with np.errstate(divide="ignore", invalid="ignore"):
            limits = np.where((drate < 0) & ~active, np.maximum(slack, 0.0) / -drate, np.inf)
        step = np.minimum(1.0, limits.min(axis=1))
        accepted = done.copy()
        new = th.copy()
        new_ll = ll.copy()
        for _halving in range(40):
            todo = np.flatnonzero(~accepted)
            if not len(todo):
                break
            trial = _project(_subset(sb, todo), th[todo] + step[todo, None] * d[todo])
            tl = _loglik(_subset(sb, todo), trial)
            ok = tl >= ll[todo] + 1e-4 * step[todo] * decrement[todo]
            new[todo[ok]] = trial[ok]
            new_ll[todo[ok]] = tl[ok]
            accepted[todo[ok]] = True
            step[todo[~ok]] *= 0.5
        stalled = ~accepted                                     # no ascent found: at the optimum (to rounding)
        theta[idx] = new
        ll_final[idx] = np.where(done | stalled, ll, new_ll)
        n_iter[idx] += 1
        tiny = (np.abs(new - th) <= 1e-10 * (1.0 + np.abs(th))).all(axis=1)
        flat = (new_ll - ll) <= 1e-12 * (1.0 + np.abs(ll))          # a flat ridge: no gain left to make
        converged[idx] = done | stalled | tiny | flat
    for j in np.flatnonzero(live & ~converged):
        messages[j] = f"the optimiser did not converge in {limit[j]} iterations"
    missing = np.isnan(ll_final) & live
    if missing.any():
        ll_final[missing] = _loglik(_subset(b, np.flatnonzero(missing)), theta[missing])
    return _Estimates(theta=theta, loglik=ll_final, n_iter=n_iter, converged=converged & live, message=messages)


NO_ARCH_PERSISTENCE = 0.9    # the second cold start: alpha = 0, beta = 0.9, omega = 0.1 v


def _no_arch_start(b: _Batch) -> np.ndarray:
    """Starting values on the bound ``alpha = 0``: ``mu`` the sample mean (0 for a zero mean),
    ``beta = 0.9``, ``omega = (1 - beta) v`` (``v`` the mean squared residual)."""
    n = b.y.shape[1]
    v = b.omega_hi / OMEGA_BOUNDS[1]
    mu = np.zeros(n) if b.zero_mean else _tsum(b.y * b.mask) / b.n_obs
    return np.column_stack([mu, v * (1.0 - NO_ARCH_PERSISTENCE), np.zeros(n), np.full(n, NO_ARCH_PERSISTENCE)])


LL_TIE = 1e-9                # log-likelihoods this close: the same optimum (multi-start keeps the earlier)
INTEGRATED_START = (0.01, 0.99, 1e-3)   # the third cold start: alpha, beta, omega / v (persistence 1)


def _integrated_start(b: _Batch) -> np.ndarray:
    """Starting values on the bound ``alpha + beta = 1``: ``alpha = 0.01``, ``beta = 0.99``,
    ``omega = 0.001 v`` (a variance that drifts slowly from the backcast)."""
    start = _no_arch_start(b)
    start[:, 1:] = np.column_stack([b.omega_hi / OMEGA_BOUNDS[1] * INTEGRATED_START[2],
                                    np.full(len(start), INTEGRATED_START[0]), np.full(len(start), INTEGRATED_START[1])])
    return start


def _stack(b: _Batch, k: int) -> _Batch:
    """``k`` copies of the batch side by side (one per starting value)."""
    return _subset(b, np.tile(np.arange(b.y.shape[1]), k))


def _multi_start(b: _Batch, warm: np.ndarray | None, max_iter: int) -> _Estimates:
    """Estimate every column from several starting values at once and keep the best converged fit.

    The Gaussian GARCH(1,1) likelihood can have several local maxima (an interior one and better
    ones on a bound: ``alpha = 0`` with a slowly moving variance, or ``alpha + beta = 1``); which one
    a local optimiser reaches depends on the start, and arch's SLSQP, started from its grid, can
    reach one where Newton steps from the same start do not. Starts: arch's grid (the best of its
    16 points), :func:`_no_arch_start`, :func:`_integrated_start` and, for warm refits, the previous
    estimates (at most :data:`WARM_MAX_ITER` iterations; a warm start that crawls near a saddle is
    left to the others). ``n_iter`` is the iterations of the kept start. Fits within :data:`LL_TIE` of
    the best are the same optimum: the earliest start among them is kept (warm first), so a refit
    keeps its warm path unless another start is really better.
    """
    n = b.y.shape[1]
    starts = [np.full((n, 4), np.nan), _no_arch_start(b), _integrated_start(b)]
    limits = [max_iter] * 3
    if warm is not None:
        starts.insert(0, np.asarray(warm, dtype=float))
        limits.insert(0, min(max_iter, WARM_MAX_ITER))
    k = len(starts)
    res = _estimate(_stack(b, k), np.vstack(starts), np.repeat(limits, n))
    ll = np.where(res.converged, res.loglik, -np.inf).reshape(k, n)
    with np.errstate(invalid="ignore"):
        near_best = ll >= ll.max(axis=0) - LL_TIE
    best = np.argmax(near_best, axis=0)                           # the earliest start within LL_TIE of the best
    pick = best * n + np.arange(n)
    none = ~res.converged.reshape(k, n).any(axis=0)
    pick[none] = np.arange(n)[none]                               # none converged: report the first start
    return _Estimates(theta=res.theta[pick], loglik=res.loglik[pick], n_iter=res.n_iter[pick],
                      converged=res.converged[pick], message=[res.message[i] for i in pick])


def _residual_df(b: _Batch, theta: np.ndarray) -> np.ndarray:
    """Student-t degrees of freedom of each column's standardised residuals ``(y - mu) / sqrt(h)``
    at the estimates (:func:`~qmtl_research.volatility.innovations.fit_student_t_df`)."""
    mu, omega, alpha, beta = theta.T
    eps = b.y - mu
    h = _variance_path(eps ** 2, omega, alpha, beta, b.backcast)[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(b.mask, eps / np.sqrt(h), 0.0)
    return fit_student_t_df(z, b.mask)


def _projected_newton(active: np.ndarray, g: np.ndarray, observed: np.ndarray, info: np.ndarray,
                      zero_mean: bool) -> np.ndarray:
    """Ascent direction in the null space of the active constraints: Newton with the observed
    curvature where it is positive definite on that space (quadratic convergence near the optimum,
    also when the Gaussian likelihood is misspecified), else Fisher scoring (expected information).
    Also returns the score statistic ``g' I^-1 g`` (expected information) on that space."""
    eye = np.eye(4)
    rows = _A[None, :, :] * active[:, :, None]
    if zero_mean:
        rows = np.concatenate([rows, np.broadcast_to(np.array([[1.0, 0, 0, 0]]), (len(g), 1, 4))], axis=1)
    rows_t = np.transpose(rows, (0, 2, 1))
    proj = eye - rows_t @ np.linalg.pinv(rows @ rows_t) @ rows
    pg = (proj @ g[:, :, None])[:, :, 0]
    system = proj @ observed @ proj + (eye - proj)
    ok = np.isfinite(system).all(axis=(1, 2))
    ok[ok] = np.linalg.eigvalsh(system[ok])[:, 0] > 0
    system = np.where(ok[:, None, None], system, proj @ info @ proj + (eye - proj))
    d = _solve(system, pg)
    fisher = _solve(proj @ info @ proj + (eye - proj), pg)
    score_stat = (pg * fisher).sum(axis=1)                   # g' I^-1 g on the free parameters
    return (proj @ d[:, :, None])[:, :, 0], score_stat


def _solve(system: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(system, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        return np.stack([np.linalg.lstsq(sm, v, rcond=None)[0] for sm, v in zip(system, rhs)])


def _subset(b: _Batch, idx: np.ndarray) -> _Batch:
    return _Batch(y=b.y[:, idx], mask=b.mask[:, idx], lengths=b.lengths[idx], zero_mean=b.zero_mean,
                  backcast=b.backcast[idx], omega_lo=b.omega_lo[idx], omega_hi=b.omega_hi[idx], n_obs=b.n_obs[idx])


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
    returns (..., N, horizon)."""
    omega, persistence = theta[:, 1], theta[:, 2] + theta[:, 3]
    out = np.empty(one_step.shape + (horizon,))
    out[..., 0] = one_step
    for k in range(1, horizon):
        out[..., k] = omega + persistence * out[..., k - 1]
    return out


# ---------------------------------------------------------------------------------------------
# the estimator
# ---------------------------------------------------------------------------------------------
def _returns_frame(X) -> pd.DataFrame:
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if not isinstance(X, pd.DataFrame):
        raise InputError(f"GarchVolatility needs a DataFrame of weekly returns, got {type(X).__name__}",
                         where="GarchVolatility.fit/predict(X)", fix="pass panel.returns (dates x funds)")
    return X


def diagnose(theta: np.ndarray, omega_lo: np.ndarray, omega_hi: np.ndarray, n_distinct=None, n_obs=None) -> list[str]:
    """Flags of degenerate GARCH(1,1) fits, one string per row (``""`` = none), separated by ``"; "``:

    * ``near-constant returns`` when ``n_distinct`` (distinct return values of the estimation sample)
      is below :data:`NEAR_CONSTANT_SHARE` of ``n_obs``: a NAV rounded to its tick (a money-market
      fund), whose variance dynamics are weakly identified (the estimates still reach arch's optimum);

    * ``persistence >= 0.999`` (``alpha + beta``; near-integrated variance, forecasts do not mean-revert);
    * ``beta = 0 with alpha >= 0.2`` (``beta < 1e-4``: an ARCH(1) spike model, no smoothing);
    * ``<name> on a bound`` for ``alpha = 0``, ``beta = 0``, ``alpha + beta = 1``, ``omega`` at its lower
      or upper bound (within 1e-6, relative for omega).
    """
    out = []
    n_rows = len(theta)
    distinct = np.full(n_rows, np.inf) if n_distinct is None else np.asarray(n_distinct, dtype=float)
    obs = np.full(n_rows, np.inf) if n_obs is None else np.asarray(n_obs, dtype=float)
    for (mu, om, a, b_), lo, hi, k, n in zip(theta, omega_lo, omega_hi, distinct, obs):
        flags = []
        if k < NEAR_CONSTANT_SHARE * n:
            flags.append(f"near-constant returns: {int(k)} distinct values in {int(n)}")
        if a + b_ >= PERSISTENCE_LIMIT:
            flags.append(f"persistence alpha+beta = {a + b_:.4f} >= {PERSISTENCE_LIMIT}")
        if b_ < BETA_ZERO and a >= LARGE_ALPHA:
            flags.append(f"beta = 0 with alpha = {a:.3f} >= {LARGE_ALPHA}")
        if a <= BOUND_TOL:
            flags.append("alpha on its bound 0")
        if b_ <= BOUND_TOL:
            flags.append("beta on its bound 0")
        if 1.0 - a - b_ <= BOUND_TOL:
            flags.append("alpha+beta on its bound 1")
        if om <= lo * (1 + BOUND_TOL):
            flags.append("omega on its lower bound")
        if om >= hi * (1 - BOUND_TOL):
            flags.append("omega on its upper bound")
        out.append("; ".join(flags))
    return out


class GarchVolatility(BaseEstimator):
    """GARCH(1,1) per fund, a scikit-learn-style estimator on a weekly returns panel.

    ``X`` is a DataFrame of weekly simple returns (index = week-end dates, columns =
    fund ids; NaN outside a fund's history). GARCH is a per-fund time-series model:
    ``fit`` estimates every fund with at least ``min_train_obs`` returns in ``X``
    (all its non-missing returns, in date order), ``predict`` forecasts from returns
    up to each date with those fixed parameters.

    Parameters
    ----------
    mean : {"Constant", "Zero"}
        Mean model (``mu`` estimated, or 0).
    min_train_obs : int
        Returns a fund needs for estimation (>= 75, so the backcast uses estimation data only).
    horizon : int
        Weeks in the forecast target (4 = one month).
    warm_start : bool
        Like scikit-learn's ``warm_start``: a new ``fit`` starts from the previous
        estimates of a fund (and keeps its ``scale``); funds absent from the new ``X``
        keep their previous fit.
    max_iter : int
        Fisher-scoring iterations per fit.
    innovations : {"student-t", "normal"}
        The innovation law under which variance forecasts are mapped to the expected 1-month
        target: a unit-variance Student-t with ``nu`` fitted to the fund's standardised residuals
        (:mod:`~qmtl_research.volatility.innovations`), or Gaussian (``nu = inf``). Estimation is
        Gaussian (quasi-)maximum likelihood either way.

    Attributes (after ``fit``)
    --------------------------
    params_ : DataFrame (fund_id x mu, omega, alpha, beta)
        Estimates for returns divided by ``scale_`` (``alpha``, ``beta`` are scale-free).
    scale_ : Series
        The std (ddof=1) of the fund's first estimation sample.
    diagnostics_ : DataFrame
        Per fitted fund: ``n_obs, loglik, n_iter, persistence, flags, tail_df, degenerate``
        (``tail_df``: the Student-t degrees of freedom of the standardised residuals, ``inf`` =
        Gaussian, used by :meth:`predict`).
    failures_ : dict
        fund_id -> why it was not estimated (too short, constant, not converged).
    """

    def __init__(self, mean: str = "Constant", min_train_obs: int = 104, horizon: int = 4,
                 warm_start: bool = False, max_iter: int = 200, innovations: str = "student-t"):
        self.mean = mean
        self.min_train_obs = min_train_obs
        self.horizon = horizon
        self.warm_start = warm_start
        self.max_iter = max_iter
        self.innovations = innovations

    def fit(self, X, y=None):
        """Estimate every fund of ``X`` with enough returns (``y`` is ignored)."""
        if self.mean not in ("Constant", "Zero"):
            raise InputError(f"unknown GARCH mean model {self.mean!r}", where="GarchVolatility(mean=...)",
                             fix="use 'Constant' or 'Zero'")
        if self.innovations not in ("student-t", "normal"):
            raise InputError(f"unknown innovation law {self.innovations!r}", where="GarchVolatility(innovations=...)",
                             fix="use 'student-t' or 'normal'")
        X = _returns_frame(X)
        warm = self.warm_start and hasattr(self, "_theta")
        theta = dict(self._theta) if warm else {}
        scale = dict(self._scale) if warm else {}
        diag = dict(self._diag) if warm else {}
        failures = dict(self.failures_) if warm else {}
        values = X.to_numpy(dtype=float, na_value=np.nan)
        funds = [str(f) for f in X.columns]
        finite = np.isfinite(values)
        counts = finite.sum(axis=0)
        chosen, cols, scales = [], [], []
        for j, fid in enumerate(funds):
            if counts[j] < self.min_train_obs:
                failures[fid] = (f"too short a history for GARCH estimation: {int(counts[j])} returns, "
                                 f"at least {self.min_train_obs} needed")
                theta.pop(fid, None)
                continue
            s = scale.get(fid, np.nan)
            sample = values[finite[:, j], j]
            if not np.isfinite(s):
                s = float(np.std(sample, ddof=1))
            if not np.isfinite(s) or s == 0.0 or np.ptp(sample) == 0.0:
                failures[fid] = "constant returns: GARCH cannot be estimated"
                theta.pop(fid, None)
                continue
            chosen.append(fid)
            cols.append(j)
            scales.append(s)
        if chosen:
            scales = np.asarray(scales)
            y_al, mask = _left_align(values[:, cols] / scales)
            batch = _make_batch(y_al, mask, self.mean == "Zero")
            start = np.array([theta.get(fid, np.full(4, np.nan)) for fid in chosen]) if warm else None
            with _one_blas_thread():
                est = _multi_start(batch, start, self.max_iter)
            distinct = [len(np.unique(values[finite[:, j], j])) for j in cols]
            flags = diagnose(est.theta, batch.omega_lo, batch.omega_hi, distinct, batch.lengths)
            tail_df = (_residual_df(batch, est.theta) if self.innovations == "student-t"
                       else np.full(len(chosen), np.inf))
            for k, fid in enumerate(chosen):
                if not est.converged[k]:
                    failures[fid] = f"GARCH(1,1) estimation failed: {est.message[k]}"
                    theta.pop(fid, None)
                    continue
                failures.pop(fid, None)
                theta[fid] = est.theta[k]
                scale[fid] = float(scales[k])
                diag[fid] = (float(batch.lengths[k]), float(est.loglik[k]), float(est.n_iter[k]),
                             float(est.theta[k, 2] + est.theta[k, 3]), float(batch.omega_lo[k]),
                             float(batch.omega_hi[k]), flags[k], float(tail_df[k]))
        self._theta, self._scale, self._diag = theta, scale, diag
        self.failures_ = failures
        self.n_features_in_ = X.shape[1]
        self.last_fit_funds_ = [f for f in chosen if f in theta]
        return self

    @property
    def params_(self) -> pd.DataFrame:
        check_is_fitted(self, "_theta")
        ids = list(self._theta)
        arr = np.array([self._theta[f] for f in ids]).reshape(len(ids), 4)
        return pd.DataFrame(arr, index=pd.Index(ids, name="fund_id"), columns=list(PARAM_NAMES))

    @property
    def scale_(self) -> pd.Series:
        check_is_fitted(self, "_theta")
        ids = list(self._theta)
        return pd.Series([self._scale[f] for f in ids], index=pd.Index(ids, name="fund_id"), dtype=float)

    @property
    def diagnostics_(self) -> pd.DataFrame:
        check_is_fitted(self, "_theta")
        ids = list(self._theta)
        frame = pd.DataFrame([self._diag[f] for f in ids], index=pd.Index(ids, name="fund_id"),
                             columns=["n_obs", "loglik", "n_iter", "persistence", "omega_lower", "omega_upper",
                                      "flags", "tail_df"])
        frame["degenerate"] = frame["flags"] != ""
        return frame

    # ----------------------------------------------------------------- forecasts
    def _fitted(self, X, funds=None) -> tuple[pd.DataFrame, list[str]]:
        check_is_fitted(self, "_theta")
        X = _returns_frame(X)
        cols = map(str, X.columns) if funds is None else funds
        return X, [f for f in cols if f in self._theta]

    def _tail_factors(self, funds) -> np.ndarray:
        return tail_factor([self._diag[f][7] for f in funds]) if len(funds) else np.empty(0)

    def _arrays(self, funds):
        return (np.array([self._theta[f] for f in funds]).reshape(len(funds), 4),
                np.array([self._scale[f] for f in funds], dtype=float))

    def one_step_variances(self, X) -> pd.DataFrame:
        """Variance of each week's scaled return given the returns before it (rows = ``X.index``
        plus the week after the last; columns = fitted funds of ``X``)."""
        X, funds = self._fitted(X)
        theta, scales = self._arrays(funds)
        h = _filter_columns(X[funds].to_numpy(dtype=float, na_value=np.nan) / scales, theta)
        return pd.DataFrame(h, index=_extended(X.index), columns=pd.Index(funds, name="fund_id"))

    def conditional_vol(self, X) -> pd.DataFrame:
        """``r``: the conditional volatility of each week (data before it), annualised percent
        ``sqrt(h_s) * scale * sqrt(52) * 100``; one extra row for the week after the last."""
        h = self.one_step_variances(X)
        return np.sqrt(h) * self._arrays(list(h.columns))[1] * ANNUALISE_PCT

    def predict(self, X, rows: slice | None = None) -> pd.DataFrame:
        """Forecast of the 1-month target made at each date of ``X.index`` (its info date, or the
        positions ``rows`` only): the expected sample std (ddof=1) of the next ``horizon`` weekly
        returns, annualised percent, under the fitted innovation law
        (:func:`~qmtl_research.volatility.targets.expected_target_vol` times
        :func:`~qmtl_research.volatility.innovations.tail_factor`)."""
        h = self.one_step_variances(X)
        return self._map(h, rows)

    def _map(self, h: pd.DataFrame, rows: slice | None) -> pd.DataFrame:
        funds = list(h.columns)
        theta, scales = self._arrays(funds)
        info = h.index[:-1]
        nxt = h.to_numpy()[1:]
        if rows is not None:
            info, nxt = info[rows], nxt[rows]
        path = forecast_variances(nxt, theta, self.horizon)          # info date d -> weeks d+1..d+horizon
        ok = np.isfinite(path).all(axis=-1)
        out = np.full(ok.shape, np.nan)
        factor = np.broadcast_to(scales * self._tail_factors(funds), ok.shape)
        out[ok] = expected_target_vol(path[ok], factor[ok])
        return pd.DataFrame(out, index=info, columns=h.columns)

    def score(self, X, y=None) -> float:
        """``-RMSE`` (percentage points) of :meth:`predict` against the realised 1-month target of ``X``."""
        pred = self.predict(X)
        realised = realized_vol(_returns_frame(X)[pred.columns], self.horizon).shift(-self.horizon)
        err = (realised - pred).to_numpy().ravel()
        err = err[np.isfinite(err)]
        return -float(np.sqrt(np.mean(err ** 2))) if len(err) else float("nan")


# ---------------------------------------------------------------------------------------------
# one series (the risk engine)
# ---------------------------------------------------------------------------------------------
@dataclass
class SeriesFit:
    """GARCH(1,1) of one return series, in the series' units."""

    mu: float
    omega: float
    alpha: float
    beta: float
    cond_vol: np.ndarray       # sigma_t of each observation (data before t)
    std_resid: np.ndarray      # (r_t - mu) / sigma_t
    sigma_next: float          # one-step-ahead volatility after the last observation
    flags: str


def fit_garch_series(returns, mean: str = "Constant") -> SeriesFit:
    """Estimate GARCH(1,1) on one series (all its values; at least 75) with :class:`GarchVolatility`;
    returns parameters in the series' units (``omega`` in squared units), conditional
    volatilities, standardised residuals and the next volatility."""
    r = np.asarray(returns, dtype=float)
    frame = pd.DataFrame({"series": r}, index=pd.date_range("2000-01-07", periods=len(r), freq="W-FRI"))
    est = GarchVolatility(mean=mean, min_train_obs=min(BACKCAST_OBS, len(r))).fit(frame)
    if "series" not in est._theta:
        raise InputError(f"GARCH(1,1) could not be estimated: {est.failures_.get('series')}",
                         where="fit_garch_series", fix="check the return series (length, constant values)")
    (mu, omega, alpha, beta), s = est._theta["series"], float(est._scale["series"])
    h = est.one_step_variances(frame)["series"].to_numpy()
    vol = np.sqrt(h) * s
    return SeriesFit(mu=mu * s, omega=omega * s * s, alpha=alpha, beta=beta, cond_vol=vol[:-1],
                     std_resid=(r - mu * s) / vol[:-1], sigma_next=float(vol[-1]),
                     flags=est._diag["series"][6])


# ---------------------------------------------------------------------------------------------
# panels: walk-forward schedule and one-shot masks
# ---------------------------------------------------------------------------------------------
@dataclass
class GarchPanelResult:
    """GARCH output on a date grid ``dates`` (the panel's weeks plus one extra week).

    Attributes
    ----------
    cond_vol:
        dates x funds: ``r`` of each week (annualised %, data before the week), from the
        estimation in force for that week (weeks before a fund's first estimation:
        that first estimation, in sample).
    forecast:
        dates x funds, indexed by forecast origin ``t``: the 1-month forecast (%) for
        weeks ``t..t+horizon-1`` from returns up to ``t-1`` (NaN where no estimation
        made before ``t`` applies, except in :func:`fit_garch_panel`, which back-fills).
    fit_pos:
        dates x funds (int): grid position of the estimation that produced the row
        (its data end strictly before it); -1 where none.
    params:
        one row per fund and estimation: ``fund_id, fit_date``, ``mu, omega, alpha, beta``,
        ``scale, n_obs, loglik, n_iter, persistence, tail_df, tail_factor, flags, degenerate``.
    failures:
        ``{"fund_id", "step": "garch", "message"}`` rows (with the fit date in the message).
    """

    cond_vol: pd.DataFrame
    forecast: pd.DataFrame
    fit_pos: pd.DataFrame
    params: pd.DataFrame
    failures: list[dict] = field(default_factory=list)


def _estimation_events(first: int, n_ret: int, refit_positions: list[int], min_obs: int, late_start: bool,
                       last_origin: int) -> list[int]:
    """Grid positions at which a fund (first return at ``first``, ``n_ret`` returns) is estimated."""
    if n_ret == 0:
        return []
    eligible = first + min_obs                       # first position with min_obs returns before it
    events = [p for p in refit_positions if p >= eligible]
    if late_start and refit_positions and eligible > refit_positions[0] and eligible <= last_origin \
            and eligible not in events:
        events.append(eligible)
    return sorted(events)


def _param_rows(est: GarchVolatility, funds: list[str], fit_date) -> pd.DataFrame:
    """The estimation table rows of ``funds`` (fitted by ``est``'s last ``fit``)."""
    theta, scales = est._arrays(funds)
    diag = [est._diag[f] for f in funds]
    flags = [d[6] for d in diag]
    return pd.DataFrame({"fund_id": funds, "fit_date": [fit_date] * len(funds),
                         **{name: theta[:, k] for k, name in enumerate(PARAM_NAMES)},
                         "scale": scales, "n_obs": [int(d[0]) for d in diag], "loglik": [d[1] for d in diag],
                         "n_iter": [int(d[2]) for d in diag], "persistence": [d[3] for d in diag],
                         "tail_df": [d[7] for d in diag], "tail_factor": est._tail_factors(funds),
                         "flags": flags, "degenerate": [f != "" for f in flags]})


def _walk_chunk(values: np.ndarray, funds: list[str], refit_positions: list[int], cfg, horizon: int,
                dates: pd.DatetimeIndex) -> dict:
    n_grid = values.shape[0] + 1                     # + the week after the last ("now" origin)
    last_origin = n_grid - 1
    finite = np.isfinite(values)
    first = np.where(finite.any(axis=0), finite.argmax(axis=0), n_grid)
    n_ret = finite.sum(axis=0)
    by_pos: dict[int, list[int]] = {}
    next_event: dict[tuple[int, int], int] = {}
    first_event = np.full(len(funds), -1)
    for j in range(len(funds)):
        ev = _estimation_events(int(first[j]), int(n_ret[j]), refit_positions, cfg.min_train_obs,
                                cfg.late_start, last_origin)
        for k, p in enumerate(ev):
            by_pos.setdefault(p, []).append(j)
            next_event[(j, p)] = ev[k + 1] if k + 1 < len(ev) else n_grid
        if ev:
            first_event[j] = ev[0]
    cond = np.full((n_grid, len(funds)), np.nan)
    fcst = np.full((n_grid, len(funds)), np.nan)
    fpos = np.full((n_grid, len(funds)), -1, dtype=int)
    tables, failures = [], []
    est = GarchVolatility(mean=cfg.mean, min_train_obs=cfg.min_train_obs, horizon=horizon, warm_start=True,
                          max_iter=cfg.max_iter, innovations=cfg.innovations)
    frame = pd.DataFrame(values, index=dates[:-1], columns=funds)
    for pos in sorted(by_pos):
        cols = by_pos[pos]
        now = [funds[j] for j in cols]
        est.fit(frame.iloc[:pos, cols])
        ok = set(est.last_fit_funds_)
        for f in now:
            if f not in ok:
                failures.append({"fund_id": f, "step": "garch",
                                 "message": f"fit {dates[pos].date()}: {est.failures_.get(f, 'not estimated')}"})
        kept = [j for j in cols if funds[j] in ok]
        if not kept:
            continue
        names = [funds[j] for j in kept]
        h = est.one_step_variances(frame.iloc[:, kept])
        r = np.sqrt(h.to_numpy()) * est._arrays(names)[1] * ANNUALISE_PCT
        end = max(next_event[(j, pos)] for j in kept)
        g = est._map(h, slice(pos - 1, end - 1)).to_numpy()       # origins pos .. end-1
        for k, j in enumerate(kept):
            nxt = next_event[(j, pos)]
            lo = 0 if pos == first_event[j] else pos            # back-fill r before the first estimation
            cond[lo:nxt, j] = r[lo:nxt, k]
            fcst[pos:nxt, j] = g[: nxt - pos, k]
            fpos[pos:nxt, j] = pos
        tables.append(_param_rows(est, names, dates[pos]))
        # a fund whose refit failed keeps no forecast for that segment (cond/fcst stay NaN there)
    return {"funds": funds, "cond": cond, "fcst": fcst, "fpos": fpos, "tables": tables, "failures": failures}


PARAM_TABLE_COLUMNS = ["fund_id", "fit_date", *PARAM_NAMES, "scale", "n_obs", "loglik", "n_iter", "persistence",
                       "tail_df", "tail_factor", "flags", "degenerate"]


def _run_chunks(func, chunks, cfg, progress: bool, desc: str) -> list[dict]:
    bar = dict(total=len(chunks), desc=desc, unit="chunk", disable=not progress)
    if cfg.n_jobs == 1 and cfg.backend != "dask":
        return [func(c) for c in tqdm(chunks, **bar)]
    out = []
    if cfg.backend == "dask":
        with _dask_client(cfg.n_jobs), parallel_config(backend="dask"):
            gen = Parallel(n_jobs=cfg.n_jobs, return_as="generator")(delayed(func)(c) for c in chunks)
            out.extend(tqdm(gen, **bar))
    else:
        with parallel_config(backend=cfg.backend):
            gen = Parallel(n_jobs=cfg.n_jobs, return_as="generator")(delayed(func)(c) for c in chunks)
            out.extend(tqdm(gen, **bar))
    return out


def _chunks(n: int, n_jobs: int) -> list[slice]:
    """One chunk per worker (the engine is vectorised over funds: large chunks amortise its
    per-week loop), two per worker when parallel for balance."""
    size = max(1, math.ceil(n / (1 if n_jobs == 1 else 2 * n_jobs)))
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _assemble(parts: list[dict], dates: pd.DatetimeIndex) -> GarchPanelResult:
    funds = [f for p in parts for f in p["funds"]]
    cols = pd.Index(funds, name="fund_id")

    def stack(key, dtype=float):
        arr = np.column_stack([p[key] for p in parts]) if parts else np.empty((len(dates), 0), dtype=dtype)
        return pd.DataFrame(arr, index=dates, columns=cols)

    tables = [t for p in parts for t in p["tables"]]
    params = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=PARAM_TABLE_COLUMNS)
    if len(params):
        order = {f: k for k, f in enumerate(funds)}
        params = params.assign(_o=params["fund_id"].map(order)).sort_values(["fit_date", "_o"], kind="stable")
        params = params.drop(columns="_o").reset_index(drop=True)
    return GarchPanelResult(cond_vol=stack("cond"), forecast=stack("fcst"), fit_pos=stack("fpos", int),
                            params=params, failures=[f for p in parts for f in p["failures"]])


def _extended(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return index.append(pd.DatetimeIndex([index[-1] + pd.Timedelta(weeks=1)]))


def garch_walk_forward(returns: pd.DataFrame, refit_dates, cfg, horizon: int = 4,
                       progress: bool = True) -> GarchPanelResult:
    """GARCH(1,1) along a walk-forward schedule, in parallel over chunks of funds.

    Parameters
    ----------
    returns:
        dates x funds weekly simple returns (fractions); the output grid is these dates
        plus the week after the last (the "now" forecast origin).
    refit_dates:
        Forecast origins (dates of the output grid, increasing) at which every fund with
        at least ``cfg.min_train_obs`` returns before the date is (re-)estimated on all its
        returns **strictly before** it, starting from its previous estimates. With
        ``cfg.late_start`` a fund that reaches ``min_train_obs`` returns between two refit
        dates is also estimated then. Each estimation serves the origins up to the fund's
        next estimation.
    cfg:
        :class:`~qmtl_research.volatility.config.GarchConfig` (mean, min_train_obs,
        late_start, n_jobs, backend, max_iter).
    """
    grid = _extended(returns.index)
    positions = [int(p) for p in grid.get_indexer(pd.DatetimeIndex(list(refit_dates)))]
    if any(p < 0 for p in positions) or positions != sorted(set(positions)):
        raise ValueError("refit dates must be increasing dates of the returns index (or the week after it)")
    values = returns.to_numpy(dtype=float, na_value=np.nan)
    funds = [str(f) for f in returns.columns]

    def job(sl):
        with _one_blas_thread():
            return _walk_chunk(values[:, sl], funds[sl], positions, cfg, horizon, grid)

    parts = _run_chunks(job, _chunks(len(funds), cfg.n_jobs), cfg, progress, "GARCH walk-forward")
    return _assemble(parts, grid)


def fit_garch_panel(returns: pd.DataFrame, train_mask: pd.Series | pd.DataFrame, cfg, horizon: int = 4,
                    progress: bool = True) -> GarchPanelResult:
    """One estimation per fund on the weeks where ``train_mask`` is True (CV folds: the returns
    outside the test block, concatenated), then the filter and forecasts over the whole history
    with those parameters, back-filled to every origin (in sample where the mask covers it).

    With ``cfg.late_start``, a fund with fewer than ``min_train_obs`` masked returns whose mask is
    the start of its history is estimated on its first ``min_train_obs`` returns instead, and gets
    forecasts only from the origin after them. Grid = the returns' dates plus one extra week.
    """
    grid = _extended(returns.index)
    if isinstance(train_mask, pd.Series):
        mask = np.repeat(train_mask.reindex(returns.index, fill_value=False).to_numpy(bool)[:, None],
                         returns.shape[1], axis=1)
    else:
        mask = train_mask.reindex(index=returns.index, columns=returns.columns, fill_value=False).to_numpy(bool)
    values = returns.to_numpy(dtype=float, na_value=np.nan)
    funds = [str(f) for f in returns.columns]

    def job(sl):
        with _one_blas_thread():
            return _mask_chunk(values[:, sl], mask[:, sl], funds[sl], cfg, horizon, grid)

    parts = _run_chunks(job, _chunks(len(funds), cfg.n_jobs), cfg, progress, "GARCH fits")
    return _assemble(parts, grid)


def _mask_chunk(values, mask, funds, cfg, horizon, grid) -> dict:
    n_grid = values.shape[0] + 1
    finite = np.isfinite(values)
    train = np.where(mask & finite, values, np.nan)
    start_from = np.zeros(len(funds), dtype=int)
    if cfg.late_start:
        for j in range(len(funds)):
            n_masked = int(np.isfinite(train[:, j]).sum())
            if n_masked >= cfg.min_train_obs or finite[:, j].sum() <= cfg.min_train_obs:
                continue
            first = int(finite[:, j].argmax())
            if mask[first:first + n_masked, j].all() and not mask[first + n_masked:, j].any():
                train[:, j] = np.nan
                train[first:first + cfg.min_train_obs, j] = values[first:first + cfg.min_train_obs, j]
                start_from[j] = first + cfg.min_train_obs
    est = GarchVolatility(mean=cfg.mean, min_train_obs=cfg.min_train_obs, horizon=horizon,
                          max_iter=cfg.max_iter, innovations=cfg.innovations).fit(pd.DataFrame(train, index=grid[:-1], columns=funds))
    fitted = [f for f in funds if f in est._theta]
    cond = np.full((n_grid, len(funds)), np.nan)
    fcst = np.full((n_grid, len(funds)), np.nan)
    fpos = np.full((n_grid, len(funds)), -1, dtype=int)
    failures = [{"fund_id": f, "step": "garch", "message": est.failures_[f]} for f in funds if f not in fitted]
    tables = []
    if fitted:
        kept = [funds.index(f) for f in fitted]
        frame = pd.DataFrame(values, index=grid[:-1], columns=funds).iloc[:, kept]
        h = est.one_step_variances(frame)
        r = np.sqrt(h.to_numpy()) * est._arrays(fitted)[1] * ANNUALISE_PCT
        g = est._map(h, None).to_numpy()
        for k, j in enumerate(kept):
            cond[:, j] = r[:, k]
            fcst[1:, j] = g[:, k]
            cond[: start_from[j], j] = np.nan          # late start: nothing before the estimation's end
            fcst[: start_from[j], j] = np.nan
            fpos[:, j] = start_from[j]
        table = _param_rows(est, fitted, pd.NaT)
        table["fit_date"] = [grid[start_from[j]] if start_from[j] else pd.NaT for j in kept]
        tables.append(table)
    return {"funds": funds, "cond": cond, "fcst": fcst, "fpos": fpos, "tables": tables, "failures": failures}
