"""The GARCH(1,1) optimiser: every fund of a batch estimated at once, from several starting values.

Why not call ``arch`` for every fit: one ``arch`` fit costs 2.5-7 ms (SLSQP with numerical
constraint Jacobians), so weekly refits of the paper's 2,585 funds over ~240 test weeks (about
600,000 fits) would take 25-70 CPU minutes. Here all funds of a refit are estimated together,
vectorised over funds, by Newton / Fisher scoring (analytic score, observed curvature and
expected information of the Gaussian likelihood, :mod:`.garch_engine`) with an active-set
projection for the bounds (``omega`` in ``[1e-8 v, 10 v]``, ``alpha, beta >= 0``,
``alpha + beta <= 1``, as arch) and a backtracking line search. The likelihood can have several
local maxima, so every estimation starts from several points at once (arch's grid start, one on
``alpha = 0``, one on ``alpha + beta = 1`` and, for refits, the previous estimates, which usually
converge in 2-4 iterations) and keeps the best: simulated sweeps of warm refits end at or above
arch's log-likelihood on the same sample (tests/test_volatility_garch_refits.py).
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from qmtl_research.volatility.projected_newton import newton_iteration, projected_direction
from qmtl_research.volatility.garch_engine import OMEGA_BOUNDS, _Batch, _derivatives, _loglik, _subset

BOUND_TOL = 1e-6             # a parameter within this of a bound is "on the bound"
SCORE_TOL = 1e-10            # optimiser: converged when g' I^-1 g (free parameters) is below this
WARM_MAX_ITER = 30           # a warm start not converged by then restarts from the grid of starting values

# the optimiser loop: "numpy" (a Python loop over iterations, compiled sums over weeks) or "compiled"
# (garch_batch: the whole loop in one XLA program; the same optimum to 1e-12,
# tests/test_volatility_garch_batch.py). Default "numpy": with the stacked derivative kernel both are about
# as fast on this shared 2-core machine (cold fit of 2,585 funds, one bench run at load 5: numpy 3.7 s wall /
# 2.5 s CPU, compiled 5.3 s / 2.8 s), and the compiled loop's programs cost far more to compile on a cold
# .cache/jax (demo panel, yearly walk-forward + 4 CV fits, first process: compiled 137 s wall / 34 s CPU,
# numpy 15 s / 8.6 s; a second run 2.5 s wall with either).
_ZERO_MEAN_ROW = np.array([1.0, 0.0, 0.0, 0.0])   # mu = 0, held when the mean is fixed at zero
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
    n = b.n_series
    v = b.omega_hi / OMEGA_BOUNDS[1]
    mu = b.mean
    cands = [np.column_stack([mu, v * (1.0 - p), np.full(n, a), np.full(n, p - a)])
             for a in _STARTING_ALPHAS for p in _STARTING_PERSISTENCE if p - a > 0]
    if ENGINE == "compiled":        # the 16 candidates in one program (garch_batch)
        from qmtl_research.volatility import garch_batch

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
    n = b.n_series
    limit = np.broadcast_to(np.asarray(max_iter, dtype=int), (n,))
    theta = np.full((n, 4), np.nan) if start is None else np.array(start, dtype=float)
    cold = ~np.isfinite(theta).all(axis=1)
    if cold.any():
        theta[cold] = _grid_start(_subset(b, np.flatnonzero(cold)))
    theta = _project(b, theta)
    n_iter = np.zeros(n, dtype=int)
    converged = np.zeros(n, dtype=bool)
    ll_final = np.full(n, np.nan)
    # ENGINE "compiled": the whole loop below runs in one XLA program (garch_batch.estimate, the same
    # algorithm); the numpy loop stays as its reference (tests compare the two)
    if ENGINE == "compiled":
        from qmtl_research.volatility import garch_batch

        theta, ll_final, n_iter, converged, live = garch_batch.estimate(
            b.y, b.mask, b.backcast, b.omega_lo, b.omega_hi, theta, limit, b.zero_mean, tol, BOUND_TOL, SCORE_TOL)
        limit_max = 0
    else:
        live = np.isfinite(_loglik(b, theta))
        limit_max = int(limit.max(initial=0))
    messages = ["" if ok else "the likelihood is not finite at the starting values" for ok in live]
    for _ in range(limit_max):
        idx = np.flatnonzero(live & ~converged & (n_iter < limit))
        if not len(idx):
            break
        sb = _subset(b, idx)
        th = theta[idx]
        ll, g, info, observed = _derivatives(sb, th)
        slack = _slack(sb, th)
        scale_tol = BOUND_TOL * np.maximum(1.0, np.abs(np.column_stack([sb.omega_lo, sb.omega_hi,
                                                                         np.ones((len(idx), 3))])))

        def trial_loglik(todo, x, sb=sb):
            part = _subset(sb, todo)
            trial = _project(part, x)
            return trial, _loglik(part, trial)

        new, value, done = newton_iteration(
            th, ll, g, slack, scale_tol, _A,
            lambda active, g=g, info=info, observed=observed, zm=sb.zero_mean: _projected_newton(
                active, g, observed, info, zm),
            trial_loglik, tol=tol, score_tol=SCORE_TOL, armijo=1e-4, max_halvings=40)
        theta[idx] = new
        ll_final[idx] = value
        n_iter[idx] += 1
        converged[idx] = done
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
    n = b.n_series
    v = b.omega_hi / OMEGA_BOUNDS[1]
    mu = b.mean
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
    return _subset(b, np.tile(np.arange(b.n_series), k))


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
    n = b.n_series
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



def _projected_newton(active: np.ndarray, g: np.ndarray, observed: np.ndarray, info: np.ndarray,
                      zero_mean: bool) -> np.ndarray:
    """:func:`~qmtl_research.volatility.projected_newton.projected_direction` for GARCH(1,1)'s
    constraints (plus ``mu = 0`` held when the mean is fixed at zero)."""
    return projected_direction(_A, active, g, observed, info, _ZERO_MEAN_ROW if zero_mean else None)

