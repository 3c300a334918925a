"""The stage-1 model registry: the only list of model names, and the per-fund model protocol.

Every stage-1 model is a :class:`ModelSpec` registered here; the configuration
(:class:`~qmtl_research.volatility.config.Stage1Config`), the walk-forward, the K-fold CV,
the CLI and the look-ups read names and kinds from it. A model's ``kind`` says how the
walk-forward drives it:

``"garch"``
    the project's vectorised GARCH(1,1) engine (:mod:`~qmtl_research.volatility.garch`),
    run once for the panel; its conditional volatilities are also the ``r`` inputs of the
    models with ``needs_garch``.
``"series"``
    a per-fund time-series model implementing :class:`VolatilityModel`, driven fund by
    fund by :mod:`~qmtl_research.volatility.series` (estimated at each refit date on the
    fund's returns strictly before it; forecasts for every origin up to the next refit).
``"learned"``
    a pooled estimator trained on the sample table (``fit(X, y)`` / ``predict(X)``,
    :mod:`~qmtl_research.volatility.models`), retrained at each refit date.
``"rule"``
    a pooled estimator with nothing to learn (``predict(X)`` on the sample rows).

Adding a model is one file (the estimator) and one :func:`register` call (here for the
shipped models; anywhere, e.g. a test, for others):

>>> register(ModelSpec("Toy", "series", lambda config, warm_start=False: ToyVolatility(),
...                    "a toy model"))                               # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Protocol, runtime_checkable

import numpy as np

from qmtl_research.errors import InputError
from qmtl_research.volatility.names import EWMA, GARCH, GARCH_LSTM, GJR_GARCH, HAR, LSTM, NAIVE

Kind = Literal["garch", "series", "learned", "rule"]
KINDS: tuple[str, ...] = ("garch", "series", "learned", "rule")


@runtime_checkable
class VolatilityModel(Protocol):
    """A per-fund volatility model on one fund's weekly simple returns (fractions, oldest first).

    Like arch's ``VolatilityProcess`` it is fitted on a sample and then filters any series
    with the fitted parameters. The stage-1 driver calls, for one fund and one refit date,
    ``fit(returns[:refit])`` and then ``forecast_variance(returns, horizon)`` on the fund's
    whole history, of which it keeps the origins from the refit date to the next refit. Row
    ``i`` must use ``returns[:i]`` only (a causal filter): the driver cannot check it, the
    tests do (``tests/test_volatility_challengers.py``: shocking later returns moves no earlier
    forecast).

    Attributes
    ----------
    min_obs : int
        The fewest returns :meth:`fit` accepts.
    """

    min_obs: int

    def fit(self, returns: np.ndarray) -> "VolatilityModel":
        """Estimate on ``returns`` (1-D, finite); may start from the previous fit (warm start).

        Raises :class:`ValueError` or :class:`~qmtl_research.errors.InputError` when the sample
        cannot be estimated (the driver lists the fund and date as a failure).

        Parameters
        ----------
        returns : ndarray
            One fund's weekly simple returns (fractions, oldest first).

        Returns
        -------
        VolatilityModel
            ``self``.
        """

    def forecast_variance(self, returns: np.ndarray, horizon: int) -> np.ndarray:
        """Variance forecasts (fraction^2 per week), shape ``(len(returns) + 1, horizon)``:
        row ``i`` forecasts weeks ``i .. i + horizon - 1`` from ``returns[:i]`` with the fitted
        parameters (NaN where the model cannot forecast).

        Parameters
        ----------
        returns : ndarray
            The fund's whole history of weekly simple returns (fractions, oldest first).
        horizon : int
            Weeks forecast from each origin.

        Returns
        -------
        ndarray, shape (len(returns) + 1, horizon)
        """

    def diagnostics(self) -> dict:
        """The last fit: ``params`` (name -> value), ``loglik`` (NaN when not a likelihood
        model), ``n_obs`` and ``flags`` (text; "" when nothing is wrong)."""


@dataclass(frozen=True)
class ModelSpec:
    """One stage-1 model.

    Parameters
    ----------
    name : str
        The model's name everywhere (configuration, forecast panel column, tables, rules).
    kind : {"garch", "series", "learned", "rule"}
        How the walk-forward drives it (see the module docstring).
    build : callable
        ``build(config, warm_start=False)`` -> a new estimator, with hyper-parameters from the
        :class:`~qmtl_research.volatility.config.Stage1Config` ``config``. For ``"series"``
        models: one :class:`VolatilityModel` per fund.
    description : str
        One line for the report and ``--help``.
    needs_garch : bool
        The model's inputs include the GARCH(1,1) conditional volatilities (``r_t-k``).
    default : bool
        Part of the default model list of a stage-1 run.
    """

    name: str
    kind: Kind
    build: Callable = field(repr=False, compare=False)
    description: str = ""
    needs_garch: bool = False
    default: bool = True


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec, replace: bool = False) -> ModelSpec:
    """Add ``spec`` to the registry (``replace=True`` to overwrite a model of the same name).

    Parameters
    ----------
    spec : ModelSpec
        The model.
    replace : bool
        Overwrite a model of the same name.

    Returns
    -------
    ModelSpec
        ``spec``.
    """
    if spec.kind not in KINDS:
        raise InputError(f"model {spec.name!r} has unknown kind {spec.kind!r}", where="ModelSpec(kind=...)",
                         fix=f"use one of {', '.join(KINDS)}")
    if not spec.name or spec.name != spec.name.strip() or "," in spec.name:
        raise InputError(f"model name {spec.name!r} is empty, padded or contains a comma",
                         where="ModelSpec(name=...)", fix="use a short name such as 'EWMA'")
    if spec.name in _REGISTRY and not replace:
        raise InputError(f"stage-1 model {spec.name!r} is already registered", where="register(spec)",
                         fix="choose another name or pass replace=True")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a model (tests register and remove their own).

    Parameters
    ----------
    name : str
        A registered model name.
    """
    if name not in _REGISTRY:
        raise InputError(f"stage-1 model {name!r} is not registered", where="unregister(name)",
                         fix=f"registered: {', '.join(_REGISTRY)}")
    del _REGISTRY[name]


