"""Realised-vol targets and the map from variance forecasts to the expected target.

References: hand computations, the closed form c4(n) of the sample std of iid normals,
two independent formulas for E[S] (Carlson's R_G and a quadrature), and simulation from a
known GARCH(1,1) (not the code's own output).
"""
import math

import numpy as np
import pandas as pd
import pytest

from qmtl_research.conventions import CONVENTIONS
from qmtl_research.volatility.targets import (_expected_sqrt_quadratic_form, expected_sample_std,
                                              expected_target_vol, realized_vol, regulatory_vol, rms_target_vol,
                                              stage2_vol)


def _weekly(values):
    return pd.Series(values, index=pd.date_range("2020-01-03", periods=len(values), freq="W-FRI"))


def _c4(n):
    return math.sqrt(2 / (n - 1)) * math.exp(math.lgamma(n / 2) - math.lgamma((n - 1) / 2))


def test_realized_vol_matches_hand_computation():
    r = _weekly([0.01, -0.02, 0.03, 0.00, 0.05])
    vol = realized_vol(r, window=4)
    # window ending at week 4: values 0.01, -0.02, 0.03, 0.00; mean 0.005
    dev2 = (0.005 ** 2) + (0.025 ** 2) + (0.025 ** 2) + (0.005 ** 2)
    expected4 = math.sqrt(dev2 / 3) * math.sqrt(52) * 100
    # window ending at week 5: -0.02, 0.03, 0.00, 0.05; mean 0.015
    dev2b = 0.035 ** 2 + 0.015 ** 2 + 0.015 ** 2 + 0.035 ** 2
    expected5 = math.sqrt(dev2b / 3) * math.sqrt(52) * 100
    assert vol.iloc[:3].isna().all()
    assert vol.iloc[3] == pytest.approx(expected4, rel=1e-12)
    assert vol.iloc[4] == pytest.approx(expected5, rel=1e-12)
    assert expected4 == pytest.approx(15.0111, abs=1e-4)   # sqrt(0.0013/3) * sqrt(52) * 100


def test_long_windows_and_frames():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(0, 0.02, size=(200, 3)),
                         index=pd.date_range("2016-06-24", periods=200, freq="W-FRI"), columns=["a", "b", "c"])
    reg = regulatory_vol(frame)
    s2 = stage2_vol(frame)
    last = frame.iloc[-156:].to_numpy()
    assert np.allclose(reg.iloc[-1].to_numpy(), last.std(axis=0, ddof=1) * np.sqrt(52) * 100)
    assert np.allclose(s2.iloc[-1].to_numpy(), frame.iloc[-152:].to_numpy().std(axis=0, ddof=1) * np.sqrt(52) * 100)
    assert reg.iloc[:155].isna().all().all() and reg.iloc[155:].notna().all().all()


@pytest.mark.parametrize("n", [2, 3, 4, 6, 9])
def test_equal_variances_give_c4_times_sigma(n):
    # E[S] of n iid N(mu, s^2) is c4(n) s (closed form); c4(4) = 0.9213
    for s2 in (1.0, 4e-4):
        assert expected_sample_std(np.full(n, s2)) == pytest.approx(_c4(n) * math.sqrt(s2), rel=1e-9)
    assert _c4(4) == pytest.approx(0.921318, abs=1e-6)


def test_two_formulas_agree_and_jensen_bound():
    rng = np.random.default_rng(8)
    lam = rng.uniform(0.1, 3.0, size=(50, 3))
    # Carlson R_G (3 weights) vs the quadrature (the same weights plus a zero weight)
    rg = _expected_sqrt_quadratic_form(lam)
    quad = _expected_sqrt_quadratic_form(np.concatenate([lam, np.zeros((50, 1))], axis=1))
    np.testing.assert_allclose(rg, quad, rtol=1e-9)
    h = rng.uniform(0.5, 2.0, size=(200, 4))
    assert (expected_sample_std(h) < np.sqrt(h.mean(axis=1))).all()     # E sqrt < sqrt E


