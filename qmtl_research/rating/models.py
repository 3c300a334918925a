"""Stage-2 classifiers: the tuned SVC and the two challengers, all scikit-learn estimators.

* :class:`GradeSVC` - ``GridSearchCV(Pipeline(StandardScaler, SVC(kernel)))`` over ``C``
  (and ``gamma`` except for the linear kernel). Scaling and tuning only ever see the
  rows passed to ``fit``: used inside an outer split, no test row informs them.
* :class:`RegulatoryRuleClassifier` - no learning: Table 1 applied to the blended std.
* :class:`PersistenceClassifier` - no learning: today's grade (trailing 156 weeks).

All take a DataFrame of stage-2 samples (:mod:`qmtl_research.rating.features`) as ``X``
and integer grades as ``y``.
"""
from __future__ import annotations

import contextlib
from collections.abc import Sequence

import warnings

import numpy as np
import pandas as pd
from joblib import parallel_config
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.multiclass import OneVsOneClassifier
from sklearn.svm import SVC, LinearSVC

from qmtl_research.errors import ConfigError, InputError
from qmtl_research.grades import GradeTable
from qmtl_research.rating.kernel_approx import KernelFeatures, uses_approximation
from qmtl_research.rating.settings import KERNELS, setting_default



def _select(X, features: Sequence[str] | None) -> np.ndarray:
    if isinstance(X, pd.DataFrame):
        cols = list(features) if features else list(X.columns)
        missing = [c for c in cols if c not in X.columns]
        if missing:
            raise InputError(f"feature columns {missing} are missing from X", where="GradeSVC.fit/predict",
                             fix="pass the stage-2 samples frame (build_rating_dataset)")
        return X[cols].to_numpy(dtype=float)
    return np.asarray(X, dtype=float)


def _check_grades(y) -> np.ndarray:
    y = np.asarray(y).astype(int)
    classes = np.unique(y)
    if len(classes) < 2:
        only = ", ".join(map(str, classes)) or "none"
        raise InputError(
            f"the training data holds a single grade ({only}); a classifier cannot learn grade "
            f"boundaries from one class",
            where=f"training set of {len(y)} samples",
            fix="use more funds (n_funds), more settlement years, a shorter horizon, or the "
                "'kfold' split so that the training folds contain at least two grades")
    return y


BACKENDS = (None, "loky", "threading", "dask")


@contextlib.contextmanager
def _parallel(backend: str | None, n_jobs: int):
    """joblib's backend for the block (the dask one on :class:`qmtl_research.parallel.dask_client`)."""
    if backend is None:
        yield
    elif backend == "dask":
        from qmtl_research.parallel import dask_client

        with dask_client(n_jobs), parallel_config(backend="dask"):
            yield
    else:
        with parallel_config(backend=backend):
            yield


