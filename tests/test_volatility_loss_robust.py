"""Per-fund loss contributions and robust loss summaries (volatility/evaluation.py, #21 item 5)
against hand computations, with one fund made to dominate a loss (the MMF case: a near-zero
forecast for a fund whose realised vol is not)."""
import numpy as np
import pytest
from scipy import stats

from volatility_support import synthetic_predictions

from qmtl_research.volatility.evaluation import c4, error_table, loss_by_fund, loss_robust


def _predictions(n_weeks=60, n_funds=6, seed=5):
    return synthetic_predictions(n_weeks, n_funds, seed, ("A", "Naive"))


def test_contributions_add_up_to_table_2_and_match_hand_sums():
    pred = _predictions()
    pred.loc[3, "y"] = 0.0                                   # a QLIKE-undefined point: left out for every model
    by = loss_by_fund(pred, ["A", "Naive"])
    t2 = error_table(pred, ["A", "Naive"])
    for m in ("A", "Naive"):
        mse = by[(by["loss"] == "MSE") & (by["model"] == m)]
        assert mse["share"].sum() == pytest.approx(1.0)
        assert mse["total"].sum() / mse["n_points"].sum() == pytest.approx(t2.at[m, "MSE"])
        f1 = pred[pred["fund_id"] == "F1"]
        assert mse.set_index("fund_id").at["F1", "total"] == pytest.approx(float(((f1["y"] - f1[m]) ** 2).sum()))
        q = by[(by["loss"] == "QLIKE") & (by["model"] == m)]
        assert q["n_points"].sum() == t2.at[m, "n_qlike"] == len(pred) - 1
        assert q["total"].sum() / q["n_points"].sum() == pytest.approx(t2.at[m, "QLIKE"])
    robust = loss_robust(pred, ["A", "Naive"])
    r = robust.set_index(["loss", "model"]).loc[("QLIKE", "Naive")]
    ok = pred["y"] > 0
    ratio = pred.loc[ok, "y"] ** 2 / (pred.loc[ok, "Naive"] / c4()) ** 2
    hand = (ratio - np.log(ratio) - 1).to_numpy()
    assert r["mean"] == pytest.approx(hand.mean())
    assert r["median"] == pytest.approx(np.median(hand))
    assert r["trimmed_mean"] == pytest.approx(stats.trim_mean(hand, 0.1))
    assert not robust["dominated"].any() and (robust["note"] == "").all()


def test_one_fund_dominating_a_loss_is_said():
    pred = _predictions()
    mmf = pred["fund_id"] == "F4"
    pred.loc[mmf, "y"] = 1.0
    pred.loc[mmf, "A"] = 1.05                                # a good forecast of it
    pred.loc[mmf, "Naive"] = 0.01                            # the naive forecast of a money-market fund: ~0
    robust = loss_robust(pred, ["A", "Naive"]).set_index(["loss", "model"])
    q = robust.loc[("QLIKE", "Naive")]
    assert bool(q["dominated"]) and q["top_fund"] == "F4" and q["top_share"] > 0.99
    assert "F4" in q["note"] and "without it" in q["note"]
    others = pred[~mmf]
    ratio = others["y"] ** 2 / (others["Naive"] / c4()) ** 2
    assert q["mean_without_top"] == pytest.approx(float((ratio - np.log(ratio) - 1).mean()))
    assert q["median"] < q["mean"] / 100                     # the robust summaries are not moved by it
    assert not bool(robust.loc[("QLIKE", "A"), "dominated"])


def test_the_report_shows_the_robust_losses_and_the_dominating_fund(capsys):
    import types

    from qmtl_research.reporting.results_sections import loss_concentration

    pred = _predictions()
    mmf = pred["fund_id"] == "F4"
    pred.loc[mmf, ["y", "A"]] = [1.0, 1.05]
    pred.loc[mmf, "Naive"] = 0.01
    vol = types.SimpleNamespace(loss_robust=loss_robust(pred, ["A", "Naive"]), loss_by_fund=loss_by_fund(pred, ["A", "Naive"]))
    loss_concentration(vol)
    out = capsys.readouterr().out
    assert "trimmed_mean" in out and "F4" in out and "dominated" in out
    loss_concentration(types.SimpleNamespace(loss_robust=None, loss_by_fund=None))    # a run recorded before them
    assert capsys.readouterr().out == ""
