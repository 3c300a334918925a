"""Stage-1 models behind one scikit-learn-style interface.

The pooled models (LSTM, GARCH-LSTM, Naive) take the sample table of
:func:`~qmtl_research.volatility.samples.build_samples` as ``X`` (a DataFrame, one
row per fund and forecast origin) and predict the evaluated target ``y`` = the 1-month
annualised vol (%) of weeks ``t..t+3``:

* ``fit(X, y)`` with ``y`` either that target (1-D) or the 4-step output path
  ``y_t+0..y_t+3`` (2-D, as in the paper; the LSTMs learn all steps);
* ``predict(X)`` -> 1-D array of forecasts of ``y`` (%, non-negative);
* ``score(X, y)`` -> ``-RMSE`` of the evaluated target (greater is better, so
  ``GridSearchCV`` / ``cross_val_score`` can use it directly).

GARCH(1,1) is a per-fund time-series model: :class:`~qmtl_research.volatility.garch.GarchVolatility`
takes the returns panel as ``X`` (``registry.make_model("GARCH", config)`` builds it; every
model is built through :mod:`.registry`).

Hyper-parameters are constructor arguments only (``get_params``/``set_params`` and
``sklearn.base.clone`` work). ``warm_start=True`` (as in scikit-learn) makes a new
``fit`` continue from the fitted weights: ``warm_epochs`` epochs over the samples that
are new since the previous fit (later origins) plus ``warm_replay`` times as many older
ones drawn at random. The fitted weights live in the estimator (``weights_``); the
compiled Keras network is shared per architecture within the process, so refits and
cross-validation folds do not recompile.

Over 400 lines because the three pooled estimators share one Keras network cache, one training
loop (warm starts, replay, early stopping) and one scaling; splitting them would export those
private helpers across modules.
"""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from qmtl_research.errors import InputError
from qmtl_research.volatility.lstm_config import LSTMConfig
from qmtl_research.volatility import names
from qmtl_research.volatility.samples import r_columns, sigma_columns
from qmtl_research.volatility.targets import TARGET_WINDOW

#: the hyper-parameter defaults, declared once on :class:`LSTMConfig` (the estimators' signatures read them)
_LSTM = LSTMConfig()

PREDICT_BATCH = 1024          # fixed prediction batch (one compiled shape)
_NETWORKS: dict[tuple, object] = {}


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
        """``-RMSE`` of the forecasts against the evaluated target (higher is better, as sklearn scores).

        Parameters
        ----------
        X : DataFrame
            The stage-1 sample table (:func:`~qmtl_research.volatility.samples.build_samples`), one row per
            fund and forecast origin.
        y : array-like
            The realised 1-month annualised vol (%) of each row (the evaluated target).
        sample_weight : array-like, optional
            Weight of each row in the mean squared error.

        Returns
        -------
        float
            Minus the (weighted) root mean squared error, in percentage points of annualised vol.
        """
        err = _evaluated(y) - self.predict(X)
        w = None if sample_weight is None else np.asarray(sample_weight, float)
        return -float(np.sqrt(np.average(err ** 2, weights=w)))


