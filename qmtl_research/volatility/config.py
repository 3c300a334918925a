"""Stage-1 settings, validated with pydantic (constructor-only hyper-parameters)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MODEL_NAMES = ("GARCH", "LSTM", "GARCH-LSTM", "Naive")
ModelName = Literal["GARCH", "LSTM", "GARCH-LSTM", "Naive"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GarchConfig(_Strict):
    """GARCH(1,1) per fund, fitted with ``arch``."""

    mean: Literal["Constant", "Zero"] = Field("Constant", description="arch mean model")
    dist: Literal["normal", "t", "skewt", "ged"] = Field("normal", description="arch error distribution")
    refit_every: int | None = Field(
        None, ge=1, description="walk-forward only: re-estimate every N weeks of the test period on an "
                                "expanding window (None = estimate once on the training period)")
    min_train_obs: int = Field(104, ge=75, description="weekly returns a fund needs in its estimation sample "
                                                       "(>= 75 so arch's variance backcast uses training data only)")
    late_start: bool = Field(
        True, description="walk-forward: a fund with fewer than min_train_obs training returns is estimated once it "
                          "has min_train_obs returns (expanding window); its earlier origins get no forecast")
    n_jobs: int = Field(1, ge=1, description="parallel workers across funds")
    backend: Literal["loky", "threading", "dask"] = Field(
        "loky", description="joblib backend; 'dask' uses the current dask.distributed Client or starts a local one")


class LSTMConfig(_Strict):
    """Keras LSTM on windows t-4..t-1 -> outputs t..t+3, pooled across funds."""

    layers: int = Field(1, ge=1, le=4)
    units: int = Field(32, ge=1)
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(256, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    patience: int | None = Field(5, ge=1, description="early stopping patience (None = no early stopping)")
    validation_fraction: float = Field(0.1, ge=0.0, lt=0.5,
                                       description="latest share of training samples held out for early stopping")
    log_transform: bool = Field(False, description="model log1p(vol %) instead of vol %; off by default because "
                                                   "the back-transformed mean of logs under-predicts (higher MSE)")


class Stage1Config(_Strict):
    """Everything that determines a stage-1 run (with the panel and the seed)."""

    models: tuple[ModelName, ...] = MODEL_NAMES
    split: Literal["walk_forward", "cv"] = Field(
        "walk_forward", description="walk_forward: train strictly before test_start, test after (verdict default); "
                                    "cv: the paper's K-fold cross-validation over contiguous time blocks")
    test_start: str = Field("2020-01-03", description="walk_forward: first forecast origin of the test period")
    folds: int = Field(4, ge=2, description="cv: number of folds (the paper uses 4)")
    window: int = Field(4, ge=2, description="weeks in the 1-month target and in the input window")
    horizon: int = Field(4, ge=1, description="output steps t..t+horizon-1; the last one is evaluated")
    garch: GarchConfig = Field(default_factory=GarchConfig)
    lstm: LSTMConfig = Field(default_factory=LSTMConfig)
    seed: int = 42

    @model_validator(mode="after")
    def _check(self):
        if not self.models:
            raise ValueError("models must name at least one of " + ", ".join(MODEL_NAMES))
        if len(set(self.models)) != len(self.models):
            raise ValueError("models are listed twice")
        if self.split == "cv" and self.garch.refit_every is not None:
            raise ValueError("garch.refit_every applies to split='walk_forward' only")
        if self.horizon != self.window:
            raise ValueError("horizon must equal window: the GARCH 1-month forecast covers "
                             "exactly the last output's window")
        return self
