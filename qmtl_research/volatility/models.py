"""Stage-1 models behind one scikit-learn-style interface.

Every model takes the sample table of :func:`~qmtl_research.volatility.samples.build_samples`
as ``X`` (a DataFrame, one row per fund and forecast origin) and predicts the
evaluated target ``y`` = the 1-month annualised vol (%) of weeks ``t..t+3``:

* ``fit(X, y)`` with ``y`` either that target (1-D) or the 4-step output path
  ``y_t+0..y_t+3`` (2-D, as in the paper; the LSTMs learn all steps);
* ``predict(X)`` -> 1-D array of forecasts of ``y`` (%, non-negative);
* ``score(X, y)`` -> ``-RMSE`` of the evaluated target (greater is better, so
  ``GridSearchCV`` / ``cross_val_score`` can use it directly).

Hyper-parameters are constructor arguments only (``get_params``/``set_params``
and ``sklearn.base.clone`` work).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from qmtl_research.errors import InputError
from qmtl_research.volatility.samples import r_columns, sigma_columns


def _evaluated(y) -> np.ndarray:
    arr = np.asarray(y, dtype=float)
    return arr[:, -1] if arr.ndim == 2 else arr


def _require(X: pd.DataFrame, columns: list[str], model: str) -> None:
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise InputError(f"{model}: sample table lacks columns {missing}",
                         where="X passed to fit/predict",
                         fix="build X with qmtl_research.volatility.samples.build_samples")
    bad = X[columns].isna().any(axis=1)
    if bad.any():
        raise InputError(f"{model}: {int(bad.sum())} sample(s) have missing inputs in {columns}",
                         where=f"first at fund {X.loc[bad, 'fund_id'].iloc[0] if 'fund_id' in X else '?'}",
                         fix="select complete rows (the pipeline keeps only rows every model can use)")


class _VolatilityModel(RegressorMixin, BaseEstimator):
    def score(self, X, y, sample_weight=None) -> float:
        """``-RMSE`` (percentage points of annualised vol) of the evaluated target."""
        err = _evaluated(y) - self.predict(X)
        w = None if sample_weight is None else np.asarray(sample_weight, float)
        return -float(np.sqrt(np.average(err ** 2, weights=w)))


class NaiveVolatility(_VolatilityModel):
    """Naive challenger: next month's vol = the last observed 1-month vol (``sigma_t-1``).

    It has no parameters to learn; ``fit`` only checks the inputs.
    """

    def __init__(self, window: int = 4):
        self.window = window

    def fit(self, X: pd.DataFrame, y=None):
        _require(X, sigma_columns(self.window)[-1:], "Naive")
        self.n_features_in_ = 1
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        col = sigma_columns(self.window)[-1]
        _require(X, [col], "Naive")
        return X[col].to_numpy(dtype=float)


class GarchVolatility(_VolatilityModel):
    """GARCH(1,1) 1-month forecast (column ``garch_1m``).

    The GARCH parameters are estimated per fund by
    :func:`~qmtl_research.volatility.garch.fit_garch_panel` on the training
    period of the split (a per-fund time-series fit, not a pooled
    cross-sectional one), and the forecasts for every origin are computed with
    those fixed parameters from data up to ``t-1``. This estimator exposes them
    through the common interface; ``fit`` checks the forecasts exist and
    records their in-sample RMSE.
    """

    def fit(self, X: pd.DataFrame, y=None):
        _require(X, ["garch_1m"], "GARCH")
        self.n_features_in_ = 1
        if y is not None:
            self.train_rmse_ = float(np.sqrt(np.mean((_evaluated(y) - X["garch_1m"].to_numpy(float)) ** 2)))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        _require(X, ["garch_1m"], "GARCH")
        return X["garch_1m"].to_numpy(dtype=float)


class LSTMVolatility(_VolatilityModel):
    """Keras LSTM on windows ``t-4..t-1`` -> outputs ``t..t+3``, pooled across funds.

    Parameters
    ----------
    features:
        ``("sigma",)`` = LSTM on the realised-vol target; ``("sigma", "r")`` =
        GARCH-LSTM (target and GARCH conditional vol ``r``) as in the paper's Fig. 4.
    window, horizon:
        Input time steps and output steps (4 and 4 in the paper).
    layers, units:
        Stacked LSTM layers and units per layer; a Dense layer maps to the outputs.
    epochs, batch_size, learning_rate:
        Adam training settings (MSE loss on the scaled outputs).
    patience:
        Early-stopping patience on the validation loss (None = off).
    validation_fraction:
        The latest share of training rows (rows are sorted by origin) used for
        early stopping; 0 = none.
    log_transform:
        Model ``log1p(vol %)``; inputs and outputs are then standardised with
        means/stds fitted on the training rows only.
    seed:
        ``keras.utils.set_random_seed(seed)`` before building and training:
        same data + seed -> identical numbers.
    """

    def __init__(self, features: tuple[str, ...] = ("sigma",), window: int = 4, horizon: int = 4,
                 layers: int = 1, units: int = 32, epochs: int = 30, batch_size: int = 256,
                 learning_rate: float = 1e-3, patience: int | None = 5, validation_fraction: float = 0.1,
                 log_transform: bool = False, seed: int = 42, verbose: int = 0):
        self.features = features
        self.window = window
        self.horizon = horizon
        self.layers = layers
        self.units = units
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.log_transform = log_transform
        self.seed = seed
        self.verbose = verbose

    # ------------------------------------------------------------ helpers
    def _columns(self) -> list[list[str]]:
        known = {"sigma": sigma_columns(self.window), "r": r_columns(self.window)}
        unknown = [f for f in self.features if f not in known]
        if unknown:
            raise InputError(f"unknown LSTM feature(s) {unknown}", where="LSTMVolatility(features=...)",
                             fix="use 'sigma' and/or 'r'")
        return [known[f] for f in self.features]

    def _fwd(self, a: np.ndarray) -> np.ndarray:
        return np.log1p(np.maximum(a, 0.0)) if self.log_transform else a

    def _inv(self, a: np.ndarray) -> np.ndarray:
        return np.maximum(np.expm1(a) if self.log_transform else a, 0.0)

    def _inputs(self, X: pd.DataFrame) -> np.ndarray:
        cols = self._columns()
        for c in cols:
            _require(X, c, self._name())
        # (n, window, n_features)
        return np.stack([self._fwd(X[c].to_numpy(dtype=float)) for c in cols], axis=-1)

    def _name(self) -> str:
        return "GARCH-LSTM" if "r" in self.features else "LSTM"

    def _build(self, n_features: int):
        import keras

        model = keras.Sequential(name=self._name().replace("-", "_"))
        model.add(keras.Input(shape=(self.window, n_features)))
        for i in range(self.layers):
            model.add(keras.layers.LSTM(self.units, return_sequences=i < self.layers - 1))
        model.add(keras.layers.Dense(self.horizon))
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=self.learning_rate), loss="mse")
        return model

    # ---------------------------------------------------------------- API
    def fit(self, X: pd.DataFrame, y):
        import keras

        Xa = self._inputs(X)
        Y = np.asarray(y, dtype=float)
        if Y.ndim == 1:
            Y = np.repeat(Y[:, None], self.horizon, axis=1)  # single target: learn it on every step
        if Y.shape != (len(X), self.horizon):
            raise InputError(f"{self._name()}: y has shape {Y.shape}, expected ({len(X)}, {self.horizon})",
                             where="fit(X, y)", fix="pass the output path y_t+0..y_t+3 or the 1-D target")
        if not np.isfinite(Y).all():
            raise InputError(f"{self._name()}: y has missing values", where="fit(X, y)",
                             fix="train on complete rows")
        Yt = self._fwd(Y)
        self.x_mean_ = Xa.reshape(-1, Xa.shape[-1]).mean(axis=0)
        self.x_std_ = Xa.reshape(-1, Xa.shape[-1]).std(axis=0) + 1e-8
        self.y_mean_, self.y_std_ = float(Yt.mean()), float(Yt.std()) + 1e-8
        xs = ((Xa - self.x_mean_) / self.x_std_).astype("float32")
        ys = ((Yt - self.y_mean_) / self.y_std_).astype("float32")

        keras.utils.set_random_seed(self.seed)
        model = self._build(Xa.shape[-1])
        callbacks = []
        use_val = self.validation_fraction > 0 and len(xs) * self.validation_fraction >= 1
        if self.patience is not None and use_val:
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=self.patience,
                                                           restore_best_weights=True))
        history = model.fit(xs, ys, epochs=self.epochs, batch_size=self.batch_size, shuffle=True,
                            validation_split=self.validation_fraction if use_val else 0.0,
                            callbacks=callbacks, verbose=self.verbose)
        self.model_ = model
        self.history_ = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        self.epochs_run_ = len(self.history_.get("loss", []))
        self.n_features_in_ = Xa.shape[-1]
        return self

    def predict_path(self, X: pd.DataFrame) -> np.ndarray:
        """All output steps ``t..t+horizon-1`` (n, horizon), vol in %."""
        check_is_fitted(self, "model_")
        xs = ((self._inputs(X) - self.x_mean_) / self.x_std_).astype("float32")
        out = np.asarray(self.model_.predict(xs, batch_size=4096, verbose=0), dtype=float)
        return self._inv(out * self.y_std_ + self.y_mean_)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.predict_path(X)[:, -1]


class GarchLSTMVolatility(LSTMVolatility):
    """GARCH(1,1)-LSTM hybrid: the LSTM fed with (target, GARCH conditional vol ``r``)."""

    def __init__(self, features: tuple[str, ...] = ("sigma", "r"), window: int = 4, horizon: int = 4,
                 layers: int = 1, units: int = 32, epochs: int = 30, batch_size: int = 256,
                 learning_rate: float = 1e-3, patience: int | None = 5, validation_fraction: float = 0.1,
                 log_transform: bool = False, seed: int = 42, verbose: int = 0):
        super().__init__(features=features, window=window, horizon=horizon, layers=layers, units=units,
                         epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience,
                         validation_fraction=validation_fraction, log_transform=log_transform, seed=seed,
                         verbose=verbose)


def make_model(name: str, config) -> _VolatilityModel:
    """The estimator for a model name of :data:`~qmtl_research.volatility.config.MODEL_NAMES`,
    with hyper-parameters from a :class:`~qmtl_research.volatility.config.Stage1Config`."""
    if name == "Naive":
        return NaiveVolatility(window=config.window)
    if name == "GARCH":
        return GarchVolatility()
    lstm = dict(config.lstm.model_dump(), window=config.window, horizon=config.horizon, seed=config.seed)
    if name == "LSTM":
        return LSTMVolatility(features=("sigma",), **lstm)
    if name == "GARCH-LSTM":
        return GarchLSTMVolatility(**lstm)
    raise InputError(f"unknown stage-1 model {name!r}", where="models",
                     fix="use GARCH, LSTM, GARCH-LSTM or Naive")
