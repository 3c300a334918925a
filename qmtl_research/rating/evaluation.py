"""Outer splits, scores and the computed verdict of stage 2.

Two outer splits:

* ``"walk_forward"`` (default for verdicts): one fold per settlement year Y after the
  first; it tests on the settlements of year Y and trains on settlements of earlier
  years whose date is on or before the fold's earliest prediction date (purged, so no
  training label was unknown when the first test prediction was made). Folds with
  fewer than ``min_train`` training samples are skipped and listed in the fold log.
* ``"kfold"``: the paper's shuffled 4-fold cross-validation over all samples.

Every approach sees the same folds; learners are cloned and fitted per fold, so
scaling and grid search run on the training rows of that fold only.

Over 400 lines because the outer splits, the scores and the verdict of stage 2 share the fold and
evaluation types; split apart they would import each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import f1_score, precision_recall_fscore_support
from sklearn.model_selection import KFold
from tqdm import tqdm

from qmtl_research.errors import ConfigError, InputError
from qmtl_research.grades import GradeTable
from qmtl_research.rating.models import (KERNELS, GradeSVC, PersistenceClassifier,
                                         RegulatoryRuleClassifier)
from qmtl_research.rating.settings import setting_default

SPLITS = ("walk_forward", "kfold")
RULE, PERSISTENCE = "Regulatory rule", "Persistence"
TABLE_ORDER = ["RBF", "Sigmoid", "Linear", "Poly", RULE, PERSISTENCE]


@dataclass
class Fold:
    """One outer fold of the stage-2 evaluation.

    Attributes
    ----------
    name : str
        ``fold <k>`` (K-fold) or ``test <year>`` (walk-forward).
    train, test : numpy.ndarray of int
        Row positions of the training and test samples.
    """
    name: str
    train: np.ndarray
    test: np.ndarray


@dataclass
class Evaluation:
    """``predictions``: long frame (row, fund_id, settlement_date, fold, approach, true_grade,
    predicted_grade); ``folds``: fold, n_train, n_test, note; ``best_params``: approach,
    fold, params (str).

    Attributes
    ----------
    predictions : pandas.DataFrame
        Long frame of test predictions.
    folds : pandas.DataFrame
        The fold log.
    best_params : pandas.DataFrame
        Tuned parameters per approach and fold.
    split : str
        ``walk_forward`` or ``kfold``.
    grades : list of int
        Grade numbers.
    models : dict
        Fitted estimators by ``(fold, approach)`` when kept.
    approximated : list of (str, str)
        ``(approach, fold)`` of the fits on the kernel approximation
        (:mod:`qmtl_research.rating.kernel_approx`); empty when every SVC was exact.
    """

    predictions: pd.DataFrame
    folds: pd.DataFrame
    best_params: pd.DataFrame
    split: str
    grades: list[int] = field(default_factory=list)
    models: dict = field(default_factory=dict)
    approximated: list = field(default_factory=list)


def make_approaches(grade_table: GradeTable, features: list[str], kernels=("RBF", "Sigmoid", "Linear", "Poly"),
                    param_grid: dict | None = None, inner_folds: int | None = None, seed: int = 0,
                    n_jobs: int = 1, backend: str | None = None, approximation: dict | None = None) -> dict:
    """The SVC per requested kernel (display names of :data:`KERNELS`) plus both challengers
    (``n_jobs``, ``backend``: the grid search's joblib workers and backend, see :class:`GradeSVC`).

    Parameters
    ----------
    grade_table : GradeTable
        The grading scheme of the regulatory-rule challenger.
    features : list of str
        Input columns of the SVCs.
    kernels : sequence of str
        Kernel display names.
    param_grid : dict, optional
        ``C``/``gamma`` grid; None: ``RatingSettings.param_grid``.
    inner_folds : int, optional
        Tuning folds; None: ``RatingSettings.inner_folds``.
    seed : int, default 0
        Seed of the folds and SVCs.
    n_jobs : int, default 1
        Grid-search workers.
    backend : str, optional
        joblib backend.
    approximation : dict, optional
        ``exact_max_samples``, ``n_components``, ``approximation_seed`` of :class:`GradeSVC`
        (None: the defaults of RatingSettings).

    Returns
    -------
    dict of str to estimator
        Approach name -> unfitted estimator.
    """
    unknown = [k for k in kernels if k not in KERNELS]
    if unknown:
        raise ConfigError(f"unknown kernels {unknown}", where="kernels", fix=f"use {list(KERNELS)}")
    out = {k: GradeSVC(kernel=KERNELS[k], features=list(features), param_grid=param_grid,
                       inner_folds=inner_folds, random_state=seed, n_jobs=n_jobs, backend=backend,
                       **(approximation or {}))
           for k in kernels}
    out[RULE] = RegulatoryRuleClassifier(grade_table)
    out[PERSISTENCE] = PersistenceClassifier()
    return out


def outer_folds(frame: pd.DataFrame, split: str = "walk_forward", folds: int | None = None, seed: int = 0,
                min_train: int | None = None, allow_empty: bool = False
                ) -> tuple[list[Fold], list[tuple[str, int, int, str]]]:
    """The outer folds and a log ``(fold, n_train, n_test, note)`` including skipped folds
    (walk-forward folds with fewer than ``min_train`` training samples are skipped). Without
    any usable fold: InputError, or ``([], log)`` when ``allow_empty``. ``folds`` and
    ``min_train`` None: the defaults of ``RatingSettings.outer_folds`` and ``min_train``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Stage-2 samples (``settlement_year``, ``settlement_date``, ``prediction_date``).
    split : {"walk_forward", "kfold"}
        Walk-forward by settlement year, or shuffled K-fold.
    folds : int, optional
        K of the K-fold split.
    seed : int, default 0
        Seed of the K-fold shuffle.
    min_train : int, optional
        Fewest training samples of a walk-forward fold.
    allow_empty : bool, default False
        Return no fold instead of raising.

    Returns
    -------
    (list of Fold, list of tuple)
        The folds and the log.
    """
    folds = setting_default("outer_folds") if folds is None else folds
    min_train = setting_default("min_train") if min_train is None else min_train
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}", where="split", fix=f"use one of {SPLITS}")
    n = len(frame)
    if n < folds:
        raise InputError(f"{n} samples are too few for evaluation", where="stage-2 samples",
                         fix="use more funds (n_funds) or a shorter horizon")
    out, log = [], []
    if split == "kfold":
        for i, (tr, te) in enumerate(KFold(folds, shuffle=True, random_state=seed).split(np.arange(n))):
            out.append(Fold(f"fold {i + 1}", tr, te))
            log.append((f"fold {i + 1}", len(tr), len(te), ""))
        return out, log
    years = np.sort(frame["settlement_year"].unique())
    sdate = frame["settlement_date"].to_numpy()
    pdate = frame["prediction_date"].to_numpy()
    syear = frame["settlement_year"].to_numpy()
    for y in years[1:]:
        te = np.flatnonzero(syear == y)
        cutoff = pdate[te].min()
        tr = np.flatnonzero((syear < y) & (sdate <= cutoff))
        name = f"test {y}"
        if len(tr) < min_train:
            log.append((name, len(tr), len(te), f"skipped: {len(tr)} settlements of earlier years known "
                                                f"at the fold's first prediction date (< {min_train})"))
            continue
        out.append(Fold(name, tr, te))
        log.append((name, len(tr), len(te), f"train: settlements up to {pd.Timestamp(cutoff).date()}"))
    if not out and not allow_empty:
        raise InputError("walk-forward split has no usable fold (every test year lacks earlier "
                         "settled training samples)", where=f"settlement years {list(years)}",
                         fix="use a shorter horizon, a longer history, or split='kfold'")
    return out, log


def evaluate(frame: pd.DataFrame, approaches: dict, split: str = "walk_forward", folds: int | None = None,
             seed: int = 0, progress: bool = True, keep_models: bool = False,
             min_train: int | None = None) -> Evaluation:
    """Fit every approach on every outer training fold and predict its test fold
    (``keep_models``: keep the fitted estimators in ``Evaluation.models[(fold, approach)]``).

    Parameters
    ----------
    frame : pandas.DataFrame
        Stage-2 samples with ``grade``.
    approaches : dict of str to estimator
        :func:`make_approaches`' estimators.
    split : {"walk_forward", "kfold"}
        The outer split.
    folds : int, optional
        K of the K-fold split (None: ``RatingSettings.outer_folds``).
    seed : int, default 0
        Seed of the split.
    progress : bool, default True
        Show a progress bar.
    keep_models : bool, default False
        Keep the fitted estimators.
    min_train : int, optional
        Fewest training samples of a walk-forward fold (None: ``RatingSettings.min_train``).

    Returns
    -------
    Evaluation
    """
    fold_list, log = outer_folds(frame, split, folds, seed, min_train)
    y = frame["grade"].to_numpy(dtype=int)
    usable = {name: usable_rows(frame, est) for name, est in approaches.items()}
    preds, params, models, approximated = [], [], {}, []
    tasks = [(f, name) for f in fold_list for name in approaches]
    for fold, name in tqdm(tasks, desc="stage-2 outer folds x approaches", disable=not progress):
        train = fold.train[usable[name][fold.train]]
        test = fold.test[usable[name][fold.test]]
        if len(test) == 0:
            continue
        est = clone(approaches[name]).fit(frame.iloc[train], y[train])
        yhat = est.predict(frame.iloc[test])
        if keep_models:
            models[(fold.name, name)] = est
        preds.append(pd.DataFrame({"row": test, "fold": fold.name, "approach": name,
                                   "true_grade": y[test], "predicted_grade": yhat.astype(int)}))
        if getattr(est, "approximated_", False):
            approximated.append((name, fold.name))
        if hasattr(est, "best_params_"):
            params.append((name, fold.name, ", ".join(f"{k}={v}" for k, v in sorted(est.best_params_.items()))))
    pred = pd.concat(preds, ignore_index=True)
    # rows every approach scored: Table 4 and the matrices compare approaches on the same samples
    n_app = pred.groupby("row")["approach"].nunique()
    pred["all_scored"] = pred["row"].map(n_app == len(approaches)).to_numpy(dtype=bool)
    pred.insert(1, "fund_id", frame["fund_id"].to_numpy()[pred["row"]])
    pred.insert(2, "settlement_date", frame["settlement_date"].to_numpy()[pred["row"]])
    grades = sorted(set(y))
    return Evaluation(pred, pd.DataFrame(log, columns=["fold", "n_train", "n_test", "note"]),
                      pd.DataFrame(params, columns=["approach", "fold", "params"]), split, grades, models,
                      approximated)


def usable_rows(frame: pd.DataFrame, estimator) -> np.ndarray:
    """Rows whose inputs the ``estimator`` needs are all finite (an SVC's ``features``; a challenger's
    ``feature``): samples without a benchmark have NaN TE/IR/beta and only the challengers score them.

    Parameters
    ----------
    frame : pandas.DataFrame
        Stage-2 samples.
    estimator : estimator
        An approach of :func:`make_approaches`.

    Returns
    -------
    numpy.ndarray of bool
        One flag per row of ``frame``.
    """
    cols = list(getattr(estimator, "features", None) or [getattr(estimator, "feature", None)] or [])
    cols = [c for c in cols if c is not None and c in frame.columns]
    if not cols:
        return np.ones(len(frame), dtype=bool)
    return np.isfinite(frame[cols].to_numpy(dtype=float)).all(axis=1)


def common(predictions: pd.DataFrame) -> pd.DataFrame:
    """The predictions of the rows every approach scored (all rows for a frame without ``all_scored``).

    Parameters
    ----------
    predictions : pandas.DataFrame
        :attr:`Evaluation.predictions`.

    Returns
    -------
    pandas.DataFrame
    """
    return predictions[predictions["all_scored"]] if "all_scored" in predictions else predictions


def scored_by_approach(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per approach: ``n_scored`` (test fund-settlements it scored), ``n_common`` (of them, scored by
    every approach: Table 4's denominator) and its accuracy on all of its own rows.

    Parameters
    ----------
    predictions : pandas.DataFrame
        :attr:`Evaluation.predictions`.

    Returns
    -------
    pandas.DataFrame
        Index ``approach``; counts and accuracy (fraction).
    """
    rows = []
    for name, g in predictions.groupby("approach", sort=False):
        rows.append((name, int(len(g)), int(g["all_scored"].sum()) if "all_scored" in g else int(len(g)),
                     float(np.mean(g["true_grade"].to_numpy() == g["predicted_grade"].to_numpy()))))
    return pd.DataFrame(rows, columns=["approach", "n_scored", "n_common", "accuracy_own_rows"])


def scores(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per approach: ``accuracy``, ``macro_f1`` (over the grades present in truth or
    prediction, zero when undefined) and ``off_by_more_than_one`` (share with
    |predicted - true| > 1), all fractions 0..1; index ``approach`` in table order; on the rows
    every approach scored (:func:`common`).

    Parameters
    ----------
    predictions : pandas.DataFrame
        :attr:`Evaluation.predictions`.

    Returns
    -------
    pandas.DataFrame
    """
    rows = {}
    for name, g in common(predictions).groupby("approach", sort=False):
        t, p = g["true_grade"].to_numpy(), g["predicted_grade"].to_numpy()
        rows[name] = {"accuracy": float(np.mean(t == p)),
                      "macro_f1": float(f1_score(t, p, average="macro", zero_division=0)),
                      "off_by_more_than_one": float(np.mean(np.abs(t - p) > 1))}
    order = [a for a in TABLE_ORDER if a in rows] + [a for a in rows if a not in TABLE_ORDER]
    out = pd.DataFrame.from_dict(rows, orient="index").loc[order]
    out.index.name = "approach"
    return out


def confusion_long(predictions: pd.DataFrame, grades: list[int]) -> pd.DataFrame:
    """Long confusion counts ``approach, true_grade, predicted_grade, count`` over all
    grade pairs (zeros included).

    Parameters
    ----------
    predictions : pandas.DataFrame
        :attr:`Evaluation.predictions`.
    grades : list of int
        Grade numbers.

    Returns
    -------
    pandas.DataFrame
    """
    rows = []
    for name, g in common(predictions).groupby("approach", sort=False):
        tab = pd.crosstab(g["true_grade"], g["predicted_grade"]).reindex(index=grades, columns=grades,
                                                                           fill_value=0)
        for t in grades:
            for p in grades:
                rows.append((name, t, p, int(tab.at[t, p])))
    return pd.DataFrame(rows, columns=["approach", "true_grade", "predicted_grade", "count"])


def per_grade(predictions: pd.DataFrame, grades: list[int]) -> pd.DataFrame:
    """Per approach and grade: precision, recall, f1 and support (sklearn, zero when undefined).

    Parameters
    ----------
    predictions : pandas.DataFrame
        :attr:`Evaluation.predictions`.
    grades : list of int
        Grade numbers.

    Returns
    -------
    pandas.DataFrame
        Precision, recall and f1 as fractions; support as counts.
    """
    rows = []
    for name, g in common(predictions).groupby("approach", sort=False):
        p, r, f, s = precision_recall_fscore_support(g["true_grade"], g["predicted_grade"], labels=grades,
                                                     zero_division=0)
        rows += [(name, gr, p[i], r[i], f[i], int(s[i])) for i, gr in enumerate(grades)]
    return pd.DataFrame(rows, columns=["approach", "grade", "precision", "recall", "f1", "support"])


def verdict(table: pd.DataFrame) -> tuple[dict, str]:
    """Which approach wins and by how much, computed from a :func:`scores` table.

    Returns the summary fields (best_kernel, best_accuracy, rule_accuracy,
    persistence_accuracy, winner, margin_vs_rule) and one plain sentence.

    Parameters
    ----------
    table : pandas.DataFrame
        A :func:`scores` table (accuracies as fractions).

    Returns
    -------
    (dict, str)
        The summary fields (margins as fractions; positive = the best kernel ahead) and the sentence.
    """
    svc = table.drop(index=[a for a in (RULE, PERSISTENCE) if a in table.index])
    acc = table["accuracy"]
    best_kernel = str(svc["accuracy"].idxmax()) if len(svc) else None
    best = float(svc["accuracy"].max()) if len(svc) else float("nan")
    rule = float(acc.get(RULE, np.nan))
    pers = float(acc.get(PERSISTENCE, np.nan))
    winner = str(acc.idxmax())
    runner = acc.drop(index=winner)
    margin_vs_rule = best - rule
    out = {"best_kernel": best_kernel, "best_accuracy": best, "rule_accuracy": rule,
           "persistence_accuracy": pers, "winner": winner, "margin_vs_rule": margin_vs_rule}
    text = (f"{winner} wins with accuracy {acc[winner]:.1%}, {100 * (acc[winner] - runner.max()):.1f} "
            f"percentage points ahead of the next approach ({runner.idxmax()}, {runner.max():.1%}). ")
    if best_kernel:
        gap = (f"{abs(100 * margin_vs_rule):.1f} percentage points "
               f"{'above' if margin_vs_rule > 0 else 'below'}" if margin_vs_rule != 0 else "level with")
        text += (f"The best SVC kernel ({best_kernel}, {best:.1%}) is {gap} the regulatory rule on the "
                 f"blended std ({rule:.1%}); persistence scores {pers:.1%}.")
    return out, text
