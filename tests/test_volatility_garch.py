"""GARCH stage: equality with arch's own forecasts, no look-ahead, failures, dask == joblib."""
import math

import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from threadpoolctl import threadpool_limits

from qmtl_research.volatility import GarchConfig, fit_garch_panel
from qmtl_research.volatility.splits import walk_forward_split

DATES = pd.date_range("2016-06-24", periods=300, freq="W-FRI")
TEST_START = DATES[180]


def _panel(n=4, seed=7):
    rng = np.random.default_rng(seed)
    cols = {}
    for i in range(n):
        z = rng.standard_normal(len(DATES) + 200)
        h = np.empty_like(z)
        e = np.empty_like(z)
        h[0] = 2e-5 / (1 - 0.95)
        for t in range(len(z)):
            if t:
                h[t] = 2e-5 + 0.1 * e[t - 1] ** 2 + 0.85 * h[t - 1]
            e[t] = math.sqrt(h[t]) * z[t]
        cols[f"F{i}"] = 0.001 + e[200:] * (1 + i)
    return pd.DataFrame(cols, index=DATES)


def _mask():
    return pd.Series(DATES < TEST_START, index=DATES)


@pytest.fixture(scope="module")
def returns():
    return _panel()


@pytest.fixture(scope="module")
def fitted(returns):
    return fit_garch_panel(returns, _mask(), GarchConfig(), progress=False)


def test_forecasts_equal_arch_own_forecast(returns, fitted):
    x = returns["F1"].to_numpy()
    train = x[: DATES.get_loc(TEST_START)]
    scale = train.std(ddof=1)
    with threadpool_limits(limits=1):   # the package fits with one BLAS thread (bit-identical across backends)
        res = arch_model(train / scale, mean="Constant", vol="GARCH", p=1, q=1, rescale=False).fit(disp="off")
    # estimated parameters are arch's
    got = fitted.params.loc["F1", ["mu", "omega", "alpha[1]", "beta[1]"]].to_numpy(float)
    assert np.allclose(got, res.params.to_numpy(), rtol=1e-10, atol=1e-12)
    # forecast at the first test origin = arch's forecast from the last training week
    v = res.forecast(horizon=4).variance.to_numpy()[-1]
    expected = math.sqrt(v.mean() * scale ** 2 * 52) * 100
    assert fitted.forecast.loc[TEST_START, "F1"] == pytest.approx(expected, rel=1e-9)
    # conditional vol r at week s = sqrt of arch's one-step variance forecast made at s-1
    # (res.forecast recomputes the recursion with the estimated parameters)
    r = fitted.cond_vol["F1"].to_numpy()[1: len(train)]
    h1 = res.forecast(horizon=1, start=0, reindex=False).variance.to_numpy()[:-1, 0]
    assert np.allclose(r, np.sqrt(h1) * scale * math.sqrt(52) * 100, rtol=1e-9)
    # a later origin: arch's forecast, same fixed parameters, from the data up to the week before
    origin = DATES.get_loc(TEST_START) + 37
    later = arch_model(x[:origin] / scale, mean="Constant", vol="GARCH", p=1, q=1,
                       rescale=False).fix(res.params.to_numpy())
    v2 = later.forecast(horizon=4).variance.to_numpy()[-1]
    assert fitted.forecast["F1"].iloc[origin] == pytest.approx(math.sqrt(v2.mean() * scale ** 2 * 52) * 100,
                                                               rel=1e-9)


@pytest.mark.parametrize("refit_every", [None, 13])
def test_no_look_ahead(returns, refit_every):
    split = walk_forward_split(DATES, TEST_START, refit_every=refit_every)
    cfg = GarchConfig(refit_every=refit_every)
    base = fit_garch_panel(returns, split.garch_mask, cfg, split.refit_dates, progress=False)
    cut = DATES.get_loc(TEST_START) + 30            # perturb returns at weeks >= cut
    changed = returns.copy()
    changed.iloc[cut:] = changed.iloc[cut:] * 3.0 + 0.01
    alt = fit_garch_panel(changed, split.garch_mask, cfg, split.refit_dates, progress=False)
    # forecasts for origins <= cut use data up to cut-1 only: unchanged
    pd.testing.assert_frame_equal(base.forecast.iloc[: cut + 1], alt.forecast.iloc[: cut + 1])
    pd.testing.assert_frame_equal(base.cond_vol.iloc[: cut + 1], alt.cond_vol.iloc[: cut + 1])
    # ... and the test can fail: later forecasts do change
    assert not np.allclose(base.forecast.iloc[cut + 2:].to_numpy(), alt.forecast.iloc[cut + 2:].to_numpy())


