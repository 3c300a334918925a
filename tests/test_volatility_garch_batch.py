"""The compiled batched optimiser (garch_batch, issue #20 item 4) against the numpy engine it
replaces (``garch_optimizer.ENGINE = "numpy"``): the same optimum on a simulated panel with a near-constant
fund, a 40-week fund and a fund whose optimum is on the beta = 0 bound; deterministic; a fund's
estimates do not depend on the other funds of its batch."""
import sys
from pathlib import Path

import numpy as np
import pytest

from qmtl_research.volatility import garch_engine as E
from qmtl_research.volatility import garch_optimizer as O

sys.path.insert(0, str(Path(__file__).parent))
from test_volatility_garch_refits import simulate_garch  # noqa: E402


def _arch1(n_series: int, n_weeks: int, seed: int) -> np.ndarray:
    """ARCH(1) series (omega 1e-4, alpha 0.5, beta 0): with seed 5, series 1 and 3 have their
    Gaussian-likelihood optimum on the bound beta = 0."""
    rng = np.random.default_rng(seed)
    cols = []
    for _ in range(n_series):
        z, e, h = rng.standard_normal(n_weeks), np.zeros(n_weeks), 1e-4
        for t in range(n_weeks):
            h = 1e-4 + 0.5 * (e[t - 1] ** 2 if t else 0.0)
            e[t] = np.sqrt(h) * z[t]
        cols.append(e)
    return np.column_stack(cols)


def _panel(seed: int = 7) -> np.ndarray:
    """Weeks x series: 20 GARCH(1,1) t(6) funds, a 40-week fund, a near-constant (tick-rounded) fund,
    an iid fund and 4 ARCH(1) funds (two with their optimum on the bound beta = 0)."""
    rng = np.random.default_rng(seed)
    v = simulate_garch(20, 300, "6", seed=seed).to_numpy().copy()
    v[: 300 - 40, 0] = np.nan                                          # a 40-week fund (late start)
    v[:150, 1::4] = np.nan                                              # ragged lengths
    near_constant = np.round(0.0004 + 0.00005 * rng.standard_normal(300), 4)   # a money-market NAV tick
    iid = 0.02 * rng.standard_normal(300)                               # no variance dynamics
    return np.column_stack([v, near_constant, iid, _arch1(4, 300, seed=5)])


def _fit(values: np.ndarray, engine: str, zero_mean: bool = False, warm=None):
    old = O.ENGINE
    O.ENGINE = engine
    try:
        y, mask = E._left_align(values / np.nanstd(values, axis=0, ddof=1))
        b = E._make_batch(y, mask, zero_mean)
        with O._one_blas_thread():
            return b, O._multi_start(b, warm, 200)
    finally:
        O.ENGINE = old


@pytest.mark.parametrize("zero_mean", [False, True])
def test_compiled_optimiser_reaches_the_numpy_engines_optimum(zero_mean):
    values = _panel()
    b, fast = _fit(values, "compiled", zero_mean)
    _, ref = _fit(values, "numpy", zero_mean)
    assert fast.converged.all() and ref.converged.all()
    np.testing.assert_allclose(fast.loglik, ref.loglik, rtol=0, atol=1e-8)
    np.testing.assert_allclose(fast.theta, ref.theta, rtol=0, atol=1e-6)
    # the reported log-likelihood is the one at the estimates (independent recomputation, numpy)
    np.testing.assert_allclose(fast.loglik, E._loglik_numpy(b, fast.theta), rtol=0, atol=1e-8)
    # the panel has the cases it claims: a 40-week fund, a near-constant one, one on a bound
    assert b.lengths[0] == 40
    assert len(np.unique(values[:, 20])) < 0.5 * len(values)
    assert (fast.theta[[23, 25], 3] <= O.BOUND_TOL).all()


def test_compiled_optimiser_warm_refits_match_the_numpy_engine():
    values = _panel(seed=11)
    _, first = _fit(values[:-30], "compiled")
    _, fast = _fit(values, "compiled", warm=first.theta)
    _, ref = _fit(values, "numpy", warm=first.theta)
    np.testing.assert_allclose(fast.loglik, ref.loglik, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(fast.n_iter, ref.n_iter)


def test_compiled_optimiser_is_deterministic_and_batch_independent():
    values = _panel(seed=3)
    _, a = _fit(values, "compiled")
    _, b = _fit(values, "compiled")
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.loglik, b.loglik)
    _, part = _fit(values[:, 5:9], "compiled")                         # the same funds in another batch
    np.testing.assert_array_equal(part.theta, a.theta[5:9])
    np.testing.assert_array_equal(part.n_iter, a.n_iter[5:9])
