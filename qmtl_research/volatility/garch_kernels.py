"""Compiled GARCH(1,1) recursions: the variance path, the log-likelihood and its first and second
derivatives as one compiled loop over weeks (``_week_loop``: a ``fori_loop`` over the real weeks
only, in unrolled blocks), ``jit``-compiled, in float64.

The numpy engine of :mod:`qmtl_research.volatility.garch_engine` ran these as Python loops over weeks
(one vectorised numpy step per week); here the whole recursion is one compiled loop. Every
reduction over weeks is accumulated inside the scan, in week order and elementwise per column,
so a fund's numbers do not depend on the other funds in its batch (as with the numpy engine's
``cumsum`` reductions), and they equal the numpy engine's to rounding (tests: 1e-8 on the
log-likelihood, see ``tests/test_volatility_garch_kernels.py``).

64-bit floats are switched on only around these calls (``jax.enable_x64``), so Keras (stage 1's
LSTM, float32) is not affected. Shapes are padded to buckets (weeks to a multiple of
:data:`ROW_BUCKET`, series to a power of two) so that refits on growing samples reuse a few
compiled programs instead of compiling one per shape.
"""
from __future__ import annotations

import math
import jax
import jax.numpy as jnp
import numpy as np

from qmtl_research.volatility.compilation import enable_jax_compilation_cache

LOG_2PI = math.log(2.0 * math.pi)
MIN_ROWS = 128             # weeks are padded to a power of two (at least this): few compiled programs
WIDTHS = (32, 256)         # series are processed in chunks of one of these widths (256: 2.2 vs 2.7 s CPU with 1,024 for
                           # the 2,585-fund cold fit, bit-identical: a column's numbers do not depend on its chunk)
UNROLL = 1                  # weeks per compiled loop iteration (1 measured fastest on CPU: 1.7 vs 2.2 ms per scan of 128 columns)


def _bucket_rows(n: int) -> int:
    return max(MIN_ROWS, 1 << (int(n) - 1).bit_length())


def _chunks(n: int):
    """Column slices and the compiled width of each: the smallest width that holds what is left,
    else the largest."""
    out, start = [], 0
    while start < n:
        width = next((w for w in WIDTHS if n - start <= w), WIDTHS[-1])
        out.append((slice(start, min(start + width, n)), width))
        start += width
    return out


def _pad(y: np.ndarray, mask: np.ndarray, cols: list[np.ndarray], width: int):
    """Pad rows with masked zeros and columns with copies of column 0 (sliced off afterwards)."""
    n_rows, n_cols = y.shape
    rows = _bucket_rows(n_rows)
    yp = np.empty((rows, width))
    mp = np.empty((rows, width), dtype=bool)
    yp[:n_rows, :n_cols], mp[:n_rows, :n_cols] = y, mask
    yp[:n_rows, n_cols:], mp[:n_rows, n_cols:] = y[:, :1], mask[:, :1]
    yp[n_rows:], mp[n_rows:] = 0.0, False
    padded = []
    for c in cols:
        c = np.asarray(c, dtype=float)
        out = np.empty((width,) + c.shape[1:])
        out[:n_cols], out[n_cols:] = c, c[:1]
        padded.append(out)
    return yp, mp, padded


def _week_loop(step, carry, xs, n_rows):
    """``lax.scan(step, carry, xs)`` over the first ``n_rows`` rows only (a traced count, rounded up
    to :data:`UNROLL`; the rows after it are masked padding): the row capacity of ``xs`` is a
    compile-time shape, the weeks actually run are not, so one program serves every length up to
    its capacity without running its padding. Returns the final carry."""
    n_blocks = (n_rows + UNROLL - 1) // UNROLL

    def body(k, carry):
        block = tuple(jax.lax.dynamic_slice_in_dim(x, k * UNROLL, UNROLL, axis=0) for x in xs)
        for u in range(UNROLL):
            carry, _ = step(carry, tuple(b[u] for b in block))
        return carry

    return jax.lax.fori_loop(0, n_blocks, body, carry)


@jax.jit
def _loglik_scan(y, mask, mu, omega, alpha, beta, backcast, n_rows):
    eps = y - mu
    eps2 = eps * eps
    h0 = omega + (alpha + beta) * backcast

    def step(carry, obs):
        h, acc, bad = carry
        e2, m = obs
        term = jnp.where(m, LOG_2PI + jnp.log(h) + e2 / h, 0.0)
        bad = bad | (m & ~(h > 0))
        return (omega + alpha * e2 + beta * h, acc + term, bad), None

    h_next, acc, bad = _week_loop(step, (h0, jnp.zeros_like(h0), jnp.zeros(h0.shape, bool)), (eps2, mask), n_rows)
    ll = -0.5 * acc
    return jnp.where(bad | ~jnp.isfinite(ll), -jnp.inf, ll)


# the 10 distinct products dh_i dh_j (i <= j) of the expected information / observed curvature
_PAIRS = tuple((i, j) for i in range(4) for j in range(i, 4))


_PAIR_I = np.array([i for i, _ in _PAIRS])
_PAIR_J = np.array([j for _, j in _PAIRS])
_N_ACC = 1 + 10 + 1 + 4 + 10 + 10 + 1     # the sums of one week, stacked (see _derivative_scan)


