"""Forecast comparison tests against hand computations: Diebold-Mariano (statsmodels) on weekly
mean losses, and the weekly loss series."""
import math

import numpy as np
import pytest
from scipy import stats

from volatility_support import synthetic_predictions

from qmtl_research.volatility.evaluation import dm_tests, weekly_losses


def _hand_dm(d, h):
    """Newey-West (Bartlett weights 1 - k/h, h-1 lags, no small-sample factor) variance of the mean
    loss differential, then the Harvey-Leybourne-Newbold adjustment and t(n-1) p-values."""
    n = len(d)
    dbar = sum(d) / n
    gamma = [sum((d[t] - dbar) * (d[t - k] - dbar) for t in range(k, n)) / n for k in range(h)]
    lrv = gamma[0] + 2 * sum((1 - k / h) * gamma[k] for k in range(1, h))
    var = lrv / n
    dm = dbar / math.sqrt(var)
    hln = dm * math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    return hln, 2 * stats.t.sf(abs(hln), n - 1)


def _predictions(n_weeks=120, n_funds=5, seed=3):
    return synthetic_predictions(n_weeks, n_funds, seed, ("A", "B"))


@pytest.mark.parametrize("h", [1, 4])
def test_dm_matches_hand_computation(h):
    p = _predictions()
    res = dm_tests(p, ["A", "B"], h=h)
    for loss in ("MSE", "QLIKE"):
        weekly = weekly_losses(p, ["A", "B"], loss)
        d = list(weekly["A"] - weekly["B"])
        stat, pval = _hand_dm(d, h)
        row = res.loc[res["loss"] == loss].iloc[0]
        assert row["dm_stat"] == pytest.approx(stat, rel=1e-10)
        assert row["p_value"] == pytest.approx(pval, rel=1e-8)
        assert row["n_weeks"] == 120 and row["mean_loss_diff"] == pytest.approx(np.mean(d))
        assert row["better"] == "A" and row["dm_stat"] < 0


def test_weekly_losses_are_cross_sectional_means():
    p = _predictions(n_weeks=3, n_funds=4)
    w = weekly_losses(p, ["A", "B"], "MSE")
    first = p.loc[p["date"] == p["date"].min()]
    assert w["A"].iloc[0] == pytest.approx(np.mean((first["y"] - first["A"]) ** 2))
    same = p.assign(B=p["A"])
    row = dm_tests(same, ["A", "B"]).iloc[0]
    assert np.isnan(row["dm_stat"]) and row["better"] == "no significant difference"