class GradeSVC(ClassifierMixin, BaseEstimator):
    """SVC grade classifier with scaling and nested grid search.

    Parameters
    ----------
    kernel : {"rbf", "sigmoid", "linear", "poly"}
    features : sequence of str, optional
        Columns of ``X`` to use (all when None / when ``X`` is an array).
    param_grid : dict, optional
        Values of ``C`` and ``gamma`` to try (``gamma`` ignored for the linear kernel);
        None: the default of :attr:`~qmtl_research.rating.settings.RatingSettings.param_grid`.
    inner_folds : int, optional
        None: the default of ``RatingSettings.inner_folds``. Folds of the inner (tuning)
        cross-validation: stratified by grade, shuffled with
        ``random_state``; a grade with fewer members than folds is allowed (sklearn's
        warning about it is silenced), a tuning fold with one grade is an InputError.
    probability : bool
        After tuning, wrap the best pipeline in ``CalibratedClassifierCV(method="sigmoid",
        ensemble=False)`` (Platt scaling on inner-fold decision values; the replacement of
        the deprecated ``SVC(probability=True)``). ``predict`` then returns the class of
        highest calibrated probability, ``predict_proba`` the probabilities.
    random_state : int
        Seed of the inner folds and of the SVC.
    n_jobs : int
        Workers for the grid search.
    backend : {None, "loky", "threading", "dask"}
        joblib backend of the grid search (None: joblib's default); ``"dask"`` runs it on
        :class:`qmtl_research.parallel.dask_client` (the current client, ``$QMTL_DASK_SCHEDULER``
        or a local cluster of ``n_jobs`` workers). The fit does not depend on the backend.
    exact_max_samples, n_components, approximation_seed : int, optional
        Above ``exact_max_samples`` training samples the fit uses the approximation of
        :mod:`qmtl_research.rating.kernel_approx` (RBF, sigmoid, poly: ``n_components`` Nystroem
        landmarks drawn with ``approximation_seed``, then one-vs-one ``LinearSVC``; linear:
        one-vs-one ``LinearSVC`` on the scaled inputs); ``approximated_`` says so after ``fit``.
        None: the defaults of ``RatingSettings.exact_kernel_max_samples``, ``nystroem_components``
        and ``nystroem_seed``.
    """

    def __init__(self, kernel: str = "rbf", features: Sequence[str] | None = None,
                 param_grid: dict | None = None, inner_folds: int | None = None, probability: bool = False,
                 random_state: int = 0, n_jobs: int = 1, backend: str | None = None,
                 exact_max_samples: int | None = None, n_components: int | None = None,
                 approximation_seed: int | None = None):
        self.exact_max_samples = exact_max_samples
        self.n_components = n_components
        self.approximation_seed = approximation_seed
        self.kernel = kernel
        self.features = features
        self.param_grid = param_grid
        self.inner_folds = inner_folds
        self.probability = probability
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.backend = backend

    def _setting(self, name: str, field: str):
        value = getattr(self, name)
        return setting_default(field) if value is None else value

    def _pipeline(self, n_samples: int) -> tuple[Pipeline, dict[str, str]]:
        """The pipeline for ``n_samples`` training samples and where each grid parameter goes."""
        if not uses_approximation(n_samples, self._setting("exact_max_samples", "exact_kernel_max_samples")):
            return (Pipeline([("scale", StandardScaler()),
                              ("svc", SVC(kernel=self.kernel, random_state=self.random_state))]), {})
        # one-vs-one like SVC (whose decision it replaces); the primal solver: n_samples >> n_components
        svm = OneVsOneClassifier(LinearSVC(dual=False, random_state=self.random_state))
        if self.kernel == "linear":           # the same model class: only the solver and the loss change
            return Pipeline([("scale", StandardScaler()), ("svc", svm)]), {"svc__C": "svc__estimator__C"}
        feats = KernelFeatures(kernel=self.kernel, n_components=self._setting("n_components", "nystroem_components"),
                               random_state=self._setting("approximation_seed", "nystroem_seed"))
        moved = {"svc__C": "svc__estimator__C", **{f"svc__{p}": f"features__{p}" for p in ("gamma", "degree", "coef0")}}
        return Pipeline([("scale", StandardScaler()), ("features", feats), ("svc", svm)]), moved

    def _grid(self) -> dict:
        grid = dict(self.param_grid or setting_default("param_grid"))
        unknown = set(grid) - {"C", "gamma", "degree", "coef0"}
        if unknown:
            raise ConfigError(f"unknown SVC grid parameters {sorted(unknown)}", where="param_grid",
                              fix="use C, gamma, degree, coef0")
        if self.kernel == "linear":
            grid.pop("gamma", None)
        if self.kernel not in ("poly",):
            grid.pop("degree", None)
        if self.kernel not in ("poly", "sigmoid"):
            grid.pop("coef0", None)
        return {f"svc__{k}": list(v) for k, v in grid.items()}

    def fit(self, X, y):
        """Tune ``C``/``gamma`` by the inner stratified CV and refit the best pipeline on all of ``X``.

        Parameters
        ----------
        X : pandas.DataFrame or numpy.ndarray
            Stage-2 samples (the columns named by ``features``; all columns of an array).
        y : array-like of int
            Grades.

        Returns
        -------
        GradeSVC
            self, with ``model_`` (the tuned pipeline), ``best_params_``, ``classes_`` and
            ``approximated_`` (True when the kernel approximation was fitted).
        """
        if self.kernel not in KERNELS.values():
            raise ConfigError(f"unknown SVC kernel {self.kernel!r}", where="kernel",
                              fix=f"use one of {sorted(KERNELS.values())}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown joblib backend {self.backend!r}", where="GradeSVC(backend=...)",
                              fix=f"use one of {BACKENDS}")
        Xa = _select(X, self.features)
        y = _check_grades(y)
        n_inner = min(setting_default("inner_folds") if self.inner_folds is None else self.inner_folds, len(y))
        if n_inner < 2:
            raise InputError(f"{len(y)} training samples are too few for inner cross-validation",
                             where="GradeSVC.fit", fix="use more samples")
        inner = StratifiedKFold(n_inner, shuffle=True, random_state=self.random_state)
        with warnings.catch_warnings():
            # rare grades with fewer members than inner folds are expected and allowed
            warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
            splits = list(inner.split(Xa, y))
            for k, (tr, _) in enumerate(splits):
                if len(np.unique(y[tr])) < 2:
                    raise InputError(
                        f"inner tuning fold {k + 1} of {n_inner} holds a single grade ({y[tr][0]})",
                        where=f"training set of {len(y)} samples, grades {np.unique(y).tolist()}",
                        fix="use more funds or settlement years, or fewer inner_folds")
            pipe, moved = self._pipeline(len(y))
            self.approximated_ = bool(moved)
            grid = {moved.get(k, k): v for k, v in self._grid().items()}
            self.search_ = GridSearchCV(pipe, grid, scoring="accuracy", refit=True, cv=splits,
                                        n_jobs=self.n_jobs, error_score="raise")
            with _parallel(self.backend, self.n_jobs):
                self.search_.fit(Xa, y)
            model = self.search_.best_estimator_
            if self.probability:
                model = CalibratedClassifierCV(clone(model), method="sigmoid", ensemble=False,
                                               cv=splits).fit(Xa, y)
        self.best_params_ = {k.rsplit("__", 1)[1]: v for k, v in self.search_.best_params_.items()}
        self.model_ = model
        self.classes_ = model.classes_
        self.n_features_in_ = Xa.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """The predicted grade of each sample.

        Parameters
        ----------
        X : pandas.DataFrame or numpy.ndarray
            Stage-2 samples (the columns named by ``features``; all columns of an array).

        Returns
        -------
        numpy.ndarray of int
            Predicted grades.
        """
        return self.model_.predict(_select(X, self.features))

    def predict_proba(self, X) -> np.ndarray:
        """Platt-calibrated grade probabilities (needs ``probability=True``).

        Parameters
        ----------
        X : pandas.DataFrame or numpy.ndarray
            Stage-2 samples (the columns named by ``features``; all columns of an array).

        Returns
        -------
        numpy.ndarray, shape (n_samples, n_classes)
            P(grade = k), fractions summing to 1 per row, columns in ``classes_`` order.
        """
        if not self.probability:
            raise ConfigError("predict_proba needs GradeSVC(probability=True)", where="GradeSVC")
        return self.model_.predict_proba(_select(X, self.features))