def get(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``; :class:`~qmtl_research.errors.InputError` if unknown.

    Parameters
    ----------
    name : str
        A registered model name.

    Returns
    -------
    ModelSpec
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown stage-1 model {name!r}", where="models",
                         fix=f"use one of {', '.join(_REGISTRY)}") from None


def names(kind: str | None = None, default_only: bool = False) -> tuple[str, ...]:
    """Registered model names in registration order (optionally of one ``kind``, or the defaults).

    Parameters
    ----------
    kind : str, optional
        Only models of this kind.
    default_only : bool
        Only the default models.

    Returns
    -------
    tuple of str
    """
    return tuple(n for n, s in _REGISTRY.items()
                 if (kind is None or s.kind == kind) and (s.default or not default_only))


def default_models() -> tuple[str, ...]:
    """The models a stage-1 run uses unless told otherwise."""
    return names(default_only=True)


def garch_based(models) -> tuple[str, ...]:
    """The models of ``models`` that need the GARCH(1,1) engine (the engine itself or its ``r`` inputs).

    Parameters
    ----------
    models : sequence of str
        Registered model names.

    Returns
    -------
    tuple of str
    """
    return tuple(m for m in models if get(m).kind == "garch" or get(m).needs_garch)


def make_model(name: str, config, warm_start: bool = False):
    """The estimator of the registered model ``name``, with hyper-parameters from a
    :class:`~qmtl_research.volatility.config.Stage1Config` (``warm_start`` for refits).

    Parameters
    ----------
    name : str
        A registered model name.
    config : Stage1Config
        Hyper-parameters.
    warm_start : bool
        Build for warm-started refits.

    Returns
    -------
    object
        A new estimator (a :class:`VolatilityModel` for ``series`` models).
    """
    return get(name).build(config, warm_start=warm_start)


# ------------------------------------------------------------------ the shipped models


def _garch(config, warm_start=False):
    from qmtl_research.volatility.garch import GarchVolatility

    g = config.garch
    return GarchVolatility(mean=g.mean, min_train_obs=g.min_train_obs, horizon=config.horizon,
                           warm_start=warm_start, max_iter=g.max_iter)


def _lstm(features):
    def build(config, warm_start=False):
        from qmtl_research.volatility.models import GarchLSTMVolatility, LSTMVolatility

        kw = dict(config.lstm.model_dump(), window=config.window, horizon=config.horizon, seed=config.seed,
                  warm_start=warm_start)
        return GarchLSTMVolatility(**kw) if "r" in features else LSTMVolatility(features=features, **kw)
    return build


def _naive(config, warm_start=False):
    from qmtl_research.volatility.models import NaiveVolatility

    return NaiveVolatility(window=config.window)


def _challenger(cls_name):
    def build(config, warm_start=False):
        import qmtl_research.volatility.challengers as challengers

        return getattr(challengers, cls_name).from_config(config, warm_start=warm_start)
    return build


register(ModelSpec(GARCH, "garch", _garch, "GARCH(1,1) per fund, Gaussian quasi-likelihood (the project's engine)"))
register(ModelSpec(LSTM, "learned", _lstm(("sigma",)), "Keras LSTM on the last 4 one-month vols, pooled"))
register(ModelSpec(GARCH_LSTM, "learned", _lstm(("sigma", "r")),
                   "LSTM on the one-month vols and the GARCH(1,1) conditional vols (the paper's hybrid)",
                   needs_garch=True))
register(ModelSpec(NAIVE, "rule", _naive, "the last observed one-month vol"))
register(ModelSpec(EWMA, "series", _challenger("EWMAVolatility"), "RiskMetrics EWMA variance, lambda 0.94"))
register(ModelSpec(GJR_GARCH, "series", _challenger("GJRGarchVolatility"),
                   "GJR-GARCH(1,1) per fund with arch (asymmetric response to negative returns)"))
register(ModelSpec(HAR, "series", _challenger("HARVolatility"),
                   "HAR regression of the next month's variance on 1-, 4- and 13-week realised variances"))
