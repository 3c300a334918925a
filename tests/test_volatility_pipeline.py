"""Stage 1 end to end on a small synthetic universe: contract tables, failures, no look-ahead, store."""
import numpy as np
import pandas as pd
import pytest

from qmtl_research.data.panel import FundPanel
from qmtl_research.data.synthetic import make_synthetic_universe
from qmtl_research.errors import InputError
from qmtl_research.volatility import LSTMConfig, Stage1Config, run_stage1
from qmtl_research.volatility.splits import cv_splits, walk_forward_split

FAST = LSTMConfig(units=4, epochs=2, batch_size=512, patience=None, validation_fraction=0.0)
MODELS = ["GARCH", "LSTM", "GARCH-LSTM", "Naive"]


def _with_bad_funds(panel: FundPanel) -> FundPanel:
    r = panel.returns.copy()
    r["BAD_NAN"] = np.nan
    r["BAD_CONST"] = 0.001
    r["BAD_GAP"] = r.iloc[:, 0]
    r.iloc[100:103, r.columns.get_loc("BAD_GAP")] = np.nan
    r["BAD_SHORT"] = np.nan
    r.iloc[-8:, r.columns.get_loc("BAD_SHORT")] = 0.01
    meta = panel.metadata.reindex(r.columns)
    meta["fund_type"] = meta["fund_type"].fillna("broken")
    return FundPanel(r, meta, panel.benchmarks, "test", True, {})


@pytest.fixture(scope="module")
def panel():
    return make_synthetic_universe(n_funds=12, seed=20230831)


@pytest.fixture(scope="module")
def result(panel):
    return run_stage1(_with_bad_funds(panel), Stage1Config(lstm=FAST, seed=1), progress=False)


def test_contract_tables(result):
    t = result.tables
    assert list(t["table2"].index) == MODELS and list(t["table2"].columns) == ["MSE", "RMSE"]
    assert np.allclose(t["table2"]["RMSE"] ** 2, t["table2"]["MSE"])
    p = result.predictions
    for m in MODELS:   # Table 2 by hand from the predictions
        assert t["table2"].loc[m, "MSE"] == pytest.approx(np.mean((p["y"] - p[m]) ** 2))
    assert list(t["table3"].columns[:3]) == ["std", "MSE", "RMSE"] and t["table3"].index.name == "fund_type"
    assert list(t["fig9_regimes"].index) == ["above-average volatility funds", "below-average volatility funds",
                                             "COVID window 2020-03..2020-04"]
    assert set(MODELS) <= set(t["fig9_regimes"].columns)
    assert len(t["top20"]) == 20 and t["top20"]["realised"].is_monotonic_decreasing
    assert t["top20"]["realised"].iloc[0] == pytest.approx(p["y"].max())
    assert list(t["dm_tests"].columns[:5]) == ["model_a", "model_b", "dm_stat", "p_value", "better"]
    assert len(t["dm_tests"]) == 6
    s = result.summary
    assert s["best_model"] == t["table2"]["RMSE"].idxmin()
    assert set(s) >= {"best_model", "rmse", "split", "n_funds", "n_test_points"}
    assert s["n_test_points"] == len(p) and (p["origin"] >= pd.Timestamp("2020-01-03")).all()


def test_bad_funds_are_listed_and_others_processed(result, panel):
    f = result.failures
    assert list(f.columns) == ["fund_id", "step", "message"]
    msgs = dict(zip(f["fund_id"], f["message"]))
    assert "all-NaN" in msgs["BAD_NAN"] and "constant" in msgs["BAD_CONST"]
    assert "missing weekly return" in msgs["BAD_GAP"] and "too short" in msgs["BAD_SHORT"]
    assert not any(fid.startswith("BAD") for fid in result.predictions["fund_id"])
    # every good fund is either evaluated or listed with a reason
    listed = set(f["fund_id"])
    evaluated = set(result.predictions["fund_id"])
    assert set(panel.fund_ids) <= evaluated | listed and evaluated


def test_no_look_ahead_end_to_end(panel, result):
    # the bad funds never reach training, so the good funds' predictions are those of a clean panel
    clean = result
    cut = pd.Timestamp("2021-06-04")
    r = panel.returns.copy()
    r.loc[r.index >= cut] = r.loc[r.index >= cut] * 4.0
    shocked = run_stage1(FundPanel(r, panel.metadata, panel.benchmarks, "shock", True, {}),
                         Stage1Config(lstm=FAST, seed=1), progress=False)
    keys = ["fund_id", "origin"]
    a = clean.predictions.loc[~clean.predictions["fund_id"].str.startswith("BAD")].set_index(keys).sort_index()
    b = shocked.predictions.set_index(keys).sort_index()
    before = a.index.get_level_values("origin") <= cut
    pd.testing.assert_frame_equal(a.loc[before, MODELS], b.loc[before, MODELS])
    assert not np.allclose(a.loc[~before, MODELS].to_numpy(), b.loc[~before, MODELS].to_numpy())


def test_cv_split_covers_each_origin_once(panel):
    res = run_stage1(panel, Stage1Config(split="cv", models=("GARCH", "Naive")), progress=False)
    counts = res.predictions.groupby(["fund_id", "origin"]).size()
    assert (counts == 1).all()
    assert res.predictions["fold"].nunique() == 4
    splits = cv_splits(panel.dates, 4)
    for sp in splits:   # purged: no training origin within 10 weeks of the test block
        lo, hi = sp.test_origins.min(), sp.test_origins.max()
        gap = pd.Timedelta(weeks=10)
        assert not ((sp.train_origins >= lo - gap) & (sp.train_origins <= hi + gap)).any()
        assert not sp.garch_mask[(sp.garch_mask.index >= lo) & (sp.garch_mask.index <= hi)].any()


def test_walk_forward_trains_strictly_before_testing(panel):
    sp = walk_forward_split(panel.dates, "2020-01-03")
    last_train_output = sp.train_origins.max() + pd.Timedelta(weeks=3)
    assert last_train_output < sp.test_origins.min() == pd.Timestamp("2020-01-03")
    assert not sp.garch_mask[sp.garch_mask.index >= "2020-01-03"].any()
    with pytest.raises(InputError, match="no training samples"):
        walk_forward_split(panel.dates, "2016-07-01")


def test_results_recorded_in_the_store(result, tmp_path):
    from qmtl_research.pipeline import volatility_results
    from qmtl_research.results import VolatilityResults
    from qmtl_research.store.context import RunContext

    ctx = RunContext.from_params("demo", None, "vol-test-run", f"sqlite:///{tmp_path}/s.sqlite", tmp_path)
    ctx.store.create_run(ctx.key)
    volatility_results(result).record(ctx)
    stored = VolatilityResults.read(ctx.results(), required=True)
    pd.testing.assert_frame_equal(stored.table2, result.tables["table2"])
    assert stored.summary["best_model"] == result.summary["best_model"]
