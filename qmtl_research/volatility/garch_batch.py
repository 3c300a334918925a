"""The GARCH(1,1) optimiser compiled whole: batched projected Newton over all funds and starting
values at once, in float64, inside one ``jax.lax.while_loop`` (issue #20 item 4).

This is the algorithm of ``garch_optimizer._estimate`` (the numpy reference, kept and tested against), step
for step: the analytic score, expected information and observed curvature from one compiled scan
over weeks (:func:`.garch_kernels._derivative_scan`), the active set of bounds, Newton with the
observed curvature in the null space of the active constraints (Fisher scoring where it is not
positive definite), the largest feasible step and Armijo backtracking (at most 40 halvings), the
same convergence tests and the same iteration limits. Only the host round trips are gone: the
numpy engine returns to Python for every iteration and every halving. Used when
``garch_optimizer.ENGINE == "compiled"`` (not the default: see the measurements next to
``garch_optimizer.ENGINE``).

Over 400 lines because the optimiser is one compiled program: the per-column 4x4 algebra
(solves, projections, written out because the library versions were 16x slower here), the
iteration body and the host-side blocking must stay together to be read against
``garch_optimizer._estimate`` step by step.

Shapes are fixed so that a few compiled programs serve every call (the persistent compilation
cache in ``.cache/jax`` keeps them between processes): the week capacity is a power of two (at
least 128) but only the real weeks are run (a dynamic trip count), and series are padded to one
of :data:`WIDTHS`. Each pass of the optimiser gathers the columns still iterating into blocks of
:data:`BLOCK` and runs one iteration per block, so converged columns and padding cost nothing.

Every operation is elementwise per column or a batched 4x4 / 5x5 linear algebra per column, so a
fund's path does not depend on the other columns of its batch (tested).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from qmtl_research.volatility import garch_kernels as kernels
from qmtl_research.volatility.compilation import enable_jax_compilation_cache

MIN_ROWS = 128         # week capacity: a power of two, at least this (only the real weeks are run)
BLOCK = 128            # columns per block of the compiled loops over weeks
WIDTHS = (256, 2048, 16384)   # compiled widths (series, multiples of BLOCK); wider batches are split
MAX_WIDTH = WIDTHS[-1]
MAX_HALVINGS = 40      # Armijo backtracking: trial steps per iteration (as the numpy engine)
HALVINGS_AT_ONCE = 8   # after the first trial, this many halvings are evaluated together ...
LS_BLOCK = 16          # ... on the columns still searching, gathered in blocks of this many
ARMIJO = 1e-4

_A = np.array([[0, 1, 0, 0], [0, -1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, -1, -1]], dtype=float)
_SECOND = ((0, 0), (0, 2), (0, 3), (1, 3), (2, 3), (3, 3))
_PAIRS = kernels._PAIRS


def _width(n: int) -> int:
    return next((w for w in WIDTHS if n <= w), MAX_WIDTH)


def _rows(n: int) -> int:
    return kernels._bucket_rows(n)


# --------------------------------------------------------------------------------------------- compiled pieces
def _project(theta, lo, hi, zero_mean: bool):
    omega = jnp.clip(theta[:, 1], lo, hi)
    ab = jnp.clip(theta[:, 2:], 0.0, 1.0)
    over = ab[:, 0] + ab[:, 1] - 1.0
    ab = jnp.where((over > 0)[:, None], ab - over[:, None] / 2.0, ab)
    ab = jnp.clip(ab, 0.0, 1.0)
    mu = jnp.zeros_like(theta[:, 0]) if zero_mean else theta[:, 0]
    return jnp.column_stack([mu, omega, ab])


def _loglik(y, mask, backcast, theta, n_rows):
    return kernels._loglik_scan(y, mask, jnp.arange(y.shape[1]), theta[:, 0], theta[:, 1], theta[:, 2], theta[:, 3], backcast, n_rows)


def _sym(pairs):
    """(10, N) upper-triangle sums -> (N, 4, 4)."""
    idx = np.zeros((4, 4), dtype=int)
    for k, (i, j) in enumerate(_PAIRS):
        idx[i, j] = idx[j, i] = k
    return jnp.transpose(pairs[idx.reshape(-1)].reshape(4, 4, -1), (2, 0, 1))


def _derivatives(y, mask, backcast, theta, n_rows):
    """``garch._derivatives``: log-likelihood, score, expected information, observed curvature."""
    acc, linear, sum_eh, cross, info, outer, sum_inv = kernels._split_sums(kernels._derivative_scan(
        y, mask, jnp.arange(y.shape[1]), theta[:, 0], theta[:, 1], theta[:, 2], theta[:, 3], backcast, n_rows))
    ll = -0.5 * acc
    linear, cross = linear.T, cross.T
    score = linear[:, :4].at[:, 0].add(sum_eh)
    info = _sym(info).at[:, 0, 0].add(sum_inv)
    hess = -_sym(outer)
    second = linear[:, 4:]
    for k, (i, j) in enumerate(_SECOND):
        hess = hess.at[:, i, j].add(second[:, k])
        if i != j:
            hess = hess.at[:, j, i].add(second[:, k])
    hess = hess.at[:, 0, :].add(-cross)
    hess = hess.at[:, :, 0].add(-cross)
    hess = hess.at[:, 0, 0].add(-sum_inv)
    return ll, score, info, -hess


def _cholesky_solve(system, rhs):
    """Solve ``system x = rhs`` per column by a Cholesky factorisation written out for 4x4 (elementwise
    over the series: no per-matrix library calls); also returns whether ``system`` is positive
    definite (every pivot > 0 and finite; where it is not, ``x`` is meaningless)."""
    a = [[system[:, i, j] for j in range(4)] for i in range(4)]
    low = [[None] * 4 for _ in range(4)]
    pd = jnp.ones(system.shape[0], dtype=bool)
    for j in range(4):
        pivot = a[j][j] - sum((low[j][k] * low[j][k] for k in range(j)), jnp.zeros_like(a[j][j]))
        pd = pd & (pivot > 0) & jnp.isfinite(pivot)
        low[j][j] = jnp.sqrt(jnp.where(pivot > 0, pivot, 1.0))
        for i in range(j + 1, 4):
            low[i][j] = (a[i][j] - sum((low[i][k] * low[j][k] for k in range(j)), jnp.zeros_like(a[i][j]))) / low[j][j]
    z = []
    for i in range(4):
        z.append((rhs[:, i] - sum((low[i][k] * z[k] for k in range(i)), jnp.zeros_like(rhs[:, i]))) / low[i][i])
    x = [None] * 4
    for i in range(3, -1, -1):
        x[i] = (z[i] - sum((low[k][i] * x[k] for k in range(i + 1, 4)), jnp.zeros_like(z[i]))) / low[i][i]
    return jnp.stack(x, axis=1), pd


def _general_solve(system, rhs):
    """``garch._solve``: LU, and the least-squares (pseudo-inverse) solution of a singular system."""
    d = jnp.linalg.solve(system, rhs[:, :, None])[:, :, 0]
    bad = ~jnp.isfinite(d).all(axis=1)
    alt = (jnp.linalg.pinv(system) @ rhs[:, :, None])[:, :, 0]
    return jnp.where(bad[:, None], alt, d)


def _null_space_projector(active, zero_mean: bool):
    """``I - R' (R R')^+ R`` for the active rows ``R`` of the constraints (and ``mu = 0`` for a zero
    mean), by Gram-Schmidt on the (at most 6) rows, elementwise over the series."""
    n = active.shape[0]
    rows = [(jnp.asarray(_A[k]), active[:, k]) for k in range(_A.shape[0])]
    if zero_mean:
        rows.append((jnp.asarray([1.0, 0.0, 0.0, 0.0]), jnp.ones(n, dtype=bool)))
    basis = []
    for r, on in rows:
        v = jnp.where(on[:, None], r[None, :], 0.0)
        for _ in range(2):                          # twice: orthogonal to rounding
            for q in basis:
                v = v - (v * q).sum(axis=1, keepdims=True) * q
        norm = jnp.sqrt((v * v).sum(axis=1, keepdims=True))
        basis.append(jnp.where(norm > 1e-6, v / jnp.where(norm > 1e-6, norm, 1.0), 0.0))
    proj = jnp.broadcast_to(jnp.eye(4), (n, 4, 4))
    for q in basis:
        proj = proj - q[:, :, None] * q[:, None, :]
    return proj


def _mv(m, v):
    return (m * v[:, None, :]).sum(axis=2)


def _mm(a, b):
    return (a[:, :, :, None] * b[:, None, :, :]).sum(axis=2)


def _projected_newton(active, g, observed, info, zero_mean: bool):
    """``garch._projected_newton``: the ascent direction in the null space of the active
    constraints, Newton with the observed curvature where it is positive definite there, else
    Fisher scoring; and the score statistic ``g' I^-1 g`` on that space. Positive definiteness is
    tested by the Cholesky factorisation (the numpy engine: the smallest eigenvalue > 0)."""
    eye = jnp.eye(4)
    proj = _null_space_projector(active, zero_mean)
    pg = _mv(proj, g)
    system = _mm(_mm(proj, observed), proj) + (eye - proj)
    fisher_system = _mm(_mm(proj, info), proj) + (eye - proj)
    d_newton, ok = _cholesky_solve(system, pg)
    fisher, fisher_ok = _cholesky_solve(fisher_system, pg)
    fisher = jax.lax.cond((~fisher_ok).any(), lambda: jnp.where(fisher_ok[:, None], fisher,
                                                                _general_solve(fisher_system, pg)), lambda: fisher)
    d = jnp.where(ok[:, None], d_newton, fisher)
    score_stat = (pg * fisher).sum(axis=1)
    return _mv(proj, d), score_stat


def _on_blocks(fn, which, y, mask, backcast, theta, n_rows, init, per_column: int = 1, block: int = 0):
    """``fn(y, mask, backcast, theta, n_rows)`` (a tuple of per-column results) on the columns
    where ``which`` only, gathered into blocks of :data:`BLOCK` columns (a loop over as many blocks
    as needed: the work follows the columns still iterating, not the compiled width); the other
    columns keep ``init``. Column results do not depend on the block they are computed in.
    ``per_column``: ``which``, ``theta`` and the results have that many entries per column of ``y``."""
    block = block or BLOCK
    width = which.shape[0]
    idx = jnp.nonzero(which, size=width, fill_value=width)[0]
    n_blocks = (which.sum() + block - 1) // block

    def body(k, outs):
        sel = jax.lax.dynamic_slice_in_dim(idx, k * block, block)
        safe = jnp.minimum(sel, width - 1)
        col = safe // per_column
        res = fn(y[:, col], mask[:, col], backcast[col], theta[safe], n_rows)
        return tuple(o.at[sel].set(r, mode="drop") for o, r in zip(outs, res))

    return jax.lax.fori_loop(0, n_blocks, body, init)


def _iterate(state, data, zero_mean: bool, tol: float, bound_tol: float, score_tol: float):
    """One optimiser iteration on a block of columns, for those still iterating (the others unchanged)."""
    y, mask, backcast, lo, hi, limit, n_rows = data
    theta, n_iter, converged, live, ll_final = state
    go = live & ~converged & (n_iter < limit)
    n = theta.shape[0]
    ll, g, info, observed = _derivatives(y, mask, backcast, theta, n_rows)
    A = jnp.asarray(_A)
    c = jnp.column_stack([lo, -hi, jnp.zeros(n), jnp.zeros(n), -jnp.ones(n)])
    slack = theta @ A.T - c
    rate = g @ A.T
    scale_tol = bound_tol * jnp.maximum(1.0, jnp.abs(jnp.column_stack([lo, hi, jnp.ones((n, 3))])))
    at_bound = slack <= scale_tol
    active0 = at_bound & (rate < 0)
    d0, stat0 = _projected_newton(active0, g, observed, info, zero_mean)

    def pass_cond(carry):
        k, active, d, stat, blocked = carry
        return (k < A.shape[0] - 1) & (blocked & go[:, None]).any()

    def pass_body(carry):
        k, active, d, stat, blocked = carry
        active = active | blocked
        d, stat = _projected_newton(active, g, observed, info, zero_mean)
        blocked = at_bound & ~active & ((d @ A.T) < 0)
        return k + 1, active, d, stat, blocked

    blocked0 = at_bound & ~active0 & ((d0 @ A.T) < 0)
    _, active, d, score_stat, blocked = jax.lax.while_loop(pass_cond, pass_body, (0, active0, d0, stat0, blocked0))
    active = active | blocked          # as the numpy loop: the last pass's blocked bounds join the active set
    decrement = (g * d).sum(axis=1)
    done = ~(decrement > tol) | ~jnp.isfinite(decrement) | (score_stat <= score_tol)
    drate = d @ A.T
    limits = jnp.where((drate < 0) & ~active, jnp.maximum(slack, 0.0) / jnp.where(drate < 0, -drate, 1.0), jnp.inf)
    step0 = jnp.minimum(1.0, limits.min(axis=1))

    # Armijo backtracking: the first trial for every column, then the remaining halvings
    # HALVINGS_AT_ONCE at a time (steps step / 2^j, j = 0..K-1, evaluated together; the first
    # that passes is the one the sequential search takes): a column that stalls at its optimum
    # costs 1 + 39 / K block evaluations instead of 40
    todo0 = ~(done | ~go)
    trial = _project(theta + step0[:, None] * d, lo, hi, zero_mean)
    tl = _loglik(y, mask, backcast, trial, n_rows)
    ok = todo0 & (tl >= ll + ARMIJO * step0 * decrement)
    new = jnp.where(ok[:, None], trial, theta)
    new_ll = jnp.where(ok, tl, ll)
    accepted = ~todo0 | ok
    step = jnp.where(todo0 & ~ok, step0 * 0.5, step0)
    K = HALVINGS_AT_ONCE
    factors = 0.5 ** jnp.arange(K)

    def ls_cond(carry):
        k, step, accepted, new, new_ll = carry
        return (k < MAX_HALVINGS) & (~accepted).any()

    def ls_body(carry):
        k, step, accepted, new, new_ll = carry
        todo = ~accepted
        steps = step[:, None] * factors[None, :]                                       # (N, K)
        tried = todo[:, None] & (k + jnp.arange(K) < MAX_HALVINGS)[None, :]
        trials = _project((theta[:, None, :] + steps[:, :, None] * d[:, None, :]).reshape(n * K, 4), lo.repeat(K),
                          hi.repeat(K), zero_mean)
        (tl,) = _on_blocks(lambda *a: (_loglik(*a),), tried.reshape(-1), y, mask, backcast, trials, n_rows,
                           (jnp.full(n * K, -jnp.inf),), per_column=K, block=LS_BLOCK)
        tl = tl.reshape(n, K)
        passes = tried & (tl >= ll[:, None] + ARMIJO * steps * decrement[:, None])
        first = jnp.argmax(passes, axis=1)
        ok = passes.any(axis=1)
        pick = jnp.take_along_axis(trials.reshape(n, K, 4), first[:, None, None], axis=1)[:, 0]
        new = jnp.where(ok[:, None], pick, new)
        new_ll = jnp.where(ok, jnp.take_along_axis(tl, first[:, None], axis=1)[:, 0], new_ll)
        step = jnp.where(todo & ~ok, step * 0.5 ** K, step)
        return k + K, step, accepted | ok, new, new_ll

    _, _, accepted, new, new_ll = jax.lax.while_loop(ls_cond, ls_body, (1, step, accepted, new, new_ll))
    stalled = ~accepted
    tiny = (jnp.abs(new - theta) <= 1e-10 * (1.0 + jnp.abs(theta))).all(axis=1)
    flat = (new_ll - ll) <= 1e-12 * (1.0 + jnp.abs(ll))
    theta = jnp.where(go[:, None], new, theta)
    ll_final = jnp.where(go, jnp.where(done | stalled, ll, new_ll), ll_final)
    n_iter = n_iter + go.astype(n_iter.dtype)
    converged = jnp.where(go, done | stalled | tiny | flat, converged)
    return theta, n_iter, converged, live, ll_final


def _run(y, mask, backcast, lo, hi, limit, theta, n_iter, converged, live, ll_final, n_rows, *, zero_mean, tol, bound_tol,
         score_tol):
    """Iterate until no column is iterating: each pass gathers the columns still iterating into
    blocks of :data:`BLOCK` and runs one iteration per block (the work follows the active columns,
    not the compiled width)."""
    width = theta.shape[0]

    def going(state):
        theta, n_iter, converged, live, _ = state
        return live & ~converged & (n_iter < limit)

    def cond(state):
        return going(state).any()

    def body(state):
        go = going(state)
        idx = jnp.nonzero(go, size=width, fill_value=width)[0]
        n_blocks = (go.sum() + BLOCK - 1) // BLOCK

        def one_block(k, state):
            sel = jax.lax.dynamic_slice_in_dim(idx, k * BLOCK, BLOCK)
            col = jnp.minimum(sel, width - 1)
            real = sel < width                                   # fill entries: not iterated, dropped
            th, it, cv, lv, llf = (a[col] for a in state)
            data = (y[:, col], mask[:, col], backcast[col], lo[col], hi[col], limit[col], n_rows)
            out = _iterate((th, it, cv, lv & real, llf), data, zero_mean, tol, bound_tol, score_tol)
            return tuple(a.at[sel].set(o, mode="drop") if a is not state[3] else a for a, o in zip(state, out))

        return jax.lax.fori_loop(0, n_blocks, one_block, state)

    return jax.lax.while_loop(cond, body, (theta, n_iter, converged, live, ll_final))


_run_jit = jax.jit(_run, static_argnames=("zero_mean", "tol", "bound_tol", "score_tol"))


@jax.jit
def _start_loglik(y, mask, backcast, theta, n_rows, n_cols):
    valid = jnp.arange(theta.shape[0]) < n_cols
    return _on_blocks(lambda *a: (_loglik(*a),), valid, y, mask, backcast, theta, n_rows,
                      (jnp.full(theta.shape[0], -jnp.inf),))[0]


@jax.jit
def _grid_scan(y, mask, backcast, candidates, n_rows, n_cols):
    """The best of ``candidates`` (K, N, 4) per column (the first of equals, as ``garch._grid_start``)."""
    valid = jnp.arange(candidates.shape[1]) < n_cols

    def fn(yb, mb, bb, thb, n_rows):
        best, best_ll = thb[:, 0], _loglik(yb, mb, bb, thb[:, 0], n_rows)
        for k in range(1, thb.shape[1]):
            ll = _loglik(yb, mb, bb, thb[:, k], n_rows)
            take = ll > best_ll
            best = jnp.where(take[:, None], thb[:, k], best)
            best_ll = jnp.where(take, ll, best_ll)
        return (best,)

    cands = jnp.transpose(candidates, (1, 0, 2))            # (N, K, 4): gathered by column
    return _on_blocks(fn, valid, y, mask, backcast, cands, n_rows, (candidates[0],))[0]


# --------------------------------------------------------------------------------------------- host driver
def _pad_cols(a: np.ndarray, width: int, pad=None) -> np.ndarray:
    """``a`` (series first) padded to ``width`` series with copies of the first (or ``pad``)."""
    n = a.shape[0]
    out = np.empty((width,) + a.shape[1:], dtype=a.dtype)
    out[:n] = a
    out[n:] = a[:1] if pad is None else pad
    return out


def grid_start(y: np.ndarray, mask: np.ndarray, backcast: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Per column, the candidate starting value with the highest log-likelihood (the first of
    equals; ``-inf`` everywhere: the first), in one compiled program.

    Parameters
    ----------
    y, mask : ndarray (L, N)
        Left-aligned observations (0 beyond each length) and their mask.
    backcast : ndarray (N,)
        Estimation backcast of each column.
    candidates : ndarray (K, N, 4)
        Starting values ``mu, omega, alpha, beta`` to compare.

    Returns
    -------
    ndarray (N, 4)
        The best candidate of each column.
    """
    enable_jax_compilation_cache()
    n_rows, n = y.shape
    rows = _rows(n_rows)
    out = np.empty((n, 4))
    with jax.enable_x64(True):
        for start in range(0, n, MAX_WIDTH):
            sl = slice(start, min(start + MAX_WIDTH, n))
            k, w = sl.stop - sl.start, _width(sl.stop - sl.start)
            yp, mp = np.zeros((rows, w)), np.zeros((rows, w), dtype=bool)
            yp[:n_rows, :k], mp[:n_rows, :k] = y[:, sl], mask[:, sl]
            yp[:, k:], mp[:, k:] = yp[:, :1], mp[:, :1]
            cand = np.concatenate([candidates[:, sl], np.repeat(candidates[:, sl][:, :1], w - k, axis=1)], axis=1)
            out[sl] = np.asarray(_grid_scan(yp, mp, _pad_cols(backcast[sl], w), cand, n_rows, k))[:k]
    return out


