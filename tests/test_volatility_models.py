"""Stage-1 estimators: sklearn interface, determinism, training-only scaling, warm starts, naive column."""
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import KFold, cross_val_score

from qmtl_research.errors import InputError
from qmtl_research.volatility import (GarchLSTMVolatility, GarchVolatility, LSTMVolatility, NaiveVolatility,
                                      Stage1Config, build_samples, make_model, realized_vol)
from qmtl_research.volatility.samples import y_columns

TINY = dict(units=4, epochs=3, batch_size=128, patience=None, validation_fraction=0.0)


@pytest.fixture(scope="module")
def samples():
    rng = np.random.default_rng(5)
    dates = pd.date_range("2018-01-05", periods=120, freq="W-FRI")
    vol = np.exp(np.cumsum(rng.normal(0, 0.1, size=(120, 6)), axis=0)) * 0.02
    returns = pd.DataFrame(rng.standard_normal((120, 6)) * vol, index=dates, columns=[f"F{i}" for i in range(6)])
    target = realized_vol(returns)
    r = target.shift(1).ewm(span=6).mean()          # stand-in conditional vol known at t-1
    garch = target.shift(1)
    return build_samples(target, r, garch).dropna().reset_index(drop=True)


def test_samples_are_aligned_with_the_target():
    dates = pd.date_range("2020-01-03", periods=12, freq="W-FRI")
    target = pd.DataFrame({"A": np.arange(12.0)}, index=dates)
    s = build_samples(target, target * 10, target * 100, window=4, horizon=4)
    # origin index 4 (5th week): inputs weeks 0..3, outputs 4..7, evaluated target week 7
    row = s.iloc[0]
    assert row["origin"] == dates[4] and row["date"] == dates[7]
    assert list(row[["sigma_t-4", "sigma_t-3", "sigma_t-2", "sigma_t-1"]]) == [0, 1, 2, 3]
    assert list(row[["r_t-4", "r_t-1"]]) == [0, 30]
    assert row["garch_1m"] == 400 and list(row[y_columns(4)]) == [4, 5, 6, 7] and row["y"] == 7
    assert len(s) == 12 - 8 + 1


@pytest.fixture(scope="module")
def hybrid(samples):
    train = samples.iloc[:200]
    return train, GarchLSTMVolatility(seed=3, **TINY).fit(train, train[y_columns(4)].to_numpy())


def test_same_seed_same_numbers(samples, hybrid):
    train, first = hybrid
    y = train[y_columns(4)].to_numpy()
    again = GarchLSTMVolatility(seed=3, **TINY).fit(train, y)
    other = GarchLSTMVolatility(seed=4, **TINY).fit(train, y)
    assert np.array_equal(first.predict(samples), again.predict(samples))
    assert not np.allclose(first.predict(samples), other.predict(samples))


def test_scaling_uses_training_rows_only(samples, hybrid):
    train, model = hybrid
    sig = train[[f"sigma_t-{k}" for k in (4, 3, 2, 1)]].to_numpy()
    rr = train[[f"r_t-{k}" for k in (4, 3, 2, 1)]].to_numpy()
    assert np.allclose(model.x_mean_, [sig.mean(), rr.mean()])
    assert np.allclose(model.x_std_, [sig.std() + 1e-8, rr.std() + 1e-8])
    assert model.y_mean_ == pytest.approx(train[y_columns(4)].to_numpy().mean())
    assert model.predict_path(samples).shape == (len(samples), 4)
    assert (model.predict(samples) >= 0).all()


def test_sklearn_interface(samples):
    est = GarchLSTMVolatility(units=7, seed=9)
    params = est.get_params()
    assert params["units"] == 7 and params["features"] == ("sigma", "r")
    twin = clone(est).set_params(units=5)
    assert twin.units == 5 and est.units == 7
    y = samples["y"].to_numpy()
    naive = NaiveVolatility()
    scores = cross_val_score(naive, samples, y, cv=KFold(3))
    folds = np.array_split(np.arange(len(samples)), 3)
    expected = [-np.sqrt(np.mean((y[f] - samples["sigma_t-1"].to_numpy()[f]) ** 2)) for f in folds]
    assert np.allclose(scores, expected)
    garch = make_model("GARCH", Stage1Config())
    assert isinstance(garch, GarchVolatility) and garch.get_params()["min_train_obs"] == 104


def test_bad_inputs_are_explained(samples):
    with pytest.raises(InputError, match="lacks columns"):
        NaiveVolatility().fit(samples.drop(columns=["sigma_t-1"]))
    holes = samples.copy()
    holes.loc[3, "r_t-2"] = np.nan
    with pytest.raises(InputError, match="missing inputs"):
        GarchLSTMVolatility(**TINY).fit(holes, holes["y"])
    with pytest.raises(InputError, match="unknown LSTM feature"):
        LSTMVolatility(features=("vix",), **TINY).fit(samples, samples["y"])


def test_warm_start_continues_from_the_fitted_weights(samples):
    first = samples.loc[samples["origin"] < samples["origin"].quantile(0.6)]
    later = samples.loc[samples["origin"] < samples["origin"].quantile(0.8)]
    params = dict(TINY, epochs=4, warm_epochs=2, seed=2)
    warm = LSTMVolatility(warm_start=True, **params).fit(first, first[y_columns(4)].to_numpy())
    w0 = [w.copy() for w in warm.weights_]
    scalers = (warm.x_mean_.copy(), warm.y_mean_)
    warm.fit(later, later[y_columns(4)].to_numpy())
    assert warm.n_fits_ == 2 and warm.epochs_run_ == 2
    # the refit trains on the new rows plus warm_replay x as many older ones
    n_new = int((later["origin"] > first["origin"].max()).sum())
    assert warm.n_train_ == n_new + min(len(first), int(3 * n_new))
    assert any(not np.array_equal(a, b) for a, b in zip(w0, warm.weights_))
    assert np.array_equal(warm.x_mean_, scalers[0]) and warm.y_mean_ == scalers[1]   # cold-fit scaling kept
    again = LSTMVolatility(warm_start=True, **params).fit(first, first[y_columns(4)].to_numpy())
    again.fit(later, later[y_columns(4)].to_numpy())
    assert np.array_equal(warm.predict(samples), again.predict(samples))          # deterministic
    cold = LSTMVolatility(**params).fit(later, later[y_columns(4)].to_numpy())
    assert cold.n_fits_ == 1 and not np.allclose(cold.predict(samples), warm.predict(samples))


def test_fitted_estimators_stay_independent(samples, hybrid):
    """The compiled network is shared per architecture; each estimator keeps its own weights."""
    train, model = hybrid
    before = model.predict(samples)
    GarchLSTMVolatility(seed=99, **TINY).fit(train, train[y_columns(4)].to_numpy())
    assert np.array_equal(before, model.predict(samples))
    import pickle

    restored = pickle.loads(pickle.dumps(model))
    assert np.array_equal(before, restored.predict(samples))
