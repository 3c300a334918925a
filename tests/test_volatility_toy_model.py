"""A new stage-1 model is one class and one registry line: a toy model registered here (nowhere
else) runs through the walk-forward, the K-fold CV, the DM tests, the model confidence set, the
challenger table and the stage-2 look-up."""
import math

import numpy as np
import pandas as pd
import pytest

from qmtl_research.data.synthetic import make_synthetic_universe
from qmtl_research.volatility import ModelSpec, Stage1Config, forecasts_for, register, run_stage1, unregister
from qmtl_research.volatility.evaluation import c4


class TrainingStdVolatility:
    """Toy: every week's variance is the sample variance of the training returns (ddof=1)."""

    min_obs = 20

    def fit(self, returns):
        self.var_ = float(np.var(returns, ddof=1))
        self.n_ = len(returns)
        return self

    def forecast_variance(self, returns, horizon):
        return np.full((len(returns) + 1, horizon), self.var_)

    def diagnostics(self):
        return {"params": {"variance": self.var_}, "loglik": float("nan"), "n_obs": self.n_, "flags": ""}


@pytest.fixture(scope="module")
def toy():
    spec = register(ModelSpec("Toy", "series", lambda config, warm_start=False: TrainingStdVolatility(),
                              "training-sample std", default=False))
    yield spec
    unregister("Toy")


@pytest.fixture(scope="module")
def result(toy):
    panel = make_synthetic_universe(n_funds=6, seed=20230831)
    cfg = Stage1Config(models=("GARCH", "Naive", "Toy"), validated_model="Toy", cv=True, seed=1, mcs_reps=200)
    return panel, run_stage1(panel, cfg, progress=False)


def test_toy_is_not_a_default_but_a_valid_model(toy):
    assert "Toy" not in Stage1Config().models
    assert Stage1Config(models=("Toy",)).models == ("Toy",)


def test_toy_walk_forward_forecasts_are_the_training_std(result):
    panel, res = result
    fc = res.forecasts
    assert "Toy" in fc.columns and fc["Toy"].notna().any()
    for (fund, fit_date), grp in fc.dropna(subset=["Toy"]).groupby(["fund_id", "garch_fit_date"]):
        r = panel.returns[fund]
        train = r.loc[r.index < fit_date].dropna()
        want = c4(4) * train.std(ddof=1) * math.sqrt(52) * 100
        np.testing.assert_allclose(grp["Toy"].to_numpy(), want, rtol=1e-9)
    fits = res.series_fits.loc[res.series_fits["model"] == "Toy"]
    assert len(fits) == fc.dropna(subset=["Toy"]).groupby(["fund_id", "garch_fit_date"]).ngroups
    # the stage-2 look-up answers for it
    row = fc.dropna(subset=["Toy"]).iloc[0]
    got = forecasts_for(fc, "Toy", pd.DataFrame({"fund_id": [row["fund_id"]], "prediction_date": [row["info_date"]]}))
    assert got["forecast_vol_pct"].iloc[0] == row["Toy"]


def test_toy_in_cv_dm_mcs_and_the_challenger_table(result):
    _, res = result
    assert res.cv_predictions["Toy"].notna().all() and len(res.cv_predictions)
    dm = res.tables["dm_tests"]
    assert ((dm["model_a"] == "Toy") | (dm["model_b"] == "Toy")).sum() == 2 * 2       # 2 pairs x 2 losses
    assert set(res.tables["mcs"]["model"]) == {"GARCH", "Naive", "Toy"}
    comp = res.tables["challengers"].set_index("model")
    assert comp.at["Toy", "role"] == "under validation" and comp.at["Toy", "kind"] == "series"
    best = min(("GARCH", "Naive"), key=lambda m: res.tables["table2"].at[m, "RMSE"])
    assert res.summary["best_challenger"] == best and comp.at[best, "role"] == "best challenger"
    pair = dm.loc[(dm["loss"] == "MSE") & (dm["model_a"] == "GARCH") & (dm["model_b"] == "Toy")].iloc[0]
    assert comp.at["GARCH", "dm_mse"] == pair["dm_stat"] and np.isfinite(pair["dm_stat"])
