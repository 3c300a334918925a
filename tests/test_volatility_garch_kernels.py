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


def test_nested_subsets_read_the_right_columns_without_copying_the_observations():
    b, theta = _batch(40, 200, seed=3)
    outer = E._subset(b, np.arange(5, 35))
    inner = E._subset(outer, np.array([0, 7, 29]))
    assert inner.y_all is b.y_all and inner.shared is b.shared
    np.testing.assert_array_equal(inner.index, [5, 12, 34])
    np.testing.assert_array_equal(inner.y, b.y[:, [5, 12, 34]])
    np.testing.assert_array_equal(inner.mask, b.mask[:, [5, 12, 34]])
    np.testing.assert_array_equal(E._loglik(inner, theta[[5, 12, 34]]), E._loglik(b, theta)[[5, 12, 34]])
    np.testing.assert_allclose(E._loglik(inner, theta[[5, 12, 34]]),
                               E._loglik_numpy(inner, theta[[5, 12, 34]]), rtol=0, atol=1e-8)


def test_chunks_cover_every_column_once_and_use_every_device():
    from qmtl_research.volatility import garch_kernels as K

    for n in (1, 31, 32, 33, 100, 256, 257, 600, 7755):
        for devices in (1, 2, 3):
            chunks = K._chunks(n, devices)
            covered = np.concatenate([np.arange(sl.start, sl.stop) for sl, _ in chunks])
            np.testing.assert_array_equal(covered, np.arange(n))
            assert all(sl.stop - sl.start <= w and w in K.WIDTHS for sl, w in chunks)
            if n > K.WIDTHS[0]:
                assert len(chunks) >= min(devices, -(-n // K.WIDTHS[0]))


def test_the_split_over_devices_does_not_change_a_number():
    import jax

    from qmtl_research.volatility import garch_kernels as K

    assert len(jax.devices()) >= 2, "qmtl_research exposes one XLA device per core (the test machines have 2)"
    b, theta = _batch(300, 150, seed=4)
    obs = K.Observations(b.y_all, b.mask_all)
    split = K.derivative_sums(obs, None, theta, b.backcast)
    obs.on_device = obs.on_device[:1]
    one = K.derivative_sums(obs, None, theta, b.backcast)
    for a, c in zip(split, one):
        np.testing.assert_array_equal(a, c)


def test_importing_the_package_exposes_one_xla_device_per_core_unless_told_otherwise():
    import os
    import subprocess

    code = "import qmtl_research, jax; print(len(jax.devices()))"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    cores = len(os.sched_getaffinity(0))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert int(out.stdout) == min(8, cores)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=3"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert int(out.stdout) == 3