@jax.jit
def _derivative_scan(y, mask, mu, omega, alpha, beta, backcast, n_rows):
    # the recursion state (10, N) and the 37 sums over weeks (37, N) are each one stacked array:
    # XLA updates them with a few fused elementwise loops per week (one small op per quantity, as
    # separate (N,) carries, was 2x slower on CPU); every sum still adds one week at a time, in
    # week order, elementwise per column (a fund's numbers do not depend on its batch)
    eps = y - mu
    eps2 = eps * eps
    n = y.shape[1]
    h0 = omega + (alpha + beta) * backcast
    zeros = jnp.zeros(n)
    ones = jnp.ones(n)
    state0 = jnp.stack([zeros, ones, backcast, backcast] + [zeros] * 6)

    def step(carry, obs):
        h, state, acc = carry
        e, e2, m = obs
        inv_h = jnp.where(m, 1.0 / h, 0.0)
        a = e2 * inv_h
        term = jnp.where(m, LOG_2PI + jnp.log(h) + a, 0.0)
        w1 = 0.5 * (a - 1.0) * inv_h
        e_h = e * inv_h
        dh = state[:4]
        prod = dh[_PAIR_I] * dh[_PAIR_J]
        w_info = 0.5 * inv_h * inv_h
        w_obs = 0.5 * (2.0 * a - 1.0) * inv_h * inv_h
        acc = acc + jnp.concatenate([term[None], w1 * state, e_h[None], (e_h * inv_h) * dh, w_info * prod,
                                     w_obs * prod, inv_h[None]], axis=0)
        forcing = jnp.stack([-2.0 * alpha * e, ones, e2, h, 2.0 * alpha * ones, -2.0 * e,
                             state[0], state[1], state[2], 2.0 * state[3]])
        return (omega + alpha * e2 + beta * h, beta * state + forcing, acc), None

    out = _week_loop(step, (h0, state0, jnp.zeros((_N_ACC, n))), (eps, eps2, mask), n_rows)
    return out[2]


def _split_sums(acc):
    """The rows of :func:`_derivative_scan`'s (37, N) sums: ``sum term`` (minus twice the
    log-likelihood), ``linear`` (10), ``sum e/h``, ``cross`` (4), ``info`` (10), ``outer`` (10), ``sum 1/h``."""
    return acc[0], acc[1:11], acc[11], acc[12:16], acc[16:26], acc[26:36], acc[36]


def loglik(y: np.ndarray, mask: np.ndarray, theta: np.ndarray, backcast: np.ndarray) -> np.ndarray:
    """Gaussian log-likelihood per column (``-inf`` where the variance path is not positive or the
    value not finite); ``y``, ``mask`` (L, N), ``theta`` (N, 4) = mu, omega, alpha, beta.

    Parameters
    ----------
    y, mask : ndarray, shape (L, N)
        Left-aligned scaled returns and the mask of observations.
    theta : ndarray, shape (N, 4)
        ``mu, omega, alpha, beta``.
    backcast : ndarray, shape (N,)
        The fixed backcast of each column.

    Returns
    -------
    ndarray, shape (N,)
    """
    out = np.empty(y.shape[1])
    enable_jax_compilation_cache()
    pending = []                      # every chunk dispatched first: XLA computes while the next is padded
    for sl, width in _chunks(y.shape[1]):
        yp, mp, (th, bc) = _pad(y[:, sl], mask[:, sl], [theta[sl], backcast[sl]], width)
        with jax.enable_x64(True):
            pending.append((sl, _loglik_scan(yp, mp, th[:, 0], th[:, 1], th[:, 2], th[:, 3], bc, y.shape[0])))
    for sl, ll in pending:
        out[sl] = np.asarray(ll)[: sl.stop - sl.start]
    return out


def derivative_sums(y: np.ndarray, mask: np.ndarray, theta: np.ndarray, backcast: np.ndarray):
    """The sums over weeks the optimiser needs, per column: log-likelihood, ``sum w1 * (dh, d2h)``
    (N, 10), ``sum e/h``, ``sum e/h^2 dh`` (N, 4), ``sum 0.5 dh dh' / h^2`` and
    ``sum 0.5 (2a - 1) dh dh' / h^2`` (N, 4, 4), ``sum 1/h``; see ``garch_engine._derivatives``.

    Parameters
    ----------
    y, mask : ndarray, shape (L, N)
        Left-aligned scaled returns and the mask of observations.
    theta : ndarray, shape (N, 4)
        ``mu, omega, alpha, beta``.
    backcast : ndarray, shape (N,)
        The fixed backcast of each column.

    Returns
    -------
    tuple of ndarray
        ``(ll, linear, sum_eh, cross, info, outer, sum_inv)`` as described above.
    """
    n = y.shape[1]
    ll, sum_eh, sum_inv = np.empty(n), np.empty(n), np.empty(n)
    linear, cross = np.empty((n, 10)), np.empty((n, 4))
    full_info, full_outer = np.empty((n, 4, 4)), np.empty((n, 4, 4))
    enable_jax_compilation_cache()
    pending = []                      # every chunk dispatched first: XLA computes while the next is padded
    for sl, width in _chunks(n):
        yp, mp, (th, bc) = _pad(y[:, sl], mask[:, sl], [theta[sl], backcast[sl]], width)
        with jax.enable_x64(True):
            pending.append((sl, _derivative_scan(yp, mp, th[:, 0], th[:, 1], th[:, 2], th[:, 3], bc, y.shape[0])))
    for sl, acc in pending:
        res = _split_sums(np.asarray(acc)[:, : sl.stop - sl.start])
        ll[sl], linear[sl], sum_eh[sl], cross[sl], sum_inv[sl] = -0.5 * res[0], res[1].T, res[2], res[3].T, res[6]
        for block, full in ((res[4], full_info), (res[5], full_outer)):
            full[sl, _PAIR_I, _PAIR_J] = block.T
            full[sl, _PAIR_J, _PAIR_I] = block.T
    return ll, linear, sum_eh, cross, full_info, full_outer, sum_inv


__all__ = ["loglik", "derivative_sums"]
