"""Diebold-Mariano test (HLN, Newey-West h-1 lags) against a hand computation."""
import math

import numpy as np
import pytest
from scipy import stats

from qmtl_research.volatility import diebold_mariano, dm_test_loss_differential


def _hand_dm(e_a, e_b, h):
    d = [a * a - b * b for a, b in zip(e_a, e_b)]
    n = len(d)
    dbar = sum(d) / n
    gamma = []
    for k in range(h):
        gamma.append(sum((d[t] - dbar) * (d[t - k] - dbar) for t in range(k, n)) / n)
    var = (gamma[0] + 2 * sum((1 - k / h) * gamma[k] for k in range(1, h))) / n
    dm = dbar / math.sqrt(var)
    hln = dm * math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    p = 2 * (1 - stats.t.cdf(abs(hln), n - 1))
    return hln, p


@pytest.mark.parametrize("h", [1, 4])
def test_dm_matches_hand_computation(h):
    rng = np.random.default_rng(11)
    e_a = rng.normal(0, 1.0, 150)
    e_b = rng.normal(0, 1.3, 150) + 0.3 * np.roll(e_a, 1)
    res = diebold_mariano(e_a, e_b, h=h)
    stat, p = _hand_dm(e_a, e_b, h)
    assert res["dm_stat"] == pytest.approx(stat, rel=1e-10)
    assert res["p_value"] == pytest.approx(p, rel=1e-8)
    assert res["n"] == 150
    assert res["mean_loss_diff"] == pytest.approx(np.mean(e_a ** 2 - e_b ** 2))


def test_tiny_hand_case():
    # d = [1, -1, 2, 0, 3], h = 1: dbar = 1, gamma0 = (0 + 4 + 1 + 1 + 4)/5 = 2
    # DM = 1 / sqrt(2/5); HLN factor sqrt((5 + 1 - 2)/5)
    d = np.array([1.0, -1.0, 2.0, 0.0, 3.0])
    res = dm_test_loss_differential(d, h=1)
    expected = 1 / math.sqrt(2 / 5) * math.sqrt(4 / 5)
    assert res["dm_stat"] == pytest.approx(expected)
    assert res["p_value"] == pytest.approx(2 * stats.t.sf(expected, 4))


def test_sign_and_degenerate_cases():
    rng = np.random.default_rng(2)
    good, bad = rng.normal(0, 1, 300), rng.normal(0, 3, 300)
    res = diebold_mariano(good, bad, h=4)
    assert res["dm_stat"] < -3 and res["p_value"] < 0.01
    same = diebold_mariano(good, good.copy(), h=4)
    assert math.isnan(same["dm_stat"]) and math.isnan(same["p_value"])
    with pytest.raises(ValueError):
        diebold_mariano(good, bad[:10])