class NaiveVolatility(_VolatilityModel):
    """Naive challenger: next month's vol = the last observed 1-month vol (``sigma_t-1``).

    It has no parameters to learn; ``fit`` only checks the inputs.

    Parameters
    ----------
    window : int
        One-month vols in a sample row (the last, ``sigma_t-1``, is the forecast).
    """

    def __init__(self, window: int = TARGET_WINDOW):
        self.window = window

    def fit(self, X: pd.DataFrame, y=None):
        """Check the inputs (nothing is learned).

        Parameters
        ----------
        X : DataFrame
            The stage-1 sample table (:func:`~qmtl_research.volatility.samples.build_samples`), one row per
            fund and forecast origin.
        y : ignored

        Returns
        -------
        NaiveVolatility
            ``self``.
        """
        _require(X, sigma_columns(self.window)[-1:], names.NAIVE)
        self.n_features_in_ = 1
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The last observed 1-month vol of each row.

        Parameters
        ----------
        X : DataFrame
            The stage-1 sample table (:func:`~qmtl_research.volatility.samples.build_samples`), one row per
            fund and forecast origin.

        Returns
        -------
        ndarray
            Forecasts of the 1-month annualised vol (%).
        """
        check_is_fitted(self, "n_features_in_")
        col = sigma_columns(self.window)[-1]
        _require(X, [col], names.NAIVE)
        return X[col].to_numpy(dtype=float)


def _enable_compilation_cache() -> None:
    """JAX backend: the project's persistent compilation cache
    (:func:`~qmtl_research.volatility.compilation.enable_jax_compilation_cache`)."""
    import keras

    if keras.backend.backend() == "jax":
        from qmtl_research.volatility.compilation import enable_jax_compilation_cache

        enable_jax_compilation_cache()


def _network(name: str, window: int, n_features: int, horizon: int, layers: int, units: int,
             learning_rate: float):
    """The compiled Keras network for an architecture (built once per process)."""
    import keras

    _enable_compilation_cache()
    key = (name, window, n_features, horizon, layers, units, float(learning_rate))
    if key not in _NETWORKS:
        model = _build(name, window, n_features, horizon, layers, units)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
        _NETWORKS[key] = model
    return _NETWORKS[key]


@functools.cache
def _placeholder():
    """An initializer that returns NumPy zeros: building the network compiles no XLA
    initialisation programs (the weights are set by :func:`_initial_weights` before every fit)."""
    import keras

    class Placeholder(keras.initializers.Initializer):
        def __call__(self, shape, dtype=None):
            return np.zeros(shape, dtype="float32")

    return Placeholder()


def _build(name: str, window: int, n_features: int, horizon: int, layers: int, units: int):
    import keras

    init = dict(kernel_initializer=_placeholder(), bias_initializer=_placeholder())
    model = keras.Sequential(name=name.replace("-", "_"))
    model.add(keras.Input(shape=(window, n_features)))
    for i in range(layers):
        model.add(keras.layers.LSTM(units, return_sequences=i < layers - 1, recurrent_initializer=_placeholder(),
                                    unit_forget_bias=False, **init))
    model.add(keras.layers.Dense(horizon, **init))
    return model


def _initial_weights(model, seed: int) -> list[np.ndarray]:
    """Seeded initial weights with Keras' default distributions, drawn with NumPy (no XLA
    compilation per fit): kernels Glorot-uniform, recurrent kernels orthogonal, LSTM biases 0
    with the forget gate at 1 (``unit_forget_bias``), other biases 0."""
    rng = np.random.default_rng([seed, 20230831])
    out = []
    for layer in model.layers:
        is_lstm = "lstm" in type(layer).__name__.lower()
        for v in layer.weights:
            shape = tuple(v.shape)
            name = v.path.rsplit("/", 1)[-1]
            if name == "recurrent_kernel":
                rows, cols = shape
                a = rng.standard_normal((max(rows, cols), min(rows, cols)))
                q, r = np.linalg.qr(a)
                q = q * np.sign(np.diag(r))
                out.append((q if rows >= cols else q.T).reshape(shape).astype("float32"))
            elif name == "kernel":
                limit = np.sqrt(6.0 / (shape[0] + shape[-1]))
                out.append(rng.uniform(-limit, limit, size=shape).astype("float32"))
            elif name == "bias" and is_lstm:
                units = shape[0] // 4
                b = np.zeros(shape, dtype="float32")
                b[units:2 * units] = 1.0
                out.append(b)
            else:
                out.append(np.zeros(shape, dtype="float32"))
    return out


def _weights(model) -> list[np.ndarray]:
    """Copies of the network's weights as NumPy arrays (``get_weights`` order)."""
    return [np.array(v.value, copy=True) for v in model.weights]


def _reset_optimizer(model) -> None:
    """Adam from scratch (iteration 0, zero moments), keeping the compiled train step."""
    opt = model.optimizer
    if not opt.built:
        return
    lr_var = getattr(opt, "_learning_rate", None)
    for v in opt.variables:
        if lr_var is not None and v is lr_var:
            continue
        v.assign(np.zeros(v.shape, dtype=v.dtype))


