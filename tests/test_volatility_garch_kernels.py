"""The compiled GARCH recursions (JAX lax.scan + jit) against the numpy engine they replace:
log-likelihoods to 1e-8, score / information / curvature to rounding, on ragged panels of every
compiled width; a fund's numbers do not depend on its batch."""
import sys
from pathlib import Path

import numpy as np

from qmtl_research.volatility import garch_engine as E
from qmtl_research.volatility import garch_optimizer as O

sys.path.insert(0, str(Path(__file__).parent))
from test_volatility_garch_refits import simulate_garch  # noqa: E402


def _batch(n_series, n_weeks, seed):
    v = simulate_garch(n_series, n_weeks, "6", seed).to_numpy().copy()
    v[: n_weeks // 3, ::3] = np.nan                                   # late starters: ragged lengths
    y, m = E._left_align(v / np.nanstd(v, axis=0))
    b = E._make_batch(y, m, False)
    theta = O._project(b, O._grid_start(b))
    theta[:, 0] += 0.01
    return b, theta


def test_compiled_loglik_and_derivatives_equal_the_numpy_engine():
    for n_series, n_weeks in ((5, 130), (300, 260), (1100, 140)):  # several chunks of the compiled widths
        b, theta = _batch(n_series, n_weeks, seed=n_series)
        np.testing.assert_allclose(E._loglik(b, theta), E._loglik_numpy(b, theta), rtol=0, atol=1e-8)
        for fast, ref in zip(E._derivatives(b, theta), E._derivatives_numpy(b, theta)):
            np.testing.assert_allclose(fast, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())


def test_compiled_loglik_is_minus_inf_where_the_variance_is_not_positive():
    b, theta = _batch(4, 130, seed=1)
    theta[1, 1] = -1.0                                                  # omega < 0: h < 0 at some week
    theta[1, 2:] = 0.0
    ll = E._loglik(b, theta)
    assert ll[1] == -np.inf and np.isfinite(ll[[0, 2, 3]]).all()
    assert E._loglik_numpy(b, theta)[1] == -np.inf


def test_a_funds_numbers_do_not_depend_on_its_batch():
    b, theta = _batch(40, 200, seed=2)
    whole = E._derivatives(b, theta)
    part = E._derivatives(E._subset(b, np.arange(3, 9)), theta[3:9])
    for a, c in zip(whole, part):
        np.testing.assert_array_equal(a[3:9], c)
