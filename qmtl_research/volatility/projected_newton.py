"""One iteration of the projected Newton ascent under linear constraints ``A theta >= c``, for a
batch of independent columns: the one home of the step the GARCH(1,1) optimiser
(:mod:`.garch_optimizer`) and the batched GJR-GARCH(1,1) (:mod:`.gjr_batch`) take.

Each model supplies its own pieces: the slack ``A theta - c`` of its constraints, the direction
(Newton or Fisher scoring in the null space of the active constraints, with its score statistic)
and the projected log-likelihood of trial points; the iteration does the rest in the same order of
floating-point operations for both (active set, the largest feasible fraction of the step, Armijo
backtracking, the convergence tests).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def newton_iteration(th: np.ndarray, ll: np.ndarray, g: np.ndarray, slack: np.ndarray, scale_tol: np.ndarray,
                     A: np.ndarray, direction: Callable, trial_loglik: Callable, *, tol: float, score_tol: float,
                     armijo: float, max_halvings: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One projected Newton iteration for every column.

    Parameters
    ----------
    th : ndarray, shape (N, K)
        Current parameters of the columns still iterating.
    ll : ndarray, shape (N,)
        Log-likelihood at ``th``.
    g : ndarray, shape (N, K)
        Score (gradient of the log-likelihood) at ``th``.
    slack : ndarray, shape (N, M)
        ``A th - c``: the distance of each column to each of the M constraints (>= 0 inside).
    scale_tol : ndarray, shape (N, M)
        A constraint with ``slack <= scale_tol`` is "on its bound".
    A : ndarray, shape (M, K)
        The constraint rows.
    direction : callable
        ``direction(active) -> (d, score_stat)``: the ascent direction (N, K) with the constraints
        marked in ``active`` (N, M) held, and the score statistic ``g' I^-1 g`` (N,) on the free
        parameters.
    trial_loglik : callable
        ``trial_loglik(todo, theta) -> (projected theta, loglik)`` for the columns ``todo`` (indices
        into the N columns) at the trial points ``theta``.
    tol : float
        Converged when the predicted ascent ``g' d`` is not above this.
    score_tol : float
        ... or when the score statistic is at most this.
    armijo : float
        Sufficient-increase constant of the backtracking.
    max_halvings : int
        Trial steps at most (each failure halves the step).

    Returns
    -------
    new : ndarray, shape (N, K)
        Parameters after the iteration (``th`` where no step was taken).
    value : ndarray, shape (N,)
        Log-likelihood to report: at ``th`` for columns that had converged or found no ascent, else at ``new``.
    converged : ndarray of bool, shape (N,)
        No ascent predicted, the score statistic below ``score_tol``, no ascent found, a step below
        1e-10 (relative) or a gain below 1e-12 (relative): a flat ridge.
    """
    rate = g @ A.T                                          # d(slack)/ds along the gradient
    at_bound = slack <= scale_tol
    active = at_bound & (rate < 0)
    for _pass in range(A.shape[0]):
        d, score_stat = direction(active)
        blocked = at_bound & ~active & ((d @ A.T) < 0)      # the step leaves the set: add the bound
        if not blocked.any():
            break
        active |= blocked
    decrement = (g * d).sum(axis=1)
    # converged: no ascent predicted, or the score statistic (twice the log-likelihood distance
    # to the optimum under the model) below score_tol, far inside any statistical precision
    done = ~(decrement > tol) | ~np.isfinite(decrement) | (score_stat <= score_tol)
    # step: the largest feasible fraction of the Newton step, then backtracking (Armijo)
    drate = d @ A.T
    with np.errstate(divide="ignore", invalid="ignore"):
        limits = np.where((drate < 0) & ~active, np.maximum(slack, 0.0) / -drate, np.inf)
    step = np.minimum(1.0, limits.min(axis=1))
    accepted = done.copy()
    new = th.copy()
    new_ll = ll.copy()
    for _halving in range(max_halvings):
        todo = np.flatnonzero(~accepted)
        if not len(todo):
            break
        trial, tl = trial_loglik(todo, th[todo] + step[todo, None] * d[todo])
        ok = tl >= ll[todo] + armijo * step[todo] * decrement[todo]
        new[todo[ok]] = trial[ok]
        new_ll[todo[ok]] = tl[ok]
        accepted[todo[ok]] = True
        step[todo[~ok]] *= 0.5
    stalled = ~accepted                                     # no ascent found: at the optimum (to rounding)
    tiny = (np.abs(new - th) <= 1e-10 * (1.0 + np.abs(th))).all(axis=1)
    flat = (new_ll - ll) <= 1e-12 * (1.0 + np.abs(ll))      # a flat ridge: no gain left to make
    return new, np.where(done | stalled, ll, new_ll), done | stalled | tiny | flat


def projected_direction(A: np.ndarray, active: np.ndarray, g: np.ndarray, observed: np.ndarray, info: np.ndarray,
                        extra_row: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Ascent direction in the null space of the active constraints: Newton with the observed
    curvature where it is positive definite on that space (quadratic convergence near the optimum,
    also when the Gaussian likelihood is misspecified), else Fisher scoring (expected information).

    Parameters
    ----------
    A : ndarray, shape (M, K)
        The constraint rows.
    active : ndarray of bool, shape (N, M)
        The constraints held in each column.
    g : ndarray, shape (N, K)
        Score.
    observed : ndarray, shape (N, K, K)
        Minus the Hessian of the log-likelihood (observed curvature).
    info : ndarray, shape (N, K, K)
        Expected information.
    extra_row : ndarray, shape (K,), optional
        One more row held in every column (e.g. the mean fixed at 0).

    Returns
    -------
    d : ndarray, shape (N, K)
        The direction.
    score_stat : ndarray, shape (N,)
        ``g' I^-1 g`` (expected information) on the free parameters.
    """
    k = g.shape[1]
    eye = np.eye(k)
    rows = A[None, :, :] * active[:, :, None]
    if extra_row is not None:
        rows = np.concatenate([rows, np.broadcast_to(np.asarray(extra_row, float)[None, None, :], (len(g), 1, k))],
                              axis=1)
    rows_t = np.transpose(rows, (0, 2, 1))
    # no active row: the projector is the identity (pinv of the zero matrix is zero), so only the
    # columns with an active constraint pay for the pseudo-inverse (an SVD per column)
    some = rows.any(axis=(1, 2))
    proj = np.broadcast_to(eye, (len(g), k, k)).copy()
    if some.any():
        proj[some] = eye - rows_t[some] @ np.linalg.pinv(rows[some] @ rows_t[some]) @ rows[some]
    pg = (proj @ g[:, :, None])[:, :, 0]
    system = proj @ observed @ proj + (eye - proj)
    ok = np.isfinite(system).all(axis=(1, 2))
    ok[ok] = np.linalg.eigvalsh(system[ok])[:, 0] > 0
    fisher_system = proj @ info @ proj + (eye - proj)
    system = np.where(ok[:, None, None], system, fisher_system)
    d = _solve(system, pg)
    fisher = _solve(fisher_system, pg)
    return (proj @ d[:, :, None])[:, :, 0], (pg * fisher).sum(axis=1)


def _solve(system: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(system, rhs[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        return np.stack([np.linalg.lstsq(sm, v, rcond=None)[0] for sm, v in zip(system, rhs)])
