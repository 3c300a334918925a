"""GJR-GARCH(1,1) for many samples at once: a batched projected Newton (issue #20 items 4-5).

The objective is arch's for ``arch_model(y, mean="Constant", vol="GARCH", p=1, o=1, q=1,
dist="normal")`` on each sample ``y`` (returns in percent; :mod:`.gjr_likelihood` states it):
``h_0 = omega + (alpha + gamma/2 + beta) B`` with arch's backcast ``B`` of the residuals at the
sample mean, ``h_t = omega + (alpha + gamma 1[e_t-1 < 0]) e_t-1^2 + beta h_t-1``, the Gaussian
log-likelihood of ``e_t = y_t - mu``, under arch's bounds and constraints: ``omega`` in
``[1e-8 v, 10 v]`` (``v`` the mean squared residual), ``alpha, beta`` in ``[0, 1]``, ``gamma`` in
``[-1, 2]``, ``alpha + gamma >= 0``, ``alpha + gamma/2 + beta <= 1``.

Every sample (column) is estimated at once, divided by its root mean squared residual (so that
every parameter is of order one; estimates and log-likelihood are reported in the sample's units),
from several starting values (the best points of
arch's start grid, one on ``alpha = gamma = 0``, one near ``alpha + gamma/2 + beta = 1`` and,
optionally, warm starts), keeping the best converged fit: the optimiser of
``garch_optimizer._estimate`` (projected Newton with the observed curvature where it is positive
definite on the free parameters, else Fisher scoring with the expected information; active set of
bounds; the largest feasible step, then Armijo backtracking) on five parameters. The
log-likelihood, its gradient, its Hessian and the expected information come from one compiled
loop over weeks (JAX ``jit``, float64, vectorised over columns; the recursions of the first and
second derivatives of the variance, as ``garch_kernels`` for GARCH(1,1)).

arch also clips ``h_t`` to loose variance bounds; the objective here is unclipped, so a fit whose
variances leave arch's bounds is reported as such (``within_bounds``) for the caller to fall back
to arch (as :class:`~qmtl_research.volatility.challengers.GJRGarchVolatility` does).
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np

from qmtl_research.volatility.compilation import enable_jax_compilation_cache
from qmtl_research.volatility.gjr_kernels import _PAIRS, _SECOND, _derivative_scan, _loglik_scan
from qmtl_research.volatility.gjr_likelihood import GJRSample
from qmtl_research.volatility.gjr_likelihood import loglik as loglik_of
from qmtl_research.volatility.projected_newton import newton_iteration, projected_direction

MIN_ROWS = 128                 # week capacity: a power of two, at least this
WIDTHS = (16, 64, 256, 1024)   # compiled widths (columns); wider batches are split
BOUND_TOL = 1e-6
SCORE_TOL = 1e-10
TOL = 1e-11
ARMIJO = 1e-4
MAX_HALVINGS = 40
LL_TIE = 1e-9
GRID_ALPHAS = (0.01, 0.05, 0.1, 0.2)        # arch's start grid (alpha and gamma)
GRID_PERSISTENCE = (0.5, 0.7, 0.9, 0.98)    # alpha + gamma/2 + beta
GRID_STARTS = 3                             # the best grid points started from
GRID_COLUMNS = 4096                         # grid candidates x samples evaluated per call
NO_ARCH_START = 0.9                         # beta of the start on alpha = gamma = 0 (omega = (1 - beta) v)
INTEGRATED_START = (0.01, 0.02, 0.97)       # alpha, gamma, beta (persistence 0.99), omega = 0.01 v

# feasible set A theta >= c (theta = mu, omega, alpha, gamma, beta)
_A = np.array([[0, 1, 0, 0, 0], [0, -1, 0, 0, 0],          # omega in [lo, hi]
               [0, 0, 1, 0, 0], [0, 0, -1, 0, 0],          # alpha in [0, 1]
               [0, 0, 0, 1, 0], [0, 0, 0, -1, 0],          # gamma in [-1, 2]
               [0, 0, 0, 0, 1], [0, 0, 0, 0, -1],          # beta in [0, 1]
               [0, 0, 1, 1, 0],                            # alpha + gamma >= 0
               [0, 0, -1, -0.5, -1]], dtype=float)         # alpha + gamma/2 + beta <= 1


def _c(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    n = len(lo)
    z, one = np.zeros(n), np.ones(n)
    return np.column_stack([lo, -hi, z, -one, -one, -2.0 * one, z, -one, z, -one])


def _derivatives(p: "_Panel", theta: np.ndarray):
    """Log-likelihood, score (N, 5), observed curvature (minus the Hessian) and expected information
    (N, 5, 5) at ``theta``; ``-inf`` log-likelihood where a variance is not positive."""
    acc = _chunked(lambda th, y, m, bc: _derivative_scan(y, m, th, bc, p.n_rows).T, p, theta)[0]   # (N, 37)
    n = len(theta)
    ll = -0.5 * acc[:, 0]
    linear, sum_eh, cross = acc[:, 1:14], acc[:, 14], acc[:, 15:20]
    info, outer = np.empty((n, 5, 5)), np.empty((n, 5, 5))
    for k, (i, j) in enumerate(_PAIRS):
        info[:, i, j] = info[:, j, i] = acc[:, 20 + k]
        outer[:, i, j] = outer[:, j, i] = acc[:, 35 + k]
    sum_inv = acc[:, 50]
    score = linear[:, :5].copy()
    score[:, 0] += sum_eh
    info[:, 0, 0] += sum_inv
    hess = -outer
    for k, (i, j) in enumerate(_SECOND):
        hess[:, i, j] += linear[:, 5 + k]
        if i != j:
            hess[:, j, i] += linear[:, 5 + k]
    hess[:, 0, :] -= cross
    hess[:, :, 0] -= cross
    hess[:, 0, 0] -= sum_inv
    ll = np.where((acc[:, 51] == 0) & np.isfinite(ll), ll, -np.inf)
    return ll, score, -hess, info


# --------------------------------------------------------------------------------------------- host side
@dataclass
class _Panel:
    y: np.ndarray          # (R, N) percent returns, left-aligned, 0 beyond each length (R: a bucket)
    mask: np.ndarray       # (R, N)
    backcast: np.ndarray   # (N,)
    lo: np.ndarray         # omega bounds
    hi: np.ndarray
    samples: list          # GJRSample per column (arch's backcast and variance bounds)
    n_rows: int            # the longest sample (weeks run by the compiled loops)

    def subset(self, idx: np.ndarray) -> "_Panel":
        return _Panel(self.y[:, idx], self.mask[:, idx], self.backcast[idx], self.lo[idx], self.hi[idx],
                      [self.samples[i] for i in idx], self.n_rows)


def _panel(samples: list[GJRSample]) -> _Panel:
    n_max = max(len(s.y) for s in samples)
    rows = max(MIN_ROWS, 1 << (int(n_max) - 1).bit_length())
    y = np.zeros((rows, len(samples)))
    mask = np.zeros((rows, len(samples)), dtype=bool)
    lo, hi = np.empty(len(samples)), np.empty(len(samples))
    for j, s in enumerate(samples):
        y[: len(s.y), j], mask[: len(s.y), j] = s.y, True
        v = float(np.mean((s.y - s.y.mean()) ** 2))
        lo[j], hi[j] = 1e-8 * v, 10.0 * v
    return _Panel(y, mask, np.array([s.backcast for s in samples]), lo, hi, list(samples), n_max)


def _chunked(fn, p: _Panel, theta: np.ndarray) -> list[np.ndarray]:
    """``fn`` on columns in chunks of a compiled width (padded with copies of the first column)."""
    n = theta.shape[0]
    outs = None
    for start in range(0, n, WIDTHS[-1]):
        sl = slice(start, min(start + WIDTHS[-1], n))
        k = sl.stop - sl.start
        w = next(x for x in WIDTHS if k <= x)
        idx = np.concatenate([np.arange(sl.start, sl.stop), np.full(w - k, sl.start)])
        with jax.enable_x64(True):
            res = fn(theta[idx], p.y[:, idx], p.mask[:, idx], p.backcast[idx])
            res = [np.asarray(r)[:k] for r in (res if isinstance(res, tuple) else (res,))]
        if outs is None:
            outs = [np.empty((n,) + r.shape[1:]) for r in res]
        for o, r in zip(outs, res):
            o[sl] = r
    return outs


def _loglik(p: _Panel, theta: np.ndarray) -> np.ndarray:
    return _chunked(lambda th, y, m, bc: _loglik_scan(y, m, th, bc, p.n_rows), p, theta)[0]


def _project(p: _Panel, theta: np.ndarray) -> np.ndarray:
    """Into the feasible set: clip to the boxes, then ``gamma >= -alpha``, then lower ``beta`` (and,
    if that is not enough, ``alpha`` and ``gamma`` in proportion) to ``alpha + gamma/2 + beta <= 1``."""
    t = theta.copy()
    t[:, 1] = np.clip(t[:, 1], p.lo, p.hi)
    t[:, 2] = np.clip(t[:, 2], 0.0, 1.0)
    t[:, 3] = np.clip(t[:, 3], -1.0, 2.0)
    t[:, 4] = np.clip(t[:, 4], 0.0, 1.0)
    t[:, 3] = np.maximum(t[:, 3], -t[:, 2])
    excess = t[:, 2] + t[:, 3] / 2 + t[:, 4] - 1.0
    t[:, 4] = np.where(excess > 0, np.maximum(0.0, t[:, 4] - excess), t[:, 4])
    excess = t[:, 2] + t[:, 3] / 2 + t[:, 4] - 1.0
    arch = t[:, 2] + t[:, 3] / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = np.where(excess > 0, (arch - excess) / arch, 1.0)
    t[:, 2:4] *= np.clip(shrink, 0.0, 1.0)[:, None]
    return t


def _grid(p: _Panel, k: int) -> list[np.ndarray]:
    """The ``k`` best points of arch's start grid per column (best first; ``gjr_likelihood.grid_starts``)."""
    n = len(p.samples)
    mu = np.array([s.y.mean() for s in p.samples])
    v = p.hi / 10.0
    cands = []
    for alpha in GRID_ALPHAS:
        for gamma in GRID_ALPHAS:
            for pers in GRID_PERSISTENCE:
                beta = pers - alpha - gamma / 2
                cands.append(np.column_stack([mu, (1 - pers) * v, np.full(n, alpha), np.full(n, gamma),
                                              np.full(n, beta)]))
    feasible = [c for c in cands if c[0, 4] >= 0]                     # beta >= 0 (as gjr_likelihood.grid_starts)
    lls = np.full((len(cands), n), -np.inf)
    group = max(1, GRID_COLUMNS // n)                                 # candidates evaluated together, as columns
    rows = [i for i, c in enumerate(cands) if c[0, 4] >= 0]
    for start in range(0, len(feasible), group):
        part = feasible[start: start + group]
        ll = _loglik(p.subset(np.tile(np.arange(n), len(part))), np.vstack(part)).reshape(len(part), n)
        lls[rows[start: start + len(part)]] = ll
    lls = np.where(np.isfinite(lls), lls, -np.inf)                   # (K, N)
    order = np.argsort(-lls, axis=0, kind="stable")[:k]                                      # ties: grid order
    stack = np.stack(cands)
    return [stack[order[i], np.arange(n)] for i in range(k)]


def _bound_starts(p: _Panel) -> list[np.ndarray]:
    n = len(p.samples)
    mu = np.array([s.y.mean() for s in p.samples])
    v = p.hi / 10.0
    no_arch = np.column_stack([mu, (1 - NO_ARCH_START) * v, np.zeros(n), np.zeros(n), np.full(n, NO_ARCH_START)])
    a, g, b = INTEGRATED_START
    integrated = np.column_stack([mu, 0.01 * v, np.full(n, a), np.full(n, g), np.full(n, b)])
    return [no_arch, integrated]


def _projected_newton(active, g, observed, info):
    """:func:`~qmtl_research.volatility.projected_newton.projected_direction` for arch's GJR constraints."""
    return projected_direction(_A, active, g, observed, info)


def _estimate(p: _Panel, theta: np.ndarray, max_iter: int = 200):
    """Projected Newton for every column from ``theta`` (N, 5); returns theta, loglik, converged."""
    n = theta.shape[0]
    theta = _project(p, theta)
    ll_now = _loglik(p, theta)
    live = np.isfinite(ll_now)
    converged = np.zeros(n, dtype=bool)
    n_iter = np.zeros(n, dtype=int)
    c_all = _c(p.lo, p.hi)
    for _ in range(max_iter):
        idx = np.flatnonzero(live & ~converged)
        if not len(idx):
            break
        sp = p.subset(idx)
        th = theta[idx]
        ll, g, observed, info = _derivatives(sp, th)
        slack = th @ _A.T - c_all[idx]
        scale_tol = BOUND_TOL * np.maximum(1.0, np.abs(c_all[idx]))

        def trial_loglik(todo, x, sp=sp):
            part = sp.subset(todo)
            trial = _project(part, x)
            return trial, _loglik(part, trial)

        new, value, done = newton_iteration(
            th, ll, g, slack, scale_tol, _A,
            lambda active, g=g, info=info, observed=observed: _projected_newton(active, g, observed, info),
            trial_loglik, tol=TOL, score_tol=SCORE_TOL, armijo=ARMIJO, max_halvings=MAX_HALVINGS)
        theta[idx] = new
        ll_now[idx] = value
        n_iter[idx] += 1
        converged[idx] = done
    return theta, ll_now, converged & live, n_iter


@dataclass
class GJRBatchFit:
    """Per sample: the best converged fit over the starts.

    Attributes
    ----------
    params : ndarray, shape (N, 5)
        ``mu, omega, alpha, gamma, beta`` (percent units; NaN where no start converged).
    loglik : ndarray, shape (N,)
        arch's (unclipped) log-likelihood at ``params``.
    converged : ndarray of bool
        A start converged.
    within_bounds : ndarray of bool
        Every ``h_t`` lies inside arch's variance bounds (the unclipped objective is arch's).
    n_iter : ndarray of int
        Newton iterations of the kept start.
    """

    params: np.ndarray
    loglik: np.ndarray
    converged: np.ndarray
    within_bounds: np.ndarray
    n_iter: np.ndarray


def fit_gjr_batch(samples: list[GJRSample], warm: np.ndarray | None = None, max_iter: int = 200) -> GJRBatchFit:
    """Estimate arch's GJR-GARCH(1,1) on every sample at once (see the module docstring).

    Parameters
    ----------
    samples : list of GJRSample
        Estimation samples (percent returns with arch's backcast and variance bounds), any lengths.
    warm : ndarray, shape (N, 5), optional
        Previous estimates, one more start per sample (rows with NaN: none).
    max_iter : int
        Newton iterations per start.

    Returns
    -------
    GJRBatchFit
    """
    enable_jax_compilation_cache()
    n = len(samples)
    if n == 0:
        return GJRBatchFit(np.empty((0, 5)), np.empty(0), np.zeros(0, bool), np.zeros(0, bool), np.zeros(0, int))
    # estimated on each sample divided by its root mean squared residual (the likelihood is scale-
    # equivariant: mu, omega and the backcast scale with it), so that every parameter is of order one
    # and the convergence tests mean the same for a money-market fund as for an equity fund
    sd = np.sqrt([np.mean((s.y - s.y.mean()) ** 2) for s in samples])
    sd = np.where(sd > 0, sd, 1.0)
    p = _panel([GJRSample(s.y / c, s.backcast / c ** 2, s.var_bounds / c ** 2) for s, c in zip(samples, sd)])
    starts = _grid(p, GRID_STARTS) + _bound_starts(p)
    if warm is not None:
        w = np.array(warm, dtype=float) / _param_scale(sd)
        has = np.isfinite(w).all(axis=1)
        starts.insert(0, np.where(has[:, None], w, starts[0]))
    k = len(starts)
    stacked = p.subset(np.tile(np.arange(n), k))
    theta, ll, conv, n_iter = _estimate(stacked, np.vstack(starts), max_iter)
    ll = np.where(conv, ll, -np.inf).reshape(k, n)
    with np.errstate(invalid="ignore"):
        near_best = ll >= ll.max(axis=0) - LL_TIE
    best = np.argmax(near_best, axis=0)
    pick = best * n + np.arange(n)
    converged = np.isfinite(ll.max(axis=0))
    params = np.where(converged[:, None], theta[pick] * _param_scale(sd), np.nan)
    loglik = np.full(n, np.nan)
    inside = np.zeros(n, dtype=bool)
    for j in np.flatnonzero(converged):            # arch's log-likelihood and variance bounds, original units
        s = samples[j]
        loglik[j] = loglik_of(params[j], s)
        h = _variances(params[j], s)
        inside[j] = bool(((h >= s.var_bounds[:, 0]) & (h <= s.var_bounds[:, 1])).all())
    return GJRBatchFit(params, loglik, converged & np.isfinite(loglik), inside, n_iter[pick])


def _param_scale(sd: np.ndarray) -> np.ndarray:
    """Per sample, the factors from standardised to original units: ``mu`` x sd, ``omega`` x sd^2."""
    return np.column_stack([sd, sd ** 2, np.ones((len(sd), 3))])


def _variances(theta: np.ndarray, s: GJRSample) -> np.ndarray:
    from qmtl_research.volatility.gjr_likelihood import variances

    return variances(theta, s)


__all__ = ["GJRBatchFit", "fit_gjr_batch"]
