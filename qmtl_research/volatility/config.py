"""Stage-1 settings, validated with pydantic (constructor-only hyper-parameters).

Every field has a default that works on any universe: the walk-forward test period
starts where the data allow (see :func:`~qmtl_research.volatility.schedule.default_test_start`),
not on a calendar date.
"""
from __future__ import annotations

from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from qmtl_research.volatility import names, registry
from qmtl_research.volatility.lstm_config import LSTMConfig
from qmtl_research.volatility.targets import TARGET_WINDOW


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GarchConfig(_Strict):
    """GARCH(1,1) per fund (:mod:`qmtl_research.volatility.garch`, Gaussian quasi-likelihood).

    Attributes
    ----------
    mean : {"Constant", "Zero"}
        Mean model: ``mu`` estimated, or 0 (weekly returns as fractions).
    min_train_obs : int
        Weekly returns a fund needs before an estimation (>= 75, so the variance backcast uses
        estimation data only).
    late_start : bool
        Walk-forward: a fund reaching ``min_train_obs`` returns between two refit dates is
        estimated at that week instead of waiting for the next refit.
    max_iter : int
        Fisher-scoring iterations per estimation.
    innovations : {"student-t", "normal"}
        Law under which variance forecasts map to the expected 1-month target (annualised
        percent): Student-t with ``nu`` fitted to the standardised residuals, or Gaussian.
    n_jobs : int
        Parallel workers across chunks of funds.
    backend : {"loky", "threading", "dask"}
        joblib backend; ``dask`` uses the current dask.distributed Client or starts a local one.
    """

    mean: Literal["Constant", "Zero"] = Field("Constant", description="mean model: mu estimated, or 0")
    min_train_obs: int = Field(104, ge=75, description="weekly returns a fund needs before an estimation "
                                                       "(>= 75 so the variance backcast uses estimation data only)")
    late_start: bool = Field(
        True, description="walk-forward: a fund reaching min_train_obs returns between two refit dates is "
                          "estimated at that week instead of waiting for the next refit")
    max_iter: int = Field(200, ge=1, description="Fisher-scoring iterations per estimation")
    innovations: Literal["student-t", "normal"] = Field(
        "student-t", description="innovation law under which variance forecasts map to the expected 1-month target: "
                                 "Student-t with nu fitted to the standardised residuals, or Gaussian")
    n_jobs: int = Field(1, ge=1, description="parallel workers across chunks of funds")
    backend: Literal["loky", "threading", "dask"] = Field(
        "loky", description="joblib backend; 'dask' uses the current dask.distributed Client or starts a local one")


class HighVolRegime(_Strict):
    """The high-volatility regime of the paper's Figure 9 (the paper: the COVID weeks).

    ``quantile`` (default): the target weeks whose cross-sectional mean realised 1-month
    vol is in the top ``1 - q`` of the test period's weeks (0.9 = top decile).
    ``window``: the target weeks from ``start`` to ``end`` (e.g. 2020-03-01..2020-04-30).

    Attributes
    ----------
    method : {"quantile", "window"}
        How the regime's weeks are chosen.
    quantile : float
        ``quantile``: the cut-off ``q`` in (0, 1), a fraction of the test period's weeks ranked
        by cross-sectional mean realised 1-month vol (annualised percent).
    start, end : str or None
        ``window``: inclusive ``YYYY-MM-DD`` dates (both needed, ``end`` not before ``start``).
    label : str or None
        Regime name in the tables; default derived from the rule (:meth:`name`).
    """

    method: Literal["quantile", "window"] = "quantile"
    quantile: float = Field(0.9, gt=0.0, lt=1.0)
    start: str | None = None
    end: str | None = None
    label: str | None = Field(None, description="regime name in the tables (default: derived from the rule)")

    @model_validator(mode="after")
    def _check(self):
        if self.method == "window":
            if not self.start or not self.end:
                raise ValueError("high_vol: method 'window' needs start and end dates (YYYY-MM-DD)")
            try:
                lo, hi = pd.Timestamp(self.start), pd.Timestamp(self.end)
            except ValueError as exc:
                raise ValueError(f"high_vol: start/end are not dates: {exc}") from None
            if hi < lo:
                raise ValueError(f"high_vol: end {self.end} is before start {self.start}")
        return self

    def name(self) -> str:
        """The regime's label in tables (its method and parameters).

        Returns
        -------
        str
        """
        if self.label:
            return self.label
        if self.method == "window":
            return f"high-volatility window {self.start}..{self.end}"
        return f"high-volatility weeks (top {round((1 - self.quantile) * 100):g} % of cross-sectional mean vol)"