class _ColumnGrade(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        """Record the grades seen (``classes_``); nothing is learned, the grade is read from one column.

        Parameters
        ----------
        X : pandas.DataFrame
            Stage-2 samples (not read: the rule needs no fitted state).
        y : array-like of int
            The grades (1..6) of the training samples.

        Returns
        -------
        self
        """
        y = np.asarray(y).astype(int)
        self.classes_ = np.unique(y)
        return self

    def _column(self, X, name: str) -> np.ndarray:
        if not isinstance(X, pd.DataFrame) or name not in X.columns:
            raise InputError(f"{type(self).__name__} needs a DataFrame with column {name!r}",
                             where=f"{type(self).__name__}.predict",
                             fix="pass the stage-2 samples frame (build_rating_dataset)")
        return X[name].to_numpy(dtype=float)


class RegulatoryRuleClassifier(_ColumnGrade):
    """Challenger without learning: the grade table applied to ``feature`` (the blended std).

    Parameters
    ----------
    grade_table : GradeTable, optional
        The grading scheme whose bands map the feature to a grade (required to predict).
    feature : str, default "blended_std_pct"
        Column holding the measure (percent).
    """

    def __init__(self, grade_table: GradeTable | None = None, feature: str = "blended_std_pct"):
        self.grade_table = grade_table
        self.feature = feature

    def predict(self, X) -> np.ndarray:
        """The grade of each sample's ``feature`` under the scheme's bands.

        Parameters
        ----------
        X : pandas.DataFrame or numpy.ndarray
            Stage-2 samples (the columns named by ``features``; all columns of an array).

        Returns
        -------
        numpy.ndarray of int
        """
        if self.grade_table is None:
            raise ConfigError("RegulatoryRuleClassifier needs a grade_table", where="grade_table")
        return self.grade_table.grade_of(self._column(X, self.feature)).astype(int)


class PersistenceClassifier(_ColumnGrade):
    """Challenger without learning: predicts today's grade (``persistence_grade``: the
    grade of the trailing 156 weeks at the prediction date) for the next settlement.

    Parameters
    ----------
    feature : str, default "persistence_grade"
        Column holding today's grade.
    """

    def __init__(self, feature: str = "persistence_grade"):
        self.feature = feature

    def predict(self, X) -> np.ndarray:
        """Today's grade of each sample.

        Parameters
        ----------
        X : pandas.DataFrame or numpy.ndarray
            Stage-2 samples (the columns named by ``features``; all columns of an array).

        Returns
        -------
        numpy.ndarray of int
        """
        return self._column(X, self.feature).astype(int)
