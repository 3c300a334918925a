"""Stage 2 at scale: the kernel approximation of the SVCs above a training-set size.

An exact kernel SVM (libsvm) costs between quadratic and cubic time and quadratic memory in
the training samples. Above ``RatingSettings.exact_kernel_max_samples`` training samples,
:class:`~qmtl_research.rating.models.GradeSVC` replaces it by

* RBF / Sigmoid / Poly: :class:`KernelFeatures` (scikit-learn's ``Nystroem`` with the SVC's own
  kernel function and parameters: ``gamma`` ``"scale"``/``"auto"`` resolved as SVC does,
  ``degree`` 3 and ``coef0`` 0 unless tuned) followed by a one-vs-one ``LinearSVC`` (liblinear's
  primal solver, linear in the samples);
* Linear: the one-vs-one ``LinearSVC`` on the scaled inputs (the same linear model class; libsvm's
  exact linear-kernel solver also grows quadratically).

``LinearSVC`` minimises the squared hinge loss (SVC: the hinge loss) on ``n_components``
approximate features, so the approximated fit is a different estimator: :func:`approximation_check`
measures its accuracy cost against the exact fit on a subset small enough for the exact fit
(same folds).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.kernel_approximation import Nystroem
from sklearn.model_selection import StratifiedKFold

#: the method's name, as the report prints it
METHOD = "Nystroem features + one-vs-one LinearSVC; Linear kernel: one-vs-one LinearSVC"

#: columns of the approximation table (``rating/approximation``)
APPROXIMATION_COLUMNS = ["approach", "n_subset", "n_folds", "exact_accuracy", "approximated_accuracy", "difference"]


def svc_parameters(settings) -> dict:
    """The approximation's parameters of :class:`~qmtl_research.rating.models.GradeSVC` from the settings.

    Parameters
    ----------
    settings : RatingSettings

    Returns
    -------
    dict
        ``exact_max_samples``, ``n_components``, ``approximation_seed``.
    """
    return {"exact_max_samples": settings.exact_kernel_max_samples, "n_components": settings.nystroem_components,
            "approximation_seed": settings.nystroem_seed}


def summary(evaluation, settings) -> dict | None:
    """The study's record of the approximation (None when every SVC fit was exact).

    Parameters
    ----------
    evaluation : Evaluation
        The default horizon's evaluation.
    settings : RatingSettings

    Returns
    -------
    dict or None
        ``approaches`` (display names, in order), ``folds`` (fits approximated), ``above_samples``,
        ``n_components``, ``seed``, ``method``.
    """
    if evaluation is None or not evaluation.approximated:
        return None
    names = list(dict.fromkeys(a for a, _ in evaluation.approximated))
    return {"approaches": names, "fits": len(evaluation.approximated),
            "above_samples": settings.exact_kernel_max_samples, "n_components": settings.nystroem_components,
            "seed": settings.nystroem_seed, "method": METHOD}


def uses_approximation(n_samples: int, limit: int) -> bool:
    """Whether a training set of ``n_samples`` is fitted on the approximation (above ``limit``).

    Parameters
    ----------
    n_samples : int
        Training samples of one fit.
    limit : int
        ``RatingSettings.exact_kernel_max_samples``.

    Returns
    -------
    bool
    """
    return int(n_samples) > int(limit)


class KernelFeatures(TransformerMixin, BaseEstimator):
    """Nystroem feature map of an SVC kernel (the kernel function libsvm uses, same parameters).

    Parameters
    ----------
    kernel : {"rbf", "sigmoid", "poly"}
    gamma : float or {"scale", "auto"}
        As :class:`sklearn.svm.SVC`: ``"scale"`` = 1 / (n_features * X.var()), ``"auto"`` =
        1 / n_features, computed on the rows passed to ``fit``.
    degree : int, default 3
        Degree of the polynomial kernel (SVC's default).
    coef0 : float, default 0.0
        Constant of the polynomial and sigmoid kernels (SVC's default, not Nystroem's 1).
    n_components : int, default 300
        Landmarks (at most the training samples).
    random_state : int, default 0
        Seed of the landmark draw.
    """

    def __init__(self, kernel: str = "rbf", gamma="scale", degree: int = 3, coef0: float = 0.0,
                 n_components: int = 300, random_state: int = 0):
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X, y=None):
        """Draw the landmarks and the normalisation of the feature map.

        Parameters
        ----------
        X : numpy.ndarray, shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        KernelFeatures
            self, with ``gamma_`` (the numeric gamma) and ``nystroem_``.
        """
        X = np.asarray(X, dtype=float)
        if self.gamma == "scale":
            var = X.var()
            self.gamma_ = 1.0 / (X.shape[1] * var) if var != 0 else 1.0
        elif self.gamma == "auto":
            self.gamma_ = 1.0 / X.shape[1]
        else:
            self.gamma_ = float(self.gamma)
        params = {"gamma": self.gamma_}
        if self.kernel in ("poly", "sigmoid"):
            params["coef0"] = float(self.coef0)
        if self.kernel == "poly":
            params["degree"] = self.degree
        self.nystroem_ = Nystroem(kernel=self.kernel, n_components=min(self.n_components, len(X)),
                                  random_state=self.random_state, **params).fit(X)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X) -> np.ndarray:
        """The approximate feature map of ``X``.

        Parameters
        ----------
        X : numpy.ndarray, shape (n_samples, n_features)

        Returns
        -------
        numpy.ndarray, shape (n_samples, n_components)
        """
        return self.nystroem_.transform(np.asarray(X, dtype=float))


def approximation_check(frame: pd.DataFrame, features: list[str], approaches: dict[str, object], settings,
                        seed: int) -> pd.DataFrame:
    """Exact vs approximated accuracy of each approximated SVC on a random subset (same folds).

    The subset holds ``settings.approximation_check_samples`` rows (drawn with ``seed`` among the rows
    whose features are finite; all of them when fewer); both fits of an approach see the same
    stratified ``settings.outer_folds`` folds of it; the accuracy is over every test row of the folds.

    Parameters
    ----------
    frame : pandas.DataFrame
        Stage-2 samples with ``grade`` and the ``features``.
    features : list of str
        Input columns of the SVCs.
    approaches : dict of str to GradeSVC
        The approximated approaches (display name -> unfitted estimator of the study).
    settings : RatingSettings
        ``approximation_check_samples`` and ``outer_folds``.
    seed : int
        Seed of the subset and of the folds.

    Returns
    -------
    pandas.DataFrame
        :data:`APPROXIMATION_COLUMNS`: accuracies as fractions, ``difference`` = approximated - exact.
    """
    from sklearn.base import clone

    ok = np.flatnonzero(np.isfinite(frame[list(features)].to_numpy(dtype=float)).all(axis=1))
    rng = np.random.default_rng(seed)
    n = min(settings.approximation_check_samples, len(ok))
    rows = np.sort(rng.choice(ok, size=n, replace=False))
    sub = frame.iloc[rows]
    y = sub["grade"].to_numpy(dtype=int)
    folds = list(StratifiedKFold(settings.outer_folds, shuffle=True, random_state=seed).split(rows, y))
    out = []
    for name, est in approaches.items():
        hits = {"exact": 0, "approximated": 0}
        for tr, te in folds:
            # the same estimator, its size limit set so that this subset is fitted exactly / approximated
            for mode, limit in (("exact", len(tr)), ("approximated", 0)):
                model = clone(est).set_params(exact_max_samples=limit).fit(sub.iloc[tr], y[tr])
                hits[mode] += int((model.predict(sub.iloc[te]) == y[te]).sum())
        exact, approx = hits["exact"] / n, hits["approximated"] / n
        out.append((name, n, len(folds), exact, approx, approx - exact))
    return pd.DataFrame(out, columns=APPROXIMATION_COLUMNS)
