"""Stage 2 at scale: the Nystroem approximation of the kernel SVCs above a training-set size (#20 item 6)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.metrics.pairwise import polynomial_kernel, rbf_kernel
from sklearn.svm import SVC

from qmtl_research.rating.kernel_approx import KernelFeatures, approximation_check, summary, uses_approximation
from qmtl_research.rating.models import GradeSVC
from qmtl_research.rating.settings import RatingSettings, setting_default

FEATURES = [f"x{i}" for i in range(4)]
GRID = {"C": [1.0, 10.0], "gamma": ["scale"]}


def _problem(n: int, seed: int = 3) -> pd.DataFrame:
    X, y = make_classification(n_samples=n, n_features=4, n_informative=4, n_redundant=0, n_classes=3,
                               n_clusters_per_class=1, class_sep=1.2, random_state=seed)
    frame = pd.DataFrame(X * [1.0, 5.0, 0.2, 3.0] + [0.0, 10.0, -1.0, 2.0], columns=FEATURES)
    return frame.assign(grade=y + 1)


def test_feature_map_reproduces_the_svc_kernel_with_every_landmark():
    # with n_components = n_samples Nystroem is exact: Phi Phi' equals the kernel libsvm uses
    X = np.random.default_rng(0).normal(size=(60, 4)) * [1.0, 2.0, 0.5, 3.0]
    gamma = 1.0 / (X.shape[1] * X.var())           # SVC's gamma="scale"
    for kernel, reference in (("rbf", rbf_kernel(X, gamma=gamma)),
                              ("poly", polynomial_kernel(X, degree=3, gamma=gamma, coef0=0.0))):
        phi = KernelFeatures(kernel=kernel, gamma="scale", n_components=60, random_state=1).fit_transform(X)
        assert np.allclose(phi @ phi.T, reference, atol=1e-6 * np.abs(reference).max()), kernel
    assert KernelFeatures(kernel="rbf", gamma="auto").fit(X).gamma_ == pytest.approx(0.25)


def test_approximation_used_above_the_threshold_and_not_below():
    frame = _problem(240)
    y = frame["grade"].to_numpy()
    below = GradeSVC("rbf", FEATURES, GRID, exact_max_samples=240).fit(frame, y)
    above = GradeSVC("rbf", FEATURES, GRID, exact_max_samples=239, n_components=50).fit(frame, y)
    assert not below.approximated_ and isinstance(below.model_.named_steps["svc"], SVC)
    assert above.approximated_ and "features" in above.model_.named_steps
    assert above.model_.named_steps["features"].nystroem_.components_.shape == (50, 4)
    # the linear kernel: libsvm below, liblinear (one-vs-one, like SVC) above
    lin = GradeSVC("linear", FEATURES, {"C": [1.0, 10.0]}, exact_max_samples=0).fit(frame, y)
    assert lin.approximated_ and "features" not in lin.model_.named_steps and set(lin.best_params_) == {"C"}
    assert not GradeSVC("linear", FEATURES, {"C": [1.0]}, exact_max_samples=240).fit(frame, y).approximated_
    assert uses_approximation(5001, 5000) and not uses_approximation(5000, 5000)


def test_default_threshold_keeps_shipped_strategies_exact():
    # every stage-2 training set of a shipped strategy is at most funds x years (one settlement per fund
    # and year): far below the default threshold, so their SVCs stay exact and their numbers do not move
    from qmtl_research.config import list_strategies, load_strategy
    from qmtl_research.data.universe import load_universe
    from qmtl_research.errors import ConfigError

    limit = setting_default("exact_kernel_max_samples")
    assert limit == 30_000 and setting_default("nystroem_components") < limit
    sizes = {}
    for name in list_strategies():
        try:
            panel = load_universe(load_strategy(name).universe)
        except ConfigError:              # not a fund panel (a QMTL import): no stage 2
            continue
        sizes[name] = panel.returns.shape[1] * panel.returns.index.year.nunique()
    assert {"demo", "real-funds", "us-1999-2018"} <= set(sizes)
    assert max(sizes.values()) < limit, sizes


def test_same_seed_same_predictions_and_the_seed_matters():
    frame = _problem(300)
    y = frame["grade"].to_numpy()
    fit = lambda seed: GradeSVC("rbf", FEATURES, GRID, exact_max_samples=10, n_components=40,
                                approximation_seed=seed).fit(frame, y)
    a, b, c = fit(7), fit(7), fit(8)
    assert np.array_equal(a.predict(frame), b.predict(frame))
    assert np.array_equal(a.model_.named_steps["features"].nystroem_.component_indices_,
                          b.model_.named_steps["features"].nystroem_.component_indices_)
    assert not np.array_equal(a.model_.named_steps["features"].nystroem_.component_indices_,
                              c.model_.named_steps["features"].nystroem_.component_indices_)


@pytest.mark.parametrize("kernel", ["rbf", "poly", "linear"])
def test_accuracy_on_a_subset_within_tolerance_of_the_exact_fit(kernel):
    # stated tolerance: the approximated accuracy is within 0.05 of the exact fit's on the same folds
    frame = _problem(900, seed=5)
    settings = RatingSettings(approximation_check_samples=600, outer_folds=3)
    est = GradeSVC(kernel, FEATURES, GRID, n_components=150, random_state=0)
    table = approximation_check(frame, FEATURES, {kernel.upper(): est}, settings, seed=11)
    row = table.iloc[0]
    assert row["n_subset"] == 600 and row["n_folds"] == 3
    assert row["exact_accuracy"] > 0.7                      # a learnable problem
    assert abs(row["difference"]) <= 0.05, table
    assert row["difference"] == pytest.approx(row["approximated_accuracy"] - row["exact_accuracy"])
    # the exact column is the exact SVC's accuracy, recomputed here on the same subset and folds
    from sklearn.model_selection import StratifiedKFold

    rows = np.sort(np.random.default_rng(11).choice(len(frame), size=600, replace=False))
    sub, ys = frame.iloc[rows], frame["grade"].to_numpy()[rows]
    hits = 0
    for tr, te in StratifiedKFold(3, shuffle=True, random_state=11).split(rows, ys):
        m = GradeSVC(kernel, FEATURES, GRID, random_state=0, exact_max_samples=10**6).fit(sub.iloc[tr], ys[tr])
        hits += int((m.predict(sub.iloc[te]) == ys[te]).sum())
    assert row["exact_accuracy"] == pytest.approx(hits / 600)


def test_settings_fields_validated():
    from qmtl_research.errors import ConfigError
    from qmtl_research.rating.settings import load_rating_settings

    with pytest.raises(ConfigError, match="exact_kernel_max_samples"):
        load_rating_settings(exact_kernel_max_samples=-1)
    with pytest.raises(ConfigError, match="nystroem_components"):
        load_rating_settings(nystroem_components=0)


def test_summary_only_when_used():
    from qmtl_research.rating.evaluation import Evaluation

    settings = RatingSettings()
    ev = Evaluation(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), "kfold")
    assert summary(ev, settings) is None
    ev.approximated = [("RBF", "fold 1"), ("Poly", "fold 1"), ("RBF", "fold 2")]
    info = summary(ev, settings)
    assert info["approaches"] == ["RBF", "Poly"] and info["fits"] == 3 and info["above_samples"] == 30_000


def test_study_records_the_approximation_and_the_report_view_prints_it():
    from types import SimpleNamespace

    from qmtl_research.data.synthetic import make_synthetic_universe
    from qmtl_research.rating import views
    from qmtl_research.rating.evaluation import usable_rows
    from qmtl_research.rating.settings import load_rating_settings
    from qmtl_research.rating.study import run_rating_study
    from stage1_stub import TrailingStdForecaster

    panel = make_synthetic_universe(n_funds=30, seed=20230831)
    base = load_rating_settings().model_copy(update={"horizons": [4], "kernels": ["RBF", "Linear"],
                                                     "param_grid": GRID})
    exact = run_rating_study(panel, base, seed=0, forecaster=TrailingStdForecaster(), progress=False)
    assert exact.default.evaluation.approximated == [] and exact.default.approximation is None
    assert "kernel_approximation" not in exact.summary()
    limit = 60
    s = base.model_copy(update={"exact_kernel_max_samples": limit, "nystroem_components": 25,
                                "approximation_check_samples": 80})
    study = run_rating_study(panel, s, seed=0, forecaster=TrailingStdForecaster(), progress=False)
    ev, frame = study.default.evaluation, study.default.dataset.frame
    svc = GradeSVC("rbf", list(study.default.screen.selected))
    ok = usable_rows(frame, svc)
    from qmtl_research.rating.evaluation import outer_folds

    folds, _ = outer_folds(frame, s.split, s.outer_folds, 0, s.min_train)
    expected = [(k, f.name) for f in folds for k in ("RBF", "Linear") if ok[f.train].sum() > limit]
    assert expected and len(expected) < 2 * len(folds)      # some folds exact, some approximated
    assert ev.approximated == expected
    info = study.summary()["kernel_approximation"]
    assert info["approaches"] == ["RBF", "Linear"] and info["above_samples"] == limit and info["fits"] == len(expected)
    table = study.default.approximation
    assert list(table["approach"]) == ["RBF", "Linear"] and table["n_subset"].iloc[0] == min(80, int(ok.sum()))
    # the folds exact in both runs give the same predictions (the exact path is untouched)
    exact_folds = {f.name for f in folds} - {f for _, f in expected}
    pick = lambda p: p[(p["approach"] == "RBF") & p["fold"].isin(exact_folds)].reset_index(drop=True)
    p_exact, p_mixed = (pick(x.evaluation.predictions) for x in (exact.default, study.default))
    assert len(p_exact) > 0
    pd.testing.assert_frame_equal(p_exact, p_mixed)
    r = SimpleNamespace(summary=study.summary(), approximation=table)
    sentence, shown = views.approximation(r)
    assert "RBF, Linear" in sentence and f"{limit:,} samples" in sentence and "Nystroem" in sentence
    assert list(shown.columns) == ["approach", "n_subset", "n_folds", "exact_accuracy", "approximated_accuracy",
                                   "difference"]
    assert views.approximation(SimpleNamespace(summary=exact.summary(), approximation=None)) is None
