"""Compiled GJR-GARCH(1,1) recursions for :mod:`.gjr_batch`: the log-likelihood, and the sums over
weeks of its score, observed curvature and expected information, per column, as one loop over
weeks (JAX ``jit``, float64, vectorised over columns; the layout of
:func:`.garch_kernels._derivative_scan` for GARCH(1,1)). Every sum adds one week at a time in week
order, elementwise per column, so a sample's numbers do not depend on its batch.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from qmtl_research.volatility.garch_kernels import _week_loop

LOG_2PI = math.log(2.0 * math.pi)

@jax.jit
def _loglik_scan(y, mask, theta, backcast, n_rows):
    """Log-likelihood per column (summed in week order), ``-inf`` where a variance is not positive."""
    mu, omega, alpha, gamma, beta = (theta[:, k] for k in range(5))
    eps = y - mu
    h0 = omega + (alpha + gamma / 2.0 + beta) * backcast

    def step(carry, obs):
        h, acc, bad = carry
        e, m = obs
        acc = acc + jnp.where(m, LOG_2PI + jnp.log(h) + e * e / h, 0.0)
        bad = bad | (m & ~(h > 0))
        return (omega + (alpha + gamma * (e < 0)) * e * e + beta * h, acc, bad), None

    _, acc, bad = _week_loop(step, (h0, jnp.zeros_like(h0), jnp.zeros(h0.shape, bool)), (eps, mask), n_rows)
    ll = -0.5 * acc
    return jnp.where(bad | ~jnp.isfinite(ll), -jnp.inf, ll)


# derivatives of h: dh (mu, omega, alpha, gamma, beta), then the second derivatives that are not
# identically 0 (h_0 = omega + (alpha + gamma/2 + beta) B is linear in the parameters)
_SECOND = ((0, 0), (0, 2), (0, 3), (0, 4), (1, 4), (2, 4), (3, 4), (4, 4))
_PAIRS = tuple((i, j) for i in range(5) for j in range(i, 5))
_N_ACC = 1 + 13 + 1 + 5 + 15 + 15 + 1 + 1     # ..., sum 1/h, and the count of weeks with h <= 0


@jax.jit
def _derivative_scan(y, mask, theta, backcast, n_rows):
    """The sums over weeks of the score, observed curvature and expected information (as
    ``garch_kernels._derivative_scan`` for GARCH(1,1)), per column, in week order: the state is
    ``dh`` (5) and the 8 non-zero second derivatives of ``h``, forced each week by
    ``(-2 k e, 1, e^2, n e^2, h)`` and ``(2 k, -2 e, -2 n e, dh_mu, dh_omega, dh_alpha, dh_gamma,
    2 dh_beta)`` with ``n = 1[e < 0]``, ``k = alpha + gamma n``."""
    mu, omega, alpha, gamma, beta = (theta[:, k] for k in range(5))
    eps = y - mu
    n = y.shape[1]
    zeros, ones = jnp.zeros(n), jnp.ones(n)
    h0 = omega + (alpha + gamma / 2.0 + beta) * backcast
    state0 = jnp.stack([zeros, ones, backcast, backcast / 2.0, backcast] + [zeros] * 8)
    pair_i = np.array([i for i, _ in _PAIRS])
    pair_j = np.array([j for _, j in _PAIRS])

    def step(carry, obs):
        h, state, acc = carry
        e, m = obs
        e2 = e * e
        neg = (e < 0).astype(e.dtype)
        inv_h = jnp.where(m, 1.0 / h, 0.0)
        a = e2 * inv_h
        term = jnp.where(m, LOG_2PI + jnp.log(h) + a, 0.0)
        w1 = 0.5 * (a - 1.0) * inv_h
        e_h = e * inv_h
        dh = state[:5]
        prod = dh[pair_i] * dh[pair_j]
        w_info = 0.5 * inv_h * inv_h
        w_obs = 0.5 * (2.0 * a - 1.0) * inv_h * inv_h
        acc = acc + jnp.concatenate([term[None], w1 * state, e_h[None], (e_h * inv_h) * dh, w_info * prod,
                                     w_obs * prod, inv_h[None], (m & ~(h > 0)).astype(h.dtype)[None]], axis=0)
        k = alpha + gamma * neg
        forcing = jnp.stack([-2.0 * k * e, ones, e2, neg * e2, h, 2.0 * k, -2.0 * e, -2.0 * neg * e,
                             state[0], state[1], state[2], state[3], 2.0 * state[4]])
        return (omega + k * e2 + beta * h, beta * state + forcing, acc), None

    out = _week_loop(step, (h0, state0, jnp.zeros((_N_ACC, n))), (eps, mask), n_rows)
    return out[2]
