"""Calibration of grade probabilities on the walk-forward test set: the SVC's Platt probabilities
against the GARCH predictive grade distribution (:mod:`qmtl_research.rating.predictive`).

* :func:`svc_walk_forward_proba` - per walk-forward fold, the SVC of one kernel with
  ``probability=True`` (:class:`~qmtl_research.rating.models.GradeSVC`: Platt scaling on the inner
  folds) fitted on the fold's training rows and asked for P(grade = k) on its test rows;
* :func:`calibration_scores` - multiclass Brier score (``sklearn.metrics.brier_score_loss`` with
  ``scale_by_half=False``, the same formula for two grades as for six: mean over samples of
  ``sum_k (p_k - 1{y = k})^2``, 0 best, 2 worst), log loss (``sklearn.metrics.log_loss``,
  natural log, probabilities clipped by sklearn at machine epsilon), and the accuracy of the most
  probable grade;
* :func:`reliability_table` - one-vs-rest reliability: every (sample, grade) pair is a forecast
  ``p_k`` of the event ``y = k``; pairs are binned by ``p_k`` (equal-width bins) and each bin's mean
  forecast is set beside its observed frequency (``sklearn.calibration.calibration_curve``);
* :func:`compare_calibration` - both approaches on the rows both scored; ``better`` names the one
  with the lower Brier score (the early warning may use it, with this table beside it).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, log_loss

from qmtl_research.errors import InputError

SVC_APPROACH, PREDICTIVE_APPROACH = "SVC (Platt)", "GARCH predictive"
#: simulated continuations per test sample in the reports (P(grade) to within about +-0.016, 1.96 sd at p = 0.5)
PREDICTIVE_PATHS = 1000


def prob_columns(grades) -> list[str]:
    """The probability column names of the grades (``P(grade = k)``, fractions in [0, 1]).

    Parameters
    ----------
    grades : iterable of int
        Grade numbers.

    Returns
    -------
    list of str
        ``p_grade_<k>`` for each grade, in order.
    """
    return [f"p_grade_{g}" for g in grades]


def svc_walk_forward_proba(frame: pd.DataFrame, folds, kernel: str, features: list[str], grades: list[int],
                           param_grid: dict | None = None, inner_folds: int | None = None, seed: int = 0,
                           n_jobs: int = 1, backend: str | None = None) -> pd.DataFrame:
    """P(grade = k) of a probability SVC on each walk-forward test fold.

    Parameters
    ----------
    frame : DataFrame
        The stage-2 dataset frame (``grade`` and the ``features``).
    folds : list of :class:`~qmtl_research.rating.evaluation.Fold`
        The outer walk-forward folds (:func:`~qmtl_research.rating.evaluation.outer_folds`).
    kernel : str
        Display name of the kernel (:data:`~qmtl_research.rating.models.KERNELS`).
    grades : list of int
        All grades of the scheme (a grade absent from a fold's training rows gets probability 0).
    n_jobs : int, default 1
        Grid-search workers (no number depends on them).
    backend : str, optional
        joblib backend (see :class:`~qmtl_research.rating.models.GradeSVC`).

    Returns
    -------
    DataFrame ``row, fold, p_grade_<g>...`` (rows with a non-finite feature are not scored).
    """
    from qmtl_research.rating.models import KERNELS, GradeSVC

    X = frame[list(features)].to_numpy(dtype=float)
    ok = np.isfinite(X).all(axis=1)
    y = frame["grade"].to_numpy(dtype=int)
    parts = []
    for fold in folds:
        tr, te = fold.train[ok[fold.train]], fold.test[ok[fold.test]]
        if len(te) == 0 or len(tr) == 0:
            continue
        model = GradeSVC(kernel=KERNELS[kernel], features=list(features), param_grid=param_grid,
                         inner_folds=inner_folds, probability=True, random_state=seed, n_jobs=n_jobs,
                         backend=backend).fit(frame.iloc[tr], y[tr])
        p = model.predict_proba(frame.iloc[te])
        full = np.zeros((len(te), len(grades)))
        for i, c in enumerate(model.classes_):
            full[:, grades.index(int(c))] = p[:, i]
        parts.append(pd.DataFrame({"row": te, "fold": fold.name, **dict(zip(prob_columns(grades), full.T))}))
    if not parts:
        return pd.DataFrame(columns=["row", "fold"] + prob_columns(grades))
    return pd.concat(parts, ignore_index=True)


def _check(y, proba: np.ndarray, grades) -> np.ndarray:
    p = np.asarray(proba, dtype=float)
    if p.ndim != 2 or p.shape != (len(y), len(grades)) or not np.isfinite(p).all():
        raise InputError(f"probabilities of shape {p.shape} for {len(y)} samples and {len(grades)} grades",
                         where="calibration_scores", fix="one finite row of probabilities per sample, one column per grade")
    if np.any(np.abs(p.sum(axis=1) - 1.0) > 1e-6):
        raise InputError("a row of probabilities does not sum to 1", where="calibration_scores",
                         fix="pass P(grade = k) for every grade k")
    if not set(np.unique(y)) <= set(grades):
        raise InputError(f"true grades {sorted(set(np.unique(y)) - set(grades))} are not among {list(grades)}",
                         where="calibration_scores")
    return p


def calibration_scores(y_true, proba, grades) -> dict:
    """Brier score, log loss and accuracy of the most probable grade (see the module docstring).

    Parameters
    ----------
    y_true : array-like of int
        The grades decided at the settlement.
    proba : ndarray (n, len(grades))
        P(grade = k), columns in the order of ``grades``.
    grades : list of int

    Returns
    -------
    dict ``n, brier, log_loss, accuracy``.
    """
    y = np.asarray(y_true, dtype=int)
    p = _check(y, proba, grades)
    return {"n": int(len(y)), "brier": float(brier_score_loss(y, p, labels=list(grades), scale_by_half=False)),
            "log_loss": float(log_loss(y, p, labels=list(grades))),
            "accuracy": float(np.mean(np.asarray(grades)[p.argmax(axis=1)] == y))}


def reliability_table(y_true, proba, grades, n_bins: int = 10) -> pd.DataFrame:
    """One-vs-rest reliability bins: ``bin_mean_forecast, observed_frequency, n_pairs`` (bins without a
    pair left out).

    Parameters
    ----------
    y_true : array-like of int
        Observed grades.
    proba : array-like of float, shape (n_samples, n_grades)
        Forecast probabilities, columns in the order of ``grades``.
    grades : list of int
        Grade numbers.
    n_bins : int, default 10
        Equal-width bins of the forecast probability over [0, 1].

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin; forecast mean and observed frequency are fractions.
    """
    y = np.asarray(y_true, dtype=int)
    p = _check(y, proba, grades)
    event = (y[:, None] == np.asarray(grades)[None, :]).ravel().astype(int)
    forecast = p.ravel()
    freq, mean = calibration_curve(event, forecast, n_bins=n_bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], forecast),
                         minlength=n_bins)
    return pd.DataFrame({"bin_mean_forecast": mean, "observed_frequency": freq, "n_pairs": counts[counts > 0]})


def compare_calibration(frame: pd.DataFrame, svc: pd.DataFrame, predictive: pd.DataFrame, grades: list[int],
                        n_bins: int = 10) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Both approaches' scores on the rows both scored.

    Parameters
    ----------
    frame : pandas.DataFrame
        The test samples (``row``, ``grade``).
    svc : pandas.DataFrame
        The SVC's probabilities per test row (:func:`prob_columns`).
    predictive : pandas.DataFrame
        The predictive distribution's probabilities per test row.
    grades : list of int
        Grade numbers.
    n_bins : int, default 10
        Reliability bins.

    Returns
    -------
    table : DataFrame index ``approach`` (:data:`SVC_APPROACH`, :data:`PREDICTIVE_APPROACH`); ``n, brier,
        log_loss, accuracy``.
    reliability : long :func:`reliability_table` with an ``approach`` column.
    better : the approach with the lower Brier score (ties: the SVC).
    """
    cols = prob_columns(grades)
    rows = np.intersect1d(svc["row"].to_numpy(), predictive["row"].to_numpy())
    if len(rows) == 0:
        raise InputError("no test row was scored by both the SVC and the predictive distribution",
                         where="compare_calibration", fix="check the skipped rows of both")
    y = frame["grade"].to_numpy(dtype=int)[rows]
    table, rel = {}, []
    for name, probs in ((SVC_APPROACH, svc), (PREDICTIVE_APPROACH, predictive)):
        p = probs.set_index("row").loc[rows, cols].to_numpy(dtype=float)
        table[name] = calibration_scores(y, p, grades)
        rel.append(reliability_table(y, p, grades, n_bins).assign(approach=name))
    out = pd.DataFrame.from_dict(table, orient="index")
    out.index.name = "approach"
    better = PREDICTIVE_APPROACH if out.at[PREDICTIVE_APPROACH, "brier"] < out.at[SVC_APPROACH, "brier"] else SVC_APPROACH
    return out, pd.concat(rel, ignore_index=True), better


def predictive_calibration(study, panel, garch_params: pd.DataFrame, horizon: int | None = None,
                           n_paths: int = 2000, seed: int = 0, law: str = "normal", n_bins: int = 10) -> dict:
    """The calibration comparison of one study horizon on its walk-forward test set.

    The SVC is the kernel with the best walk-forward accuracy at that horizon, refitted per fold
    with ``probability=True`` (:func:`svc_walk_forward_proba`); the predictive distribution is
    :func:`~qmtl_research.rating.predictive.predictive_panel` on the same test rows from stage 1's
    walk-forward GARCH estimations (``Stage1Result.garch_params``).

    Parameters
    ----------
    study : RatingStudy
        The stage-2 study (its walk-forward folds and datasets).
    panel : FundPanel
        Weekly returns of the funds.
    garch_params : pandas.DataFrame
        Stage 1's walk-forward GARCH(1,1) estimations (one row per fund and refit date).
    horizon : int, optional
        Weeks before the settlement; None: the study's default horizon.
    n_paths : int, default 2000
        Simulated continuations per sample.
    seed : int, default 0
        Seed of the simulation.
    law : {"normal", "student_t", "residuals"}, default "normal"
        Innovation law of the simulated weeks (see :mod:`qmtl_research.rating.predictive`).
    n_bins : int, default 10
        Reliability bins.

    Returns
    -------
    dict with ``table`` and ``reliability`` and ``better`` (:func:`compare_calibration`), ``svc`` and
    ``predictive`` (probabilities per test row), ``skipped`` (test rows without a predictive
    distribution, with the reason), ``kernel``, ``horizon_weeks``, ``n_paths``, ``seed``, ``law``.
    """
    from qmtl_research.rating.evaluation import PERSISTENCE, RULE, outer_folds
    from qmtl_research.rating.predictive import predictive_panel

    st = study.settings
    h = st.horizon_weeks if horizon is None else horizon
    res = study.results.get(h)
    if res is None or res.evaluation is None or res.evaluation.split != "walk_forward":
        raise InputError(f"horizon {h} weeks has no walk-forward evaluation", where="predictive_calibration(horizon)",
                         fix=f"use an evaluated horizon of {sorted(study.results)} with split walk_forward")
    frame, grades = res.dataset.frame, study.grade_table.grade_numbers
    svcs = res.table.drop(index=[a for a in (RULE, PERSISTENCE) if a in res.table.index])
    kernel = str(svcs["accuracy"].idxmax())
    folds, _ = outer_folds(frame, "walk_forward", st.outer_folds, seed, st.min_train)
    svc = svc_walk_forward_proba(frame, folds, kernel, list(res.screen.selected), grades, st.param_grid,
                                 st.inner_folds, seed, study.n_jobs, study.backend)
    test_rows = np.unique(np.concatenate([f.test for f in folds]))
    pred, skipped = predictive_panel(panel, frame.iloc[test_rows].assign(row=test_rows), garch_params,
                                     study.grade_table, h, n_paths, seed, law)
    table, reliability, better = compare_calibration(frame, svc, pred, grades, n_bins)
    return {"table": table, "reliability": reliability, "better": better, "svc": svc, "predictive": pred,
            "skipped": skipped, "kernel": kernel, "horizon_weeks": h, "n_paths": n_paths, "seed": seed, "law": law}