class Stage1Config(_Strict):
    """Everything that determines a stage-1 run (with the panel and the seed).

    The verdict design is the **walk-forward**: forecasts for every origin of the test
    period from models (re)estimated on data strictly before their refit date, refitted
    ``refit`` (yearly: at the test start and the first week of each later year; weekly:
    every origin), warm-started from the previous fit. The paper's **K-fold CV** runs
    beside it when ``cv`` is true, for the comparison table.

    Attributes
    ----------
    models : tuple of str
        Stage-1 models (names of :mod:`qmtl_research.volatility.registry`), each once.
    validated_model : str
        The model under validation: the forecast tables test every other model against it
        (Diebold-Mariano).
    split : {"walk_forward", "kfold"}
        The design whose numbers are the verdict's (table2, summary); ``kfold`` needs ``cv``.
    test_start : str or None
        Walk-forward: first forecast origin (``YYYY-MM-DD``, a week of the panel); ``None`` =
        the first week by which ``test_start_share`` of the funds have ``garch.min_train_obs`` returns.
    test_start_share : float
        Share (fraction in (0, 1]) of funds with a full training history at the default test start.
    refit : {"yearly", "weekly"}
        Walk-forward refit cadence.
    lstm_retrain : {"refit", "yearly"}
        When the walk-forward retrains the LSTMs: at every refit date (``refit``, the default), or
        only at the yearly refit dates (``yearly``: the test start and the first week of each later
        year) - between two retrainings the latest weights forecast every origin from the row's own
        inputs (the latest one-month vols and, for GARCH-LSTM, the conditional vols of the GARCH fit
        in force). The same as ``refit`` when ``refit`` is yearly; with weekly refits it is what
        practitioners do (daily/weekly re-forecasts, periodic retraining) and saves all but the
        yearly trainings.
    challenger_refit : {"refit", "yearly"}
        When the walk-forward re-estimates the per-fund challengers (the ``series`` models: EWMA,
        GJR-GARCH, HAR): at every refit date (``refit``, the default) or only at the yearly refit
        dates (``yearly``), each estimation forecasting every origin up to the next one by filtering
        the fund's returns up to the origin (the forecasts still move every week). The same as
        ``refit`` when ``refit`` is yearly; with weekly refits the challengers' forecasts are then
        those of the yearly walk-forward.
    cv : bool
        Also run the paper's K-fold CV (for the design comparison).
    folds : int
        Number of K-fold CV folds (the paper uses 4).
    window : int
        Weeks in the 1-month target and in the input window (4).
    horizon : int
        Output steps ``t..t+horizon-1`` in weeks, the last one evaluated; must equal ``window``.
    high_vol : HighVolRegime
        The high-volatility regime of Figure 9.
    mcs_size : float
        Model confidence set test size, a fraction (0.10).
    mcs_reps : int
        Model confidence set bootstrap replications.
    garch : GarchConfig
        GARCH settings.
    lstm : LSTMConfig
        LSTM hyper-parameters.
    seed : int
        Seed of the LSTMs and of the subsampling, in [0, 2**32).
    """

    models: tuple[str, ...] = Field(default_factory=registry.default_models,
                                    description="stage-1 models (names of qmtl_research.volatility.registry)")
    validated_model: str = Field(names.GARCH_LSTM, description="the model under validation: the forecast tables test "
                                                            "every other model against it (Diebold-Mariano)")
    split: Literal["walk_forward", "kfold"] = Field(
        "walk_forward", description="the design whose numbers are the verdict's (table2, summary): "
                                    "walk_forward (default) or the paper's kfold (K-fold CV)")
    test_start: str | None = Field(
        None, description="walk-forward: first forecast origin (YYYY-MM-DD, a week of the panel); None = "
                          "data-relative: the first week by which test_start_share of the funds have "
                          "garch.min_train_obs returns")
    test_start_share: float = Field(0.5, gt=0.0, le=1.0,
                                    description="share of funds with a full training history at the default test start")
    refit: Literal["yearly", "weekly"] = Field("yearly", description="walk-forward refit cadence")
    lstm_retrain: Literal["refit", "yearly"] = Field(
        "refit", description="walk-forward: retrain the LSTMs at every refit date (refit) or only at the yearly "
                             "refit dates (yearly), the latest weights forecasting the origins between")
    challenger_refit: Literal["refit", "yearly"] = Field(
        "refit", description="walk-forward: re-estimate the per-fund challengers (series models) at every refit "
                             "date (refit) or only at the yearly refit dates (yearly), each estimation filtering "
                             "the returns up to every origin until the next")
    cv: bool = Field(True, description="also run the paper's K-fold CV (for the design comparison)")
    folds: int = Field(4, ge=2, description="cv: number of folds (the paper uses 4)")
    window: int = Field(TARGET_WINDOW, ge=2, description="weeks in the 1-month target and in the input window")
    horizon: int = Field(TARGET_WINDOW, ge=1, description="output steps t..t+horizon-1; the last one is evaluated")
    high_vol: HighVolRegime = Field(default_factory=HighVolRegime)
    mcs_size: float = Field(0.10, gt=0.0, lt=1.0, description="model confidence set: test size")
    mcs_reps: int = Field(1000, ge=100, description="model confidence set: bootstrap replications")
    garch: GarchConfig = Field(default_factory=GarchConfig)
    lstm: LSTMConfig = Field(default_factory=LSTMConfig)
    seed: int = Field(42, ge=0, lt=2**32, description="seed of the LSTMs and the subsampling "
                                                       "(numpy and keras take seeds in [0, 2**32))")

    @field_validator("test_start")
    @classmethod
    def _date(cls, value):
        if value is None:
            return value
        try:
            pd.Timestamp(value)
        except ValueError:
            raise ValueError(f"test_start {value!r} is not a date; use YYYY-MM-DD or leave it empty "
                             "(data-relative default)") from None
        return value

    @model_validator(mode="after")
    def _check(self):
        if not self.models:
            raise ValueError("models must name at least one of " + ", ".join(registry.names()))
        unknown = [m for m in self.models if m not in registry.names()]
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; registered: {', '.join(registry.names())}")
        if len(set(self.models)) != len(self.models):
            raise ValueError("models are listed twice")
        if self.horizon != self.window:
            raise ValueError("horizon must equal window: the GARCH 1-month forecast covers "
                             "exactly the last output's window")
        if self.split == "kfold" and not self.cv:
            raise ValueError("split='kfold' needs cv=True")
        return self