def test_refit_schedule_changes_parameters_only_after_refit(returns, fitted):
    split = walk_forward_split(DATES, TEST_START, refit_every=26)
    refit = fit_garch_panel(returns, split.garch_mask, GarchConfig(refit_every=26), split.refit_dates,
                            progress=False)
    first_refit = DATES.get_loc(split.refit_dates[0])
    assert np.allclose(refit.forecast.iloc[:first_refit].to_numpy(), fitted.forecast.iloc[:first_refit].to_numpy(),
                       equal_nan=True)
    assert not np.allclose(refit.forecast.iloc[first_refit:].to_numpy(), fitted.forecast.iloc[first_refit:].to_numpy())
    assert (refit.params["n_fits"] == 1 + len(split.refit_dates)).all()


def test_failures_are_reported_and_others_processed(returns, monkeypatch):
    bad = returns.copy()
    bad["SHORT"] = np.nan
    bad.iloc[-60:, bad.columns.get_loc("SHORT")] = 0.01 * np.sin(np.arange(60))
    bad["CONST"] = 0.002
    bad["BOOM"] = returns["F0"] * 1.5
    bad.iloc[:2, bad.columns.get_loc("BOOM")] = [0.0123, -0.0246]   # scale-free marker: y[1]/y[0] = -2
    import qmtl_research.volatility.garch as g

    real = g.arch_model

    def exploding(y, **kw):   # an optimiser crash for the marked fund only
        if len(y) > 1 and np.isclose(y[1] / y[0], -2.0):
            raise np.linalg.LinAlgError("singular matrix")
        return real(y, **kw)

    monkeypatch.setattr(g, "arch_model", exploding)
    res = fit_garch_panel(bad, _mask(), GarchConfig(), progress=False)
    failed = {f["fund_id"]: f["message"] for f in res.failures}
    assert set(failed) == {"SHORT", "CONST", "BOOM"}
    assert "too short" in failed["SHORT"] and "constant" in failed["CONST"]
    assert "LinAlgError" in failed["BOOM"]
    assert list(res.forecast.columns) == ["F0", "F1", "F2", "F3"]
    assert res.forecast.loc[TEST_START].notna().all()


def test_non_convergence_is_a_failure(returns, monkeypatch):
    import qmtl_research.volatility.garch as g

    real_fit = g.arch_model(returns["F0"].to_numpy()[:180]).__class__.fit

    def capped_fit(self, *a, **kw):
        kw["options"] = {"maxiter": 1}
        return real_fit(self, *a, **kw)

    monkeypatch.setattr(g.arch_model(returns["F0"].to_numpy()[:180]).__class__, "fit", capped_fit)
    res = fit_garch_panel(returns[["F0"]], _mask(), GarchConfig(), progress=False)
    assert len(res.failures) == 1 and "did not converge" in res.failures[0]["message"]


def test_parallel_joblib_and_dask_give_the_same_numbers(returns, fitted):
    from distributed import Client, LocalCluster

    loky = fit_garch_panel(returns, _mask(), GarchConfig(n_jobs=2), progress=False)
    pd.testing.assert_frame_equal(loky.forecast, fitted.forecast)
    # fund histories with flat likelihoods are sensitive to BLAS threading: still identical
    from qmtl_research.data.synthetic import make_synthetic_universe

    syn = make_synthetic_universe(n_funds=16, seed=3)
    mask = pd.Series(syn.dates < pd.Timestamp("2020-01-03"), index=syn.dates)
    seq = fit_garch_panel(syn.returns, mask, GarchConfig(), progress=False)
    par = fit_garch_panel(syn.returns, mask, GarchConfig(n_jobs=2), progress=False)
    pd.testing.assert_frame_equal(seq.forecast, par.forecast, check_exact=True)
    with LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster, Client(cluster):
        dask = fit_garch_panel(returns, _mask(), GarchConfig(n_jobs=2, backend="dask"), progress=False)
    pd.testing.assert_frame_equal(dask.forecast, fitted.forecast)
    pd.testing.assert_frame_equal(dask.cond_vol, fitted.cond_vol)
    pd.testing.assert_frame_equal(dask.params, fitted.params)


def test_late_start_for_funds_with_short_training_history(returns):
    late = returns[["F2"]].copy()
    late.iloc[:130] = np.nan                      # inception: 50 training returns before TEST_START
    res = fit_garch_panel(late, _mask(), GarchConfig(), progress=False)
    assert not res.failures
    first_origin = 130 + 104
    fc = res.forecast["F2"]
    assert fc.iloc[:first_origin].isna().all() and fc.iloc[first_origin:].notna().all()
    x = late["F2"].to_numpy()[130:130 + 104]
    scale = x.std(ddof=1)
    with threadpool_limits(limits=1):
        ref = arch_model(x / scale, mean="Constant", vol="GARCH", p=1, q=1, rescale=False).fit(disp="off")
    v = ref.forecast(horizon=4).variance.to_numpy()[-1]
    assert fc.iloc[first_origin] == pytest.approx(math.sqrt(v.mean() * scale ** 2 * 52) * 100, rel=1e-9)
    off = fit_garch_panel(late, _mask(), GarchConfig(late_start=False), progress=False)
    assert off.failures and "too short" in off.failures[0]["message"]