def estimate(y: np.ndarray, mask: np.ndarray, backcast: np.ndarray, omega_lo: np.ndarray, omega_hi: np.ndarray,
             theta: np.ndarray, limit: np.ndarray, zero_mean: bool, tol: float, bound_tol: float, score_tol: float):
    """Run the optimiser of ``garch_optimizer._estimate`` from projected starting values ``theta`` (N, 4).

    Parameters
    ----------
    y, mask : ndarray (L, N)
        Left-aligned observations (0 beyond each length) and their mask.
    backcast, omega_lo, omega_hi : ndarray (N,)
        Estimation backcast and the bounds of ``omega``.
    theta : ndarray (N, 4)
        Feasible starting values (``mu, omega, alpha, beta``).
    limit : ndarray (N,)
        Iteration limit per column.
    zero_mean : bool
        ``mu`` fixed at 0.
    tol, bound_tol, score_tol : float
        Convergence and bound tolerances (``garch``'s constants).

    Returns
    -------
    theta, loglik, n_iter, converged, live
        Estimates, log-likelihood at them (NaN where never evaluated by an iteration), iterations,
        convergence flags and whether the likelihood was finite at the start.
    """
    enable_jax_compilation_cache()
    n_rows, n = y.shape
    rows = _rows(n_rows)
    theta = np.array(theta, dtype=float)
    n_iter = np.zeros(n, dtype=np.int64)
    converged = np.zeros(n, dtype=bool)
    ll_final = np.full(n, np.nan)
    live = np.zeros(n, dtype=bool)
    limit = np.asarray(limit, dtype=np.int64)
    yt = np.zeros((n, rows))                       # series-major while packing; transposed per call
    mt = np.zeros((n, rows), dtype=bool)
    yt[:, :n_rows], mt[:, :n_rows] = y.T, mask.T
    with jax.enable_x64(True):
        # the likelihood at the starting values (finite: the column is estimated)
        for start in range(0, n, MAX_WIDTH):
            sl = slice(start, min(start + MAX_WIDTH, n))
            w = _width(sl.stop - sl.start)
            ll0 = _start_loglik(_pad_cols(yt[sl], w).T, _pad_cols(mt[sl], w).T, _pad_cols(backcast[sl], w),
                                _pad_cols(theta[sl], w), n_rows, sl.stop - sl.start)
            live[sl] = np.isfinite(np.asarray(ll0)[: sl.stop - sl.start])
        todo = np.flatnonzero(live & (limit > 0))
        while len(todo):
            batch = todo[:MAX_WIDTH]
            k = len(batch)
            w = _width(k)
            out = _run_jit(_pad_cols(yt[batch], w).T, _pad_cols(mt[batch], w).T, _pad_cols(backcast[batch], w),
                           _pad_cols(omega_lo[batch], w), _pad_cols(omega_hi[batch], w),
                           _pad_cols(limit[batch], w), _pad_cols(theta[batch], w), _pad_cols(n_iter[batch], w),
                           _pad_cols(converged[batch], w), _pad_cols(live[batch], w, pad=False), _pad_cols(ll_final[batch], w),
                           n_rows,
                           zero_mean=bool(zero_mean), tol=float(tol), bound_tol=float(bound_tol),
                           score_tol=float(score_tol))
            th, it, cv, _, llf = (np.asarray(a)[:k] for a in out)
            theta[batch], n_iter[batch], converged[batch], ll_final[batch] = th, it, cv, llf
            still = live[batch] & ~cv & (it < limit[batch])
            todo = np.concatenate([batch[still], todo[MAX_WIDTH:]])
    return theta, ll_final, n_iter, converged, live


__all__ = ["estimate", "grid_start"]