def _predict_scaled(model, xs: np.ndarray) -> np.ndarray:
    """Network outputs in fixed-size batches (one compiled shape), padding the last."""
    n = len(xs)
    if n == 0:
        return np.empty((0, model.output_shape[-1]))
    k = -(-n // PREDICT_BATCH)
    pad = np.zeros((k * PREDICT_BATCH,) + xs.shape[1:], dtype="float32")
    pad[:n] = xs
    out = [np.asarray(model.predict_on_batch(pad[i * PREDICT_BATCH:(i + 1) * PREDICT_BATCH])) for i in range(k)]
    return np.concatenate(out)[:n].astype(float)


@functools.cache
def _batch_class():
    """A keras ``PyDataset`` of full training batches, a seeded permutation per epoch (defined
    lazily: keras is imported only when an LSTM is fitted)."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self, x, y, batch_size, rng):
            super().__init__()
            self.x, self.y, self.rng = x, y, rng
            self.batch_size = min(batch_size, len(x))
            self.steps = len(x) // self.batch_size
            self.on_epoch_end()

        def __len__(self):
            return self.steps

        def __getitem__(self, i):
            sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
            return self.xp[sl], self.yp[sl]

        def on_epoch_end(self):
            order = self.rng.permutation(len(self.x))          # one gather per epoch, batches are slices
            self.xp, self.yp = self.x[order], self.y[order]

    return Batches


@functools.cache
def _stopping_class():
    """Validation MSE after each epoch (fixed-shape predictions), patience, best weights."""
    import keras

    class EarlyStopping(keras.callbacks.Callback):
        def __init__(self, xv, yv, patience):
            super().__init__()
            self.xv, self.yv, self.patience = xv, yv, patience
            self.best, self.wait, self.best_weights, self.losses = np.inf, 0, None, []

        def on_epoch_end(self, epoch, logs=None):
            loss = float(np.mean((_predict_scaled(self.model, self.xv) - self.yv) ** 2))
            self.losses.append(loss)
            if logs is not None:
                logs["val_loss"] = loss
            if loss < self.best:
                self.best, self.wait = loss, 0
                self.best_weights = _weights(self.model)
            else:
                self.wait += 1
                if self.patience is not None and self.wait >= self.patience:
                    self.model.stop_training = True

    return EarlyStopping


class LSTMVolatility(_VolatilityModel):
    """Keras LSTM on windows ``t-4..t-1`` -> outputs ``t..t+3``, pooled across funds.

    Every hyper-parameter's default is that of
    :class:`~qmtl_research.volatility.lstm_config.LSTMConfig` (declared there only).

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
        Adam training settings (MSE loss on the standardised outputs); ``epochs`` of a
        cold fit. Batches are full (``batch_size`` rows of a seeded permutation per epoch).
    patience:
        Early-stopping patience on the validation loss (None = off); the best epoch's
        weights are kept.
    validation_fraction, max_validation_samples:
        The latest share of training rows (by origin), at most ``max_validation_samples``,
        held out for early stopping; 0 = none.
    warm_start, warm_epochs, warm_replay, warm_max_samples:
        See the module docstring. Input/output standardisation stays that of the cold fit; the
        held-out rows of a warm fit are the latest ones, ``validation_fraction`` of its sample.
    log_transform:
        Model ``log1p(vol %)``; inputs and outputs are then standardised with
        means/stds fitted on the training rows only.
    seed:
        ``keras.utils.set_random_seed(seed)`` before initialising the weights, and the
        seed of the batch order: same data + seed -> identical numbers.
    """

    def __init__(self, features: tuple[str, ...] = ("sigma",), window: int = TARGET_WINDOW,
                 horizon: int = TARGET_WINDOW, layers: int = _LSTM.layers, units: int = _LSTM.units,
                 epochs: int = _LSTM.epochs, batch_size: int = _LSTM.batch_size,
                 learning_rate: float = _LSTM.learning_rate, patience: int | None = _LSTM.patience,
                 validation_fraction: float = _LSTM.validation_fraction,
                 max_validation_samples: int = _LSTM.max_validation_samples, warm_start: bool = False,
                 warm_epochs: int = _LSTM.warm_epochs, warm_replay: float = _LSTM.warm_replay,
                 warm_max_samples: int = _LSTM.warm_max_samples, log_transform: bool = _LSTM.log_transform,
                 seed: int = 42, verbose: int = 0):
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
        self.max_validation_samples = max_validation_samples
        self.warm_start = warm_start
        self.warm_epochs = warm_epochs
        self.warm_replay = warm_replay
        self.warm_max_samples = warm_max_samples
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
        return np.stack([self._fwd(X[c].to_numpy(dtype=float)) for c in cols], axis=-1)   # (n, window, f)

    def _name(self) -> str:
        return names.GARCH_LSTM if "r" in self.features else names.LSTM

    def _net(self, n_features: int):
        return _network(self._name(), self.window, n_features, self.horizon, self.layers, self.units,
                        self.learning_rate)

    # ---------------------------------------------------------------- API
    def fit(self, X: pd.DataFrame, y):
        """Train the network (continuing from the fitted weights with ``warm_start``).

        Parameters
        ----------
        X : DataFrame
            The stage-1 sample table (:func:`~qmtl_research.volatility.samples.build_samples`), one row per
            fund and forecast origin.
        y : array-like
            The evaluated 1-month target (1-D, %) or the 4-step output path (2-D, %).

        Returns
        -------
        LSTMVolatility
            ``self``.
        """
        import keras

        Y_all = np.asarray(y, dtype=float)
        if Y_all.ndim == 1:
            Y_all = np.repeat(Y_all[:, None], self.horizon, axis=1)  # single target: learn it on every step
        if Y_all.shape != (len(X), self.horizon):
            raise InputError(f"{self._name()}: y has shape {Y_all.shape}, expected ({len(X)}, {self.horizon})",
                             where="fit(X, y)", fix="pass the output path y_t+0..y_t+3 or the 1-D target")
        if len(X) == 0:
            raise InputError(f"{self._name()}: no training samples", where="fit(X, y)",
                             fix="train on a longer history")
        origin = pd.to_datetime(X["origin"]).to_numpy() if "origin" in X else np.arange(len(X))
        order = np.arange(len(X)) if pd.Index(origin).is_monotonic_increasing \
            else np.argsort(origin, kind="stable")
        warm = self.warm_start and hasattr(self, "weights_")
        n = len(order)
        n_val = 0
        if self.patience is not None and self.validation_fraction > 0:
            n_val = min(int(n * self.validation_fraction), self.max_validation_samples)
            n_val = n_val if n_val >= 1 and n - n_val >= 1 else 0
        pool, val_rows = order[: n - n_val], order[n - n_val:]
        rng = np.random.default_rng([self.seed, getattr(self, "n_fits_", 0) if warm else 0])
        epochs = self.epochs
        if warm:
            is_new = origin[pool] > self.last_origin_
            new, old = pool[is_new], pool[~is_new]
            new = new[-self.warm_max_samples:]
            n_old = min(len(old), int(round(self.warm_replay * max(len(new), 1))),
                        max(self.warm_max_samples - len(new), 0))
            pool = np.sort(np.concatenate([new, rng.choice(old, size=n_old, replace=False)]))
            epochs = self.warm_epochs
            # validation in proportion to this fit's sample (the latest rows), not to the whole history
            n_keep = min(len(val_rows), max(1, int(round(len(pool) * self.validation_fraction
                                                          / (1.0 - self.validation_fraction)))))
            val_rows = val_rows[len(val_rows) - n_keep:] if len(val_rows) else val_rows
        if len(pool) == 0:
            raise InputError(f"{self._name()}: no training samples left after holding out the validation rows",
                             where="fit(X, y)", fix="train on more samples or set validation_fraction=0")
        rows = np.concatenate([pool, val_rows])
        Xa = self._inputs(X.iloc[rows])
        Y = Y_all[rows]
        if not np.isfinite(Y).all():
            raise InputError(f"{self._name()}: y has missing values", where="fit(X, y)",
                             fix="train on complete rows")
        Yt = self._fwd(Y)
        if not warm:
            self.x_mean_ = Xa.reshape(-1, Xa.shape[-1]).mean(axis=0)
            self.x_std_ = Xa.reshape(-1, Xa.shape[-1]).std(axis=0) + 1e-8
            self.y_mean_, self.y_std_ = float(Yt.mean()), float(Yt.std()) + 1e-8
            self.n_fits_ = 0
        xs = ((Xa - self.x_mean_) / self.x_std_).astype("float32")
        ys = ((Yt - self.y_mean_) / self.y_std_).astype("float32")
        train_idx = np.arange(len(pool))
        val_idx = np.arange(len(pool), len(rows))

        model = self._net(Xa.shape[-1])
        if warm:
            model.set_weights(self.weights_)
        else:
            keras.utils.set_random_seed(self.seed)
            model.set_weights(_initial_weights(model, self.seed))
        _reset_optimizer(model)
        stopper = _stopping_class()(xs[val_idx], ys[val_idx], self.patience) if n_val else None
        data = _batch_class()(xs[train_idx], ys[train_idx], self.batch_size, rng)
        history = model.fit(data, epochs=epochs, callbacks=[stopper] if stopper else [], verbose=self.verbose,
                            shuffle=False)
        if stopper is not None and stopper.best_weights is not None:
            model.set_weights(stopper.best_weights)
        self.weights_ = _weights(model)
        hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        if stopper is not None:
            hist["val_loss"] = stopper.losses
        self.history_ = hist
        self.epochs_run_ = len(hist.get("loss", []))
        self.n_train_ = int(len(train_idx))
        self.n_features_in_ = Xa.shape[-1]
        self.last_origin_ = origin.max()
        self.n_fits_ += 1
        return self

    def predict_path(self, X: pd.DataFrame) -> np.ndarray:
        """All output steps ``t..t+horizon-1`` (n, horizon), vol in %.

        Parameters
        ----------
        X : DataFrame
            The stage-1 sample table (:func:`~qmtl_research.volatility.samples.build_samples`), one row per
            fund and forecast origin.

        Returns
        -------
        ndarray, shape (n, horizon)
        """
        check_is_fitted(self, "weights_")
        xs = ((self._inputs(X) - self.x_mean_) / self.x_std_).astype("float32")
        model = self._net(xs.shape[-1])
        model.set_weights(self.weights_)
        out = _predict_scaled(model, xs)
        return self._inv(out * self.y_std_ + self.y_mean_)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Forecast of the evaluated target (the last output step).

        Parameters
        ----------
        X : DataFrame
            The stage-1 sample table (:func:`~qmtl_research.volatility.samples.build_samples`), one row per
            fund and forecast origin.

        Returns
        -------
        ndarray
            1-month annualised vol forecasts (%, non-negative).
        """
        return self.predict_path(X)[:, -1]


class GarchLSTMVolatility(LSTMVolatility):
    """GARCH(1,1)-LSTM hybrid: the LSTM fed with (target, GARCH conditional vol ``r``).

    Parameters
    ----------
    features, window, horizon, layers, units, epochs, batch_size, learning_rate, patience,
    validation_fraction, max_validation_samples, warm_start, warm_epochs, warm_replay,
    warm_max_samples, log_transform, seed, verbose
        As :class:`LSTMVolatility`; ``features`` defaults to ``("sigma", "r")``.
    """

    def __init__(self, features: tuple[str, ...] = ("sigma", "r"), window: int = TARGET_WINDOW,
                 horizon: int = TARGET_WINDOW, layers: int = _LSTM.layers, units: int = _LSTM.units,
                 epochs: int = _LSTM.epochs, batch_size: int = _LSTM.batch_size,
                 learning_rate: float = _LSTM.learning_rate, patience: int | None = _LSTM.patience,
                 validation_fraction: float = _LSTM.validation_fraction,
                 max_validation_samples: int = _LSTM.max_validation_samples, warm_start: bool = False,
                 warm_epochs: int = _LSTM.warm_epochs, warm_replay: float = _LSTM.warm_replay,
                 warm_max_samples: int = _LSTM.warm_max_samples, log_transform: bool = _LSTM.log_transform,
                 seed: int = 42, verbose: int = 0):
        super().__init__(features=features, window=window, horizon=horizon, layers=layers, units=units,
                         epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience,
                         validation_fraction=validation_fraction, max_validation_samples=max_validation_samples,
                         warm_start=warm_start, warm_epochs=warm_epochs, warm_replay=warm_replay,
                         warm_max_samples=warm_max_samples, log_transform=log_transform, seed=seed,
                         verbose=verbose)
