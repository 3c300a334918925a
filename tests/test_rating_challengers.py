"""Funds without a benchmark stay in the rule and persistence challengers; Table 4 compares the
approaches on the rows every approach scored, and each approach's own count is reported."""
from __future__ import annotations

import numpy as np
import pytest
from stage1_stub import TrailingStdForecaster

from qmtl_research.data.synthetic import make_synthetic_universe
from qmtl_research.rating import load_rating_settings, run_rating_study
from qmtl_research.rating.evaluation import PERSISTENCE, RULE


@pytest.fixture(scope="module")
def study():
    panel = make_synthetic_universe(40, seed=5)
    panel.metadata.loc[panel.metadata["fund_type"] == "MMF", "benchmark"] = ""
    st = load_rating_settings(horizons=[4], kernels=["RBF"], param_grid={"C": [1.0]}, inner_folds=2, split="kfold")
    return run_rating_study(panel, st, seed=1, forecaster=TrailingStdForecaster(), progress=False), panel


def test_challengers_score_the_funds_without_a_benchmark(study):
    st, panel = study
    mmf = set(panel.metadata.index[panel.metadata["benchmark"] == ""])
    pred = st.default.evaluation.predictions
    frame = st.default.dataset.frame
    sc = st.scored().set_index("approach")
    n_mmf = int(frame["fund_id"].isin(mmf).sum())
    assert n_mmf > 0
    assert sc.loc[RULE, "n_scored"] == sc.loc[PERSISTENCE, "n_scored"] == len(frame)       # kfold tests every row
    assert sc.loc["RBF", "n_scored"] == len(frame) - n_mmf == sc.loc[RULE, "n_common"]
    assert not pred[(pred["approach"] == "RBF")]["fund_id"].isin(mmf).any()
    # persistence accuracy on its own rows, by hand from the samples
    own = frame["persistence_grade"].to_numpy() == frame["grade"].to_numpy()
    assert sc.loc[PERSISTENCE, "accuracy_own_rows"] == pytest.approx(own.mean())
    # Table 4 is over the common rows
    common = ~frame["fund_id"].isin(mmf).to_numpy()
    assert st.table4.loc[PERSISTENCE, "accuracy"] == pytest.approx(own[common].mean())
    s = st.summary()
    assert s["n_test_predictions"] == len(frame) - n_mmf and s["n_test_challengers"] == len(frame)
    assert not st.exclusions()["reason"].str.contains("benchmark").any()
