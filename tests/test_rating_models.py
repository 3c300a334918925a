"""SVC without leakage, challengers, single-grade error, scores, determinism, GARCH forecaster."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

import qmtl_research  # noqa: F401
from qmtl_research.data.synthetic import make_synthetic_universe
from qmtl_research.errors import ConfigError, InputError
from qmtl_research.rating.evaluation import (PERSISTENCE, RULE, confusion_long, evaluate, make_approaches,
                                             outer_folds, scores, verdict)
from qmtl_research.rating.features import build_rating_dataset
from stage1_stub import TrailingStdForecaster
from qmtl_research.grades import load_grade_table
from qmtl_research.rating.models import GradeSVC, PersistenceClassifier, RegulatoryRuleClassifier
from qmtl_research.rating.settings import load_rating_settings
from qmtl_research.rating.study import run_rating_study

FEATURES = ["blended_std_pct", "sharpe", "tracking_error_pct", "var_975_pct"]
GRID = {"C": [1.0, 10.0], "gamma": ["scale"]}


@pytest.fixture(scope="module")
def table():
    return load_grade_table()


@pytest.fixture(scope="module")
def panel():
    return make_synthetic_universe(n_funds=30, seed=20230831)


@pytest.fixture(scope="module")
def frame(panel, table):
    return build_rating_dataset(panel, table, horizon=4, forecaster=TrailingStdForecaster(), progress=False).frame


def test_scaler_and_grid_search_see_only_the_training_fold(frame):
    folds, _ = outer_folds(frame, "kfold", 4, seed=3)
    ev = evaluate(frame, {"RBF": GradeSVC("rbf", FEATURES, GRID, random_state=3)}, "kfold", 4, seed=3,
                  progress=False, keep_models=True)
    for fold in folds:
        model = ev.models[(fold.name, "RBF")]
        train = frame.iloc[fold.train][FEATURES].to_numpy()
        scaler = model.search_.best_estimator_.named_steps["scale"]
        np.testing.assert_allclose(scaler.mean_, train.mean(axis=0), rtol=1e-12)
        assert not np.allclose(scaler.mean_, frame[FEATURES].to_numpy().mean(axis=0), rtol=1e-6)
    # perturbing the test rows of fold 1 leaves that fold's fitted model unchanged
    fold = folds[0]
    bent = frame.copy()
    bent.loc[bent.index[fold.test], FEATURES] = bent.loc[bent.index[fold.test], FEATURES] * 7.0 + 3.0
    ev2 = evaluate(bent, {"RBF": GradeSVC("rbf", FEATURES, GRID, random_state=3)}, "kfold", 4, seed=3,
                   progress=False, keep_models=True)
    a, b = ev.models[(fold.name, "RBF")], ev2.models[(fold.name, "RBF")]
    assert a.best_params_ == b.best_params_
    np.testing.assert_array_equal(a.model_.named_steps["svc"].support_vectors_,
                                  b.model_.named_steps["svc"].support_vectors_)
    np.testing.assert_array_equal(a.search_.cv_results_["mean_test_score"], b.search_.cv_results_["mean_test_score"])


def test_walk_forward_is_purged_and_later_years_do_not_change_earlier_folds(frame):
    folds, log = outer_folds(frame, "walk_forward")
    for fold in folds:
        test_first_prediction = frame["prediction_date"].iloc[fold.test].min()
        assert (frame["settlement_date"].iloc[fold.train] <= test_first_prediction).all()
        assert frame["settlement_year"].iloc[fold.train].max() < frame["settlement_year"].iloc[fold.test].min()
    last_year = frame["settlement_year"].max()
    bent = frame.copy()
    rows = bent["settlement_year"] == last_year
    bent.loc[rows, FEATURES] = bent.loc[rows, FEATURES] + 5.0
    est = {"Linear": GradeSVC("linear", FEATURES, GRID, random_state=0)}
    p1 = evaluate(frame, est, progress=False).predictions
    p2 = evaluate(bent, est, progress=False).predictions
    early = p1["fold"] != f"test {last_year}"
    pd.testing.assert_frame_equal(p1[early], p2[early])


def test_single_grade_in_training_is_a_clear_error(frame):
    with pytest.raises(InputError, match="single grade") as exc:
        GradeSVC("rbf", FEATURES, GRID).fit(frame, np.full(len(frame), 3))
    assert "fix" in str(exc.value)


def test_unknown_kernel_and_grid_parameter(frame):
    y = frame["grade"].to_numpy()
    with pytest.raises(ConfigError, match="kernel"):
        GradeSVC("cubic", FEATURES).fit(frame, y)
    with pytest.raises(ConfigError, match="grid"):
        GradeSVC("rbf", FEATURES, {"C": [1.0], "epsilon": [0.1]}).fit(frame, y)


def test_probability_model_and_linear_grid(frame):
    y = frame["grade"].to_numpy()
    m = GradeSVC("linear", FEATURES, {"C": [1.0, 10.0], "gamma": [0.5]}, probability=True, random_state=1).fit(frame, y)
    assert set(m.best_params_) == {"C"}  # gamma is not a parameter of the linear kernel
    proba = m.predict_proba(frame)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(m.predict(frame), m.classes_[proba.argmax(axis=1)])


def test_challengers(frame, table):
    rule = RegulatoryRuleClassifier(table).fit(frame, frame["grade"])
    np.testing.assert_array_equal(rule.predict(frame), table.grade_of(frame["blended_std_pct"].to_numpy()))
    pers = PersistenceClassifier().fit(frame, frame["grade"])
    np.testing.assert_array_equal(pers.predict(frame), frame["persistence_grade"].to_numpy())


def test_scores_match_sklearn_and_verdict_is_computed(frame, table):
    ev = evaluate(frame, make_approaches(table, FEATURES, ("RBF",), GRID), progress=False)
    tab = scores(ev.predictions)
    assert list(tab.index) == ["RBF", RULE, PERSISTENCE]
    for name, g in ev.predictions.groupby("approach"):
        t, p = g["true_grade"], g["predicted_grade"]
        assert tab.at[name, "accuracy"] == pytest.approx(accuracy_score(t, p))
        assert tab.at[name, "macro_f1"] == pytest.approx(f1_score(t, p, average="macro", zero_division=0))
        assert tab.at[name, "off_by_more_than_one"] == pytest.approx(np.mean(np.abs(t - p) > 1))
    conf = confusion_long(ev.predictions, table.grade_numbers)
    assert len(conf) == 3 * 36
    assert conf.groupby("approach")["count"].sum().eq(len(ev.predictions) // 3).all()
    fields, text = verdict(tab)
    assert fields["winner"] == tab["accuracy"].idxmax()
    assert fields["margin_vs_rule"] == pytest.approx(tab.at["RBF", "accuracy"] - tab.at[RULE, "accuracy"])
    assert fields["winner"] in text and f"{tab['accuracy'].max():.1%}" in text


def test_same_seed_same_numbers(panel):
    s = load_rating_settings().model_copy(update={"horizons": [4], "kernels": ["RBF", "Poly"],
                                                  "param_grid": GRID})
    a = run_rating_study(panel, s, seed=5, forecaster=TrailingStdForecaster(), progress=False)
    b = run_rating_study(panel, s, seed=5, forecaster=TrailingStdForecaster(), progress=False)
    pd.testing.assert_frame_equal(a.table4, b.table4)
    pd.testing.assert_frame_equal(a.default.evaluation.predictions, b.default.evaluation.predictions)
    assert a.summary() == b.summary()


def test_study_samples_equal_the_per_horizon_dataset(panel, table):
    s = load_rating_settings().model_copy(update={"horizons": [4, 13], "kernels": ["Linear"], "param_grid": GRID})
    study = run_rating_study(panel, s, seed=0, forecaster=TrailingStdForecaster(), progress=False)
    for h in (4, 13):
        ref = build_rating_dataset(panel, table, h, TrailingStdForecaster(), progress=False)
        pd.testing.assert_frame_equal(study.results[h].dataset.frame, ref.frame)
        pd.testing.assert_frame_equal(study.results[h].dataset.exclusions, ref.exclusions)


def test_label_comparison_counts_the_scored_fund_settlements(panel):
    """Each column's count row is the number of fund-settlements its accuracies are over (walk-forward
    never scores its first settlement year, so fewer than its samples), and each accuracy is
    sklearn's accuracy over exactly those predictions."""
    from qmtl_research.rating.study import label_comparison
    from qmtl_research.results import LABEL_COMPARISON_COUNT_ROW

    s = load_rating_settings().model_copy(update={"horizons": [4], "kernels": ["Linear"], "param_grid": GRID,
                                                  "split": "walk_forward"})
    verdict = run_rating_study(panel, s, seed=0, forecaster=TrailingStdForecaster(), progress=False)
    out = label_comparison(panel, s, TrailingStdForecaster(), seed=0, verdict=verdict)
    assert out is not None, "the synthetic universe discloses grades for at least 20 funds"
    col = "computed label, walk_forward (the verdict)"
    row = out.set_index("approach")
    pred = verdict.default.evaluation.predictions
    assert row.at[LABEL_COMPARISON_COUNT_ROW, col] == pred["row"].nunique() < len(verdict.default.dataset)
    linear = pred[pred["approach"] == "Linear"]
    assert row.at["Linear", col] == pytest.approx(accuracy_score(linear["true_grade"], linear["predicted_grade"]))
    assert row.at[LABEL_COMPARISON_COUNT_ROW, "computed label, kfold"] > row.at[LABEL_COMPARISON_COUNT_ROW, col]
