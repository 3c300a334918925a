"""Compiled GARCH(1,1) recursions: the variance path, the log-likelihood and its first and second
derivatives as one compiled loop over weeks (``_week_loop``: a ``fori_loop`` over the real weeks
only, one week per iteration), ``jit``-compiled, in float64.

The numpy engine of :mod:`qmtl_research.volatility.garch_engine` ran these as Python loops over weeks
(one vectorised numpy step per week); here the whole recursion is one compiled loop. Every
reduction over weeks is accumulated inside the scan, in week order and elementwise per column,
so a fund's numbers do not depend on the other funds in its batch (as with the numpy engine's
``cumsum`` reductions), and they equal the numpy engine's to rounding (tests: 1e-8 on the
log-likelihood, see ``tests/test_volatility_garch_kernels.py``).

64-bit floats are switched on only around these calls (``jax.enable_x64``), so Keras (stage 1's
LSTM, float32) is not affected. A fit's observations are padded once to a power of two of weeks
and of series and held on the device (:class:`Observations`); each call computes chunks of
:data:`WIDTHS` columns, which its loop reads week by week from them by index, so refits on growing
samples reuse a few compiled programs instead of compiling one per shape, and the optimiser's
subsets of columns (live fits, line-search trials) are never copied on the host.
"""
from __future__ import annotations

import math
import jax
import jax.numpy as jnp
import numpy as np

from qmtl_research.volatility.compilation import enable_jax_compilation_cache

LOG_2PI = math.log(2.0 * math.pi)
MIN_ROWS = 128             # weeks are padded to a power of two (at least this): few compiled programs
WIDTHS = (32, 128, 256)    # series are processed in chunks of one of these widths (256: 2.2 vs 2.7 s CPU with 1,024 for
                           # the 2,585-fund cold fit, bit-identical: a column's numbers do not depend on its chunk)


def _bucket_rows(n: int) -> int:
    return max(MIN_ROWS, 1 << (int(n) - 1).bit_length())


def _chunks(n: int, n_devices: int = 1):
    """Column slices and the compiled width of each: chunks of at most the largest width, at least
    one per device when there are more than the smallest width's columns, each compiled at the
    smallest width that holds it."""
    size = min(WIDTHS[-1], max(WIDTHS[0], math.ceil(n / max(1, n_devices))))
    out = []
    for start in range(0, n, size):
        stop = min(start + size, n)
        out.append((slice(start, stop), next(w for w in WIDTHS if stop - start <= w)))
    return out


def _bucket_cols(n: int) -> int:
    return max(WIDTHS[-1], 1 << (int(n) - 1).bit_length())


class Observations:
    """The observations of one fit, padded once and held as device arrays, one copy per XLA device.

    ``y`` and ``mask`` (L, M) are padded with masked zeros to a power of two of rows (at least
    :data:`MIN_ROWS`) and of columns (at least the largest width), so that fits of similar sizes
    share compiled programs. Every kernel call reads the columns it is given from them inside the
    compiled loop (week by week), so subsets of the fit's columns (the optimiser's live columns, the
    trial points of a line search) cost no copy on the host, and its chunks run on the devices in
    turn (XLA's CPU client runs one program at a time per device; ``import qmtl_research`` exposes
    one per core). Memory: 9 bytes per padded cell per device (about 150 MB per device for 25,000
    funds x 341 weeks).

    Parameters
    ----------
    y, mask : ndarray, shape (L, M)
        Left-aligned observations and their mask.

    Attributes
    ----------
    on_device : list of (jax.Array, jax.Array)
        The padded ``y`` and ``mask`` on each device of ``jax.devices()``.
    n_rows : int
        ``L``: the weeks the compiled loops run (the padding rows are never read).
    """

    def __init__(self, y: np.ndarray, mask: np.ndarray):
        n_rows, n_cols = y.shape
        rows, cols = _bucket_rows(n_rows), _bucket_cols(n_cols)
        yp = np.zeros((rows, cols))
        mp = np.zeros((rows, cols), dtype=bool)
        yp[:n_rows, :n_cols], mp[:n_rows, :n_cols] = y, mask
        enable_jax_compilation_cache()
        with jax.enable_x64(True):
            self.on_device = [(jax.device_put(yp, d), jax.device_put(mp, d)) for d in jax.devices()]
        self.n_rows = n_rows


