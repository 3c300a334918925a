"""The stage-2 SVCs fitted after the study (label comparison, early warnings, calibration) run on the
study's joblib workers and backend, and the workers change no number."""
from __future__ import annotations

import pandas as pd
import pytest

import qmtl_research  # noqa: F401
from qmtl_research.data.synthetic import make_synthetic_universe
from qmtl_research.rating.calibration import predictive_calibration
from qmtl_research.rating.early_warning import warnings_by_horizon
from qmtl_research.rating.models import GradeSVC
from qmtl_research.rating.settings import load_rating_settings
from qmtl_research.rating.study import label_comparison, run_rating_study
from stage1_stub import TrailingStdForecaster
from test_rating_predictive import garch_panel

GRID = {"C": [1.0, 10.0], "gamma": ["scale"]}


def _spy(monkeypatch) -> list[tuple[int, str | None, bool]]:
    """Record (n_jobs, backend, probability) of every GradeSVC fit."""
    seen = []
    fit = GradeSVC.fit

    def recording(self, X, y):
        seen.append((self.n_jobs, self.backend, self.probability))
        return fit(self, X, y)

    monkeypatch.setattr(GradeSVC, "fit", recording)
    return seen


def _follow_on(monkeypatch, n_jobs, backend):
    """The study, then its follow-on fits, checking that each fit got the study's workers."""
    panel = make_synthetic_universe(n_funds=30, seed=20230831)
    s = load_rating_settings().model_copy(update={"horizons": [4], "kernels": ["RBF", "Linear"], "param_grid": GRID})
    seen = _spy(monkeypatch)
    study = run_rating_study(panel, s, seed=1, forecaster=TrailingStdForecaster(), progress=False,
                             n_jobs=n_jobs, backend=backend)
    assert (study.n_jobs, study.backend) == (n_jobs, backend)
    n_study = len(seen)
    labels = label_comparison(panel, s, TrailingStdForecaster(), seed=1, verdict=study)
    assert labels is not None
    n_labels = len(seen) - n_study
    # the regulatory rule out-scores the SVCs on this universe: make RBF the chosen warning model
    study.default.table.loc["RBF", "accuracy"] = 1.0
    table, _ = warnings_by_horizon(panel, study, TrailingStdForecaster(), seed=1, include_unchanged=True,
                                   only_validated=False)
    assert set(table["model_kernel"]) == {"RBF"}
    warning_fits = [x for x in seen[n_study + n_labels:] if x[2]]
    assert n_study > 0 and n_labels > 0 and warning_fits, "each step fits SVCs"
    assert set(seen) <= {(n_jobs, backend, False), (n_jobs, backend, True)}
    gpanel, params = garch_panel()
    gs = load_rating_settings(horizon_weeks=13, horizons=[13], kernels=["Linear"], param_grid={"C": [1.0]},
                              inner_folds=2)
    gstudy = run_rating_study(gpanel, gs, seed=1, forecaster=TrailingStdForecaster(), progress=False,
                              n_jobs=n_jobs, backend=backend)
    before = len(seen)
    calibration = predictive_calibration(gstudy, gpanel, params, n_paths=200, seed=2)
    assert seen[before:] and set(seen[before:]) == {(n_jobs, backend, True)}
    return labels, table, calibration["svc"]


def test_the_workers_change_no_number(monkeypatch):
    """Serially and on 2 threads: every follow-on fit got the study's workers, and the tables are equal."""
    serial = _follow_on(monkeypatch, 1, None)
    with monkeypatch.context() as m:
        threads = _follow_on(m, 2, "threading")
    for a, b in zip(serial, threads):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_an_explicit_worker_count_overrides_the_verdict_study(monkeypatch):
    panel = make_synthetic_universe(n_funds=30, seed=20230831)
    s = load_rating_settings().model_copy(update={"horizons": [4], "kernels": ["Linear"], "param_grid": GRID})
    study = run_rating_study(panel, s, seed=1, forecaster=TrailingStdForecaster(), progress=False,
                             n_jobs=2, backend="threading")
    seen = _spy(monkeypatch)
    label_comparison(panel, s, TrailingStdForecaster(), seed=1, verdict=study, n_jobs=1)
    assert seen and {x[0] for x in seen} == {1} and {x[1] for x in seen} == {"threading"}