@pytest.mark.parametrize("h", [[1.0, 2.0, 0.5, 3.0], [0.2, 0.2, 5.0, 0.1], [1e-4, 2e-4, 3e-4, 4e-4]])
def test_expected_sample_std_by_simulation(h):
    h = np.array(h)
    rng = np.random.default_rng(11)
    r = 0.3 + rng.standard_normal((1_000_000, 4)) * np.sqrt(h)           # common mean drops out
    s = r.std(axis=1, ddof=1)
    se = s.std() / math.sqrt(len(s))
    assert abs(expected_sample_std(h) - s.mean()) < 4 * se


def test_mapping_is_unbiased_for_a_known_garch_and_rms_is_not():
    """Simulate a GARCH(1,1) with known parameters: from each origin, the true variance path
    h1..h4 (conditional expectations) maps to E[target]; the mean realised target over many
    independent 4-week continuations must match it, while the RMS mapping over-forecasts."""
    omega, alpha, beta, mu = 2e-5, 0.10, 0.85, 0.001
    rng = np.random.default_rng(2024)
    n_paths = 400_000
    h1 = omega / (1 - alpha - beta) * rng.uniform(0.3, 3.0, n_paths)     # states at the origin
    # the expected variance path given h1: h_{k+1} = omega + (alpha + beta) h_k
    path = np.empty((n_paths, 4))
    path[:, 0] = h1
    for k in range(1, 4):
        path[:, k] = omega + (alpha + beta) * path[:, k - 1]
    # realised 4 weekly returns from the GARCH recursion itself (random future variances)
    hh = h1.copy()
    rets = np.empty((n_paths, 4))
    for k in range(4):
        e = np.sqrt(hh) * rng.standard_normal(n_paths)
        rets[:, k] = mu + e
        hh = omega + alpha * e ** 2 + beta * hh
    realised = rets.std(axis=1, ddof=1) * math.sqrt(52) * 100
    mapped = expected_target_vol(path)
    rms = rms_target_vol(path)
    se = (realised - mapped).std() / math.sqrt(n_paths)
    level = realised.mean()
    bias_mapped = float(np.mean(realised - mapped))
    bias_rms = float(np.mean(realised - rms))
    # measured: mapped -1.4 % of the level, RMS -10.1 %. Under GARCH the future variances are
    # random (the 4 returns are a scale mixture, fatter-tailed than the Gaussian of the mapping),
    # which leaves a small residual; the RMS map's bias is several times larger
    assert se < 0.02
    assert abs(bias_mapped) < 0.02 * level
    assert bias_rms < -0.08 * level and abs(bias_rms) > 5 * abs(bias_mapped)
    assert np.mean((realised - mapped) ** 2) < np.mean((realised - rms) ** 2)


def test_scale_and_units():
    v = np.array([1e-4, 2e-4, 3e-4, 4e-4])
    # a series divided by scale 2 before fitting: variances of the original are 4 v
    assert expected_target_vol(v, scale=2.0) == pytest.approx(
        expected_sample_std(4 * v) * math.sqrt(52) * 100, rel=1e-12)
    assert rms_target_vol(np.full(4, 0.02 ** 2)) == pytest.approx(0.02 * math.sqrt(52) * 100)
    assert expected_target_vol(np.full(4, 0.02 ** 2)) == pytest.approx(_c4(4) * 0.02 * math.sqrt(52) * 100)
    with pytest.raises(ValueError):
        expected_sample_std([1.0])
    with pytest.raises(ValueError):
        expected_sample_std([1.0, -1.0])


def test_conventions_state_the_mapping():
    text = dict(CONVENTIONS)["stage-1 GARCH forecasts"]
    assert "EXPECTED value of the target" in text and "c4(4)" in text and "ddof = 1" in text


def test_window_must_allow_ddof1():
    with pytest.raises(ValueError):
        realized_vol(_weekly([0.01, 0.02]), window=1)