def _pad(cols: np.ndarray, params: list[np.ndarray], width: int):
    """Pad a chunk's column indices and per-column parameters to ``width`` with copies of its first
    column (sliced off afterwards)."""
    n_cols = len(cols)
    index = np.empty(width, dtype=np.int32)
    index[:n_cols], index[n_cols:] = cols, cols[0]
    padded = []
    for c in params:
        c = np.asarray(c, dtype=float)
        out = np.empty((width,) + c.shape[1:])
        out[:n_cols], out[n_cols:] = c, c[:1]
        padded.append(out)
    return index, padded


def _gathered(y, mask, cols):
    """Week ``k``'s observations of the columns ``cols``: the reader of :func:`_week_loop`."""
    def week(k):
        return (jnp.take(jax.lax.dynamic_index_in_dim(y, k, keepdims=False), cols),
                jnp.take(jax.lax.dynamic_index_in_dim(mask, k, keepdims=False), cols))
    return week


def _week_loop(step, carry, xs, n_rows):
    """``lax.scan(step, carry, xs)`` over the first ``n_rows`` weeks only (a traced count; the rows
    after it are masked padding): the row capacity of the data is a compile-time shape, the weeks
    actually run are not, so one program serves every length up to its capacity without running
    its padding. ``xs``: a tuple of (rows, ...) arrays, or a function of the week returning that
    week's tuple (e.g. :func:`_gathered`). Returns the final carry."""
    week = xs if callable(xs) else (lambda k: tuple(jax.lax.dynamic_index_in_dim(x, k, keepdims=False) for x in xs))

    def body(k, carry):
        carry, _ = step(carry, week(k))
        return carry

    return jax.lax.fori_loop(0, n_rows, body, carry)


@jax.jit
def _loglik_scan(y, mask, cols, mu, omega, alpha, beta, backcast, n_rows):
    h0 = omega + (alpha + beta) * backcast

    def step(carry, obs):
        h, acc, bad = carry
        y_t, m = obs
        e = y_t - mu
        e2 = e * e
        term = jnp.where(m, LOG_2PI + jnp.log(h) + e2 / h, 0.0)
        bad = bad | (m & ~(h > 0))
        return (omega + alpha * e2 + beta * h, acc + term, bad), None

    h_next, acc, bad = _week_loop(step, (h0, jnp.zeros_like(h0), jnp.zeros(h0.shape, bool)),
                                  _gathered(y, mask, cols), n_rows)
    ll = -0.5 * acc
    return jnp.where(bad | ~jnp.isfinite(ll), -jnp.inf, ll)


# the 10 distinct products dh_i dh_j (i <= j) of the expected information / observed curvature
_PAIRS = tuple((i, j) for i in range(4) for j in range(i, 4))


_PAIR_I = np.array([i for i, _ in _PAIRS])
_PAIR_J = np.array([j for _, j in _PAIRS])
_N_ACC = 1 + 10 + 1 + 4 + 10 + 10 + 1     # the sums of one week, stacked (see _derivative_scan)


@jax.jit
def _derivative_scan(y, mask, cols, mu, omega, alpha, beta, backcast, n_rows):
    # the recursion state (10, N) and the 37 sums over weeks (37, N) are each one stacked array:
    # XLA updates them with a few fused elementwise loops per week (one small op per quantity, as
    # separate (N,) carries, was 2x slower on CPU); every sum still adds one week at a time, in
    # week order, elementwise per column (a fund's numbers do not depend on its batch)
    n = cols.shape[0]
    h0 = omega + (alpha + beta) * backcast
    zeros = jnp.zeros(n)
    ones = jnp.ones(n)
    state0 = jnp.stack([zeros, ones, backcast, backcast] + [zeros] * 6)

    def step(carry, obs):
        h, state, acc = carry
        y_t, m = obs
        e = y_t - mu
        e2 = e * e
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

    out = _week_loop(step, (h0, state0, jnp.zeros((_N_ACC, n))), _gathered(y, mask, cols), n_rows)
    return out[2]


def _split_sums(acc):
    """The rows of :func:`_derivative_scan`'s (37, N) sums: ``sum term`` (minus twice the
    log-likelihood), ``linear`` (10), ``sum e/h``, ``cross`` (4), ``info`` (10), ``outer`` (10), ``sum 1/h``."""
    return acc[0], acc[1:11], acc[11], acc[12:16], acc[16:26], acc[26:36], acc[36]


