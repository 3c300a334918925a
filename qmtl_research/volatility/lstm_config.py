"""The LSTM hyper-parameters of stage 1: declared once, here, with their defaults.

:class:`~qmtl_research.volatility.config.Stage1Config` holds an :class:`LSTMConfig`, and the
estimators of :mod:`qmtl_research.volatility.models` take their constructor defaults from it
(:func:`lstm_default`), so a default is written in one place. The module imports nothing of
the stage (the estimators import it; the registry that builds them imports the config).
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LSTMConfig(BaseModel):
    """Keras LSTM on windows t-4..t-1 -> outputs t..t+3, pooled across funds.

    Windows and outputs are weeks; the target is realised 1-month volatility in annualised
    percent (17.86 = 17.86 % a year), or its ``log1p`` with ``log_transform``.

    Attributes
    ----------
    layers : int
        Stacked LSTM layers (1 to 4).
    units : int
        Units per LSTM layer.
    epochs : int
        Epochs of a cold (first) fit.
    batch_size : int
        Samples per gradient step.
    learning_rate : float
        Optimiser learning rate (> 0).
    patience : int or None
        Early-stopping patience in epochs (``None`` = no early stopping).
    validation_fraction : float
        Latest share of training samples held out for early stopping, a fraction in [0, 0.5).
    max_validation_samples : int
        Cap on the held-out samples.
    warm_epochs : int
        Walk-forward refits: epochs from the previous weights.
    warm_replay : float
        A warm refit trains on the samples new since the previous fit plus this many times as
        many older ones, drawn at random (seeded).
    warm_max_samples : int
        Cap on the samples of one warm epoch.
    log_transform : bool
        Model ``log1p(vol %)`` instead of vol %; off by default because the back-transformed
        mean of logs under-predicts (higher MSE).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    layers: int = Field(1, ge=1, le=4)
    units: int = Field(32, ge=1)
    epochs: int = Field(30, ge=1, description="epochs of a cold (first) fit")
    batch_size: int = Field(256, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    patience: int | None = Field(5, ge=1, description="early stopping patience (None = no early stopping)")
    validation_fraction: float = Field(0.1, ge=0.0, lt=0.5,
                                       description="latest share of training samples held out for early stopping")
    max_validation_samples: int = Field(20_000, ge=1, description="cap on the held-out samples")
    warm_epochs: int = Field(5, ge=1, description="walk-forward refits: epochs from the previous weights")
    warm_replay: float = Field(3.0, ge=0.0,
                               description="a warm refit trains on the samples new since the previous fit plus "
                                           "this many times as many older ones, drawn at random (seeded)")
    warm_max_samples: int = Field(100_000, ge=1, description="cap on the samples of one warm epoch")
    log_transform: bool = Field(False, description="model log1p(vol %) instead of vol %; off by default because "
                                                   "the back-transformed mean of logs under-predicts (higher MSE)")


def lstm_default(name: str):
    """The default of one LSTM hyper-parameter (a field of :class:`LSTMConfig`).

    Parameters
    ----------
    name : str
        Field name, e.g. ``"epochs"``, ``"units"``, ``"learning_rate"``.

    Returns
    -------
    object
        The field's default.
    """
    return LSTMConfig.model_fields[name].get_default(call_default_factory=True)