def _observations(data, mask) -> Observations:
    return data if isinstance(data, Observations) else Observations(data, mask)


def loglik(data: "Observations | np.ndarray", mask: np.ndarray | None, theta: np.ndarray, backcast: np.ndarray,
           cols: np.ndarray | None = None) -> np.ndarray:
    """Gaussian log-likelihood per column (``-inf`` where the variance path is not positive or the
    value not finite).

    Parameters
    ----------
    data : Observations or ndarray, shape (L, M)
        The fit's observations (:class:`Observations`), or left-aligned scaled returns (padded here).
    mask : ndarray, shape (L, M), or None
        The mask of observations when ``data`` is an array (ignored otherwise).
    theta : ndarray, shape (N, 4)
        ``mu, omega, alpha, beta`` of each column computed.
    backcast : ndarray, shape (N,)
        The fixed backcast of each column computed.
    cols : ndarray of int, shape (N,), optional
        The columns of ``data`` computed (default: all, in order).

    Returns
    -------
    ndarray, shape (N,)
    """
    obs = _observations(data, mask)
    cols = np.arange(len(theta)) if cols is None else np.asarray(cols)
    out = np.empty(len(cols))
    pending = []                      # every chunk dispatched first: XLA computes while the next is prepared
    for k, (sl, width) in enumerate(_chunks(len(cols), len(obs.on_device))):
        index, (th, bc) = _pad(cols[sl], [theta[sl], backcast[sl]], width)
        oy, om = obs.on_device[k % len(obs.on_device)]
        with jax.enable_x64(True):
            pending.append((sl, _loglik_scan(oy, om, index, th[:, 0], th[:, 1], th[:, 2], th[:, 3], bc,
                                             obs.n_rows)))
    for sl, ll in pending:
        out[sl] = np.asarray(ll)[: sl.stop - sl.start]
    return out


def derivative_sums(data: "Observations | np.ndarray", mask: np.ndarray | None, theta: np.ndarray,
                    backcast: np.ndarray, cols: np.ndarray | None = None):
    """The sums over weeks the optimiser needs, per column: log-likelihood, ``sum w1 * (dh, d2h)``
    (N, 10), ``sum e/h``, ``sum e/h^2 dh`` (N, 4), ``sum 0.5 dh dh' / h^2`` and
    ``sum 0.5 (2a - 1) dh dh' / h^2`` (N, 4, 4), ``sum 1/h``; see ``garch_engine._derivatives``.

    Parameters
    ----------
    data, mask, theta, backcast, cols
        As in :func:`loglik`.

    Returns
    -------
    tuple of ndarray
        ``(ll, linear, sum_eh, cross, info, outer, sum_inv)`` as described above.
    """
    obs = _observations(data, mask)
    cols = np.arange(len(theta)) if cols is None else np.asarray(cols)
    n = len(cols)
    ll, sum_eh, sum_inv = np.empty(n), np.empty(n), np.empty(n)
    linear, cross = np.empty((n, 10)), np.empty((n, 4))
    full_info, full_outer = np.empty((n, 4, 4)), np.empty((n, 4, 4))
    pending = []                      # every chunk dispatched first: XLA computes while the next is prepared
    for k, (sl, width) in enumerate(_chunks(n, len(obs.on_device))):
        index, (th, bc) = _pad(cols[sl], [theta[sl], backcast[sl]], width)
        oy, om = obs.on_device[k % len(obs.on_device)]
        with jax.enable_x64(True):
            pending.append((sl, _derivative_scan(oy, om, index, th[:, 0], th[:, 1], th[:, 2], th[:, 3], bc,
                                                 obs.n_rows)))
    for sl, acc in pending:
        res = _split_sums(np.asarray(acc)[:, : sl.stop - sl.start])
        ll[sl], linear[sl], sum_eh[sl], cross[sl], sum_inv[sl] = -0.5 * res[0], res[1].T, res[2], res[3].T, res[6]
        for block, full in ((res[4], full_info), (res[5], full_outer)):
            full[sl, _PAIR_I, _PAIR_J] = block.T
            full[sl, _PAIR_J, _PAIR_I] = block.T
    return ll, linear, sum_eh, cross, full_info, full_outer, sum_inv


__all__ = ["Observations", "loglik", "derivative_sums"]
