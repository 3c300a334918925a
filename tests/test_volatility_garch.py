"""GARCH(1,1): estimates, likelihood and forecasts against ``arch``; derivatives against finite
differences; warm starts, clone, diagnostics; walk-forward without look-ahead; failures;
parallel == sequential; the risk engine's filter."""
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from sklearn.base import clone

from qmtl_research.volatility import GarchConfig, GarchVolatility, fit_garch_panel, garch_walk_forward
from qmtl_research.volatility import garch as G
from qmtl_research.volatility import garch_engine as E
from qmtl_research.volatility import garch_optimizer as O
from qmtl_research.volatility.innovations import tail_factor
from qmtl_research.volatility.targets import expected_target_vol

DATES = pd.date_range("2012-01-06", periods=330, freq="W-FRI")


def _garch_paths(n=4, seed=7, t=len(DATES), omega=2e-5, alpha=0.1, beta=0.85):
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        z = rng.standard_normal(t + 200)
        h, e = np.empty_like(z), np.empty_like(z)
        h[0] = omega / (1 - alpha - beta)
        for k in range(len(z)):
            if k:
                h[k] = omega + alpha * e[k - 1] ** 2 + beta * h[k - 1]
            e[k] = math.sqrt(h[k]) * z[k]
        out[f"F{i}"] = 0.001 + e[200:] * (1 + i)
    return pd.DataFrame(out, index=DATES[:t])


@pytest.fixture(scope="module")
def returns():
    return _garch_paths()


@pytest.fixture(scope="module")
def fitted(returns):
    return GarchVolatility().fit(returns.iloc[:260])


def _arch(y, mean="Constant", **fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return arch_model(y, mean=mean, vol="GARCH", p=1, q=1, dist="normal", rescale=False).fit(
            disp="off", **fit)


def test_estimates_match_arch(returns, fitted):
    for fid in returns.columns:
        y = returns[fid].iloc[:260].to_numpy() / fitted.scale_[fid]
        tight = _arch(y, tol=1e-12, options={"maxiter": 2000})
        default = _arch(y)
        mine = fitted.params_.loc[fid].to_numpy()
        np.testing.assert_allclose(mine, tight.params.to_numpy(), atol=2e-5, rtol=1e-4)
        ll = fitted.diagnostics_.loc[fid, "loglik"]
        assert ll == pytest.approx(tight.loglikelihood, abs=1e-6)
        assert ll >= default.loglikelihood - 1e-8          # at least as good as arch's default optimum
    assert fitted.scale_["F2"] == pytest.approx(returns["F2"].iloc[:260].std(ddof=1))


def test_zero_mean_matches_arch(returns):
    est = GarchVolatility(mean="Zero").fit(returns.iloc[:260, :2])
    for fid in est.params_.index:
        y = returns[fid].iloc[:260].to_numpy() / est.scale_[fid]
        ref = _arch(y, mean="Zero", tol=1e-12, options={"maxiter": 2000})
        assert est.params_.loc[fid, "mu"] == 0.0
        np.testing.assert_allclose(est.params_.loc[fid, ["omega", "alpha", "beta"]].to_numpy(),
                                   ref.params.to_numpy(), atol=2e-5, rtol=1e-4)


def test_forecasts_equal_arch_forecasts_with_the_same_parameters(returns, fitted):
    for fid in ("F0", "F3"):
        s = fitted.scale_[fid]
        theta = fitted.params_.loc[fid].to_numpy()
        y = returns[fid].to_numpy() / s                           # the whole history, parameters fixed
        fixed = arch_model(y, mean="Constant", vol="GARCH", p=1, q=1, rescale=False).fix(theta)
        ref = fixed.forecast(horizon=4, start=0, reindex=False).variance.to_numpy()   # row i: weeks i+1..i+4
        h = fitted.one_step_variances(returns[[fid]])[fid].to_numpy()             # h[s]: week s given < s
        np.testing.assert_allclose(h[1:], ref[:, 0], rtol=1e-12)
        path = E.forecast_variances(h[1:, None], theta[None, :], 4)[:, 0, :]
        np.testing.assert_allclose(path, ref, rtol=1e-12)
        pred = fitted.predict(returns[[fid]])[fid].to_numpy()
        factor = tail_factor(fitted.diagnostics_.loc[fid, "tail_df"])              # fitted innovation law
        np.testing.assert_allclose(pred, expected_target_vol(ref, s) * factor, rtol=1e-12)
        r = fitted.conditional_vol(returns[[fid]])[fid].to_numpy()
        np.testing.assert_allclose(r[1:], np.sqrt(ref[:, 0]) * s * math.sqrt(52) * 100, rtol=1e-12)


def test_analytic_derivatives_match_finite_differences(returns):
    y, m = E._left_align(returns.to_numpy() / returns.std().to_numpy())
    b = E._make_batch(y, m, False)
    theta = O._project(b, O._grid_start(b))
    theta[:, 0] += 0.02
    ll, g, info, curvature = E._derivatives(b, theta)
    np.testing.assert_allclose(ll, E._loglik(b, theta), rtol=1e-13)
    eps = 1e-5
    num_g = np.zeros_like(g)
    num_h = np.zeros((len(theta), 4, 4))
    for i in range(4):
        e_i = np.eye(4)[i] * eps
        num_g[:, i] = (E._loglik(b, theta + e_i) - E._loglik(b, theta - e_i)) / (2 * eps)
        for j in range(4):
            e_j = np.eye(4)[j] * eps
            num_h[:, i, j] = (E._loglik(b, theta + e_i + e_j) - E._loglik(b, theta + e_i - e_j)
                              - E._loglik(b, theta - e_i + e_j) + E._loglik(b, theta - e_i - e_j)) / (4 * eps ** 2)
    np.testing.assert_allclose(g, num_g, rtol=1e-5, atol=1e-4 * np.abs(g).max())
    np.testing.assert_allclose(-curvature, num_h, rtol=1e-4, atol=1e-4 * np.abs(num_h).max())
    assert (np.linalg.eigvalsh(info) > 0).all()                  # the expected information is PD


def test_warm_start_reaches_the_cold_optimum_faster(returns):
    warm = GarchVolatility(warm_start=True).fit(returns.iloc[:260])
    warm.fit(returns.iloc[:270])
    cold = GarchVolatility().fit(returns.iloc[:270])

    def original_units(est):          # mu * scale, omega * scale^2, alpha, beta (scale-free comparison)
        p = est.params_.copy()
        p["mu"] *= est.scale_
        p["omega"] *= est.scale_ ** 2
        return p.to_numpy()

    np.testing.assert_allclose(original_units(warm), original_units(cold), rtol=1e-5, atol=1e-10)
    assert warm.diagnostics_["n_iter"].sum() < cold.diagnostics_["n_iter"].sum()
    pd.testing.assert_series_equal(warm.scale_, GarchVolatility().fit(returns.iloc[:260]).scale_)   # scale kept


def test_clone_refits_and_set_params(returns, fitted):
    twin = clone(fitted)
    assert not hasattr(twin, "_fits")                           # clone = unfitted copy ...
    twin.fit(returns.iloc[:260])                                 # ... that really estimates
    pd.testing.assert_frame_equal(twin.params_, fitted.params_)
    zero = clone(fitted).set_params(mean="Zero").fit(returns.iloc[:260])
    assert (zero.params_["mu"] == 0).all() and (fitted.params_["mu"] != 0).all()
    assert fitted.score(returns) < 0                             # -RMSE of the 1-month forecasts


def test_diagnostics_flag_degenerate_fits(returns):
    rng = np.random.default_rng(3)
    iid = pd.DataFrame({"IID": rng.standard_normal(300) * 0.01}, index=DATES[:300])
    est = GarchVolatility().fit(iid)
    ref = _arch(iid["IID"].to_numpy() / est.scale_["IID"], tol=1e-12, options={"maxiter": 2000})
    # homoskedastic data: the likelihood has no GARCH effect, alpha ends on its bound 0 (arch agrees)
    assert ref.params["alpha[1]"] < 1e-6
    assert "alpha on its bound 0" in est.diagnostics_.loc["IID", "flags"]
    assert est.diagnostics_.loc["IID", "degenerate"]
    flags = G.diagnose(np.array([[0.0, 0.05, 0.0005, 0.9995], [0.0, 0.5, 0.31, 0.0], [0.0, 0.05, 0.1, 0.85]]),
                       np.full(3, 1e-8), np.full(3, 10.0))
    assert "persistence alpha+beta = 1.0000 >= 0.999" in flags[0] and "alpha+beta on its bound 1" in flags[0]
    assert "beta = 0 with alpha = 0.310 >= 0.2" in flags[1] and "beta on its bound 0" in flags[1]
    assert flags[2] == ""


def test_failures_are_reported_and_others_fitted(returns):
    bad = returns.iloc[:260].copy()
    bad["SHORT"] = np.nan
    bad.iloc[-60:, bad.columns.get_loc("SHORT")] = 0.01 * np.sin(np.arange(60))
    bad["CONST"] = 0.002
    est = GarchVolatility().fit(bad)
    assert "too short" in est.failures_["SHORT"] and "constant" in est.failures_["CONST"]
    assert list(est.params_.index) == ["F0", "F1", "F2", "F3"]
    capped = GarchVolatility(max_iter=1).fit(returns.iloc[:260, :1])
    assert "did not converge" in capped.failures_["F0"] and capped.params_.empty


@pytest.mark.parametrize("step", [52, 1])
def test_walk_forward_has_no_look_ahead(returns, step):
    grid_refits = DATES[120::step][:40] if step == 1 else DATES[120::step]
    base = garch_walk_forward(returns, grid_refits, GarchConfig(), progress=False)
    cut = 150                                                    # change returns from week 150 on
    changed = returns.copy()
    changed.iloc[cut:] = changed.iloc[cut:] * 3.0 + 0.01
    alt = garch_walk_forward(changed, grid_refits, GarchConfig(), progress=False)
    # a forecast for origin t uses returns before t only, and estimations before it: origins <= cut agree
    pd.testing.assert_frame_equal(base.forecast.iloc[: cut + 1], alt.forecast.iloc[: cut + 1])
    pd.testing.assert_frame_equal(base.cond_vol.iloc[: cut + 1], alt.cond_vol.iloc[: cut + 1])
    assert not np.allclose(base.forecast.iloc[cut + 1: 160].to_numpy(), alt.forecast.iloc[cut + 1: 160].to_numpy())
    # every forecast row was produced by an estimation made at or before its origin
    fp = base.fit_pos.to_numpy()
    rows = np.arange(len(fp))[:, None]
    assert (fp[np.isfinite(base.forecast.to_numpy())] >= 0).all()
    assert ((fp <= rows) | (fp < 0)).all()


def test_walk_forward_rows_equal_a_fit_on_the_past(returns):
    refits = pd.DatetimeIndex([DATES[150], DATES[200]])
    wf = garch_walk_forward(returns, refits, GarchConfig(), progress=False)
    for pos in (150, 200):
        est = GarchVolatility().fit(returns.iloc[:pos])              # cold, on returns before the refit
        ref = est.predict(returns)                                   # row d: origin d + 1
        for origin in (pos, pos + 17):
            np.testing.assert_allclose(wf.forecast.iloc[origin].to_numpy(), ref.iloc[origin - 1].to_numpy(),
                                       rtol=1e-6)
            assert (wf.fit_pos.iloc[origin] == pos).all()
    assert wf.forecast.iloc[:150].isna().all().all()                 # nothing before the test start
    assert wf.cond_vol.iloc[1:150].notna().all().all()               # r back-filled for training rows
    assert (wf.params["n_iter"][wf.params["fit_date"] == DATES[200]] < 8).all()   # warm starts


def test_late_start_funds_are_estimated_when_they_have_enough_returns(returns):
    late = returns[["F1", "F2"]].copy()
    late.iloc[:130, 1] = np.nan                                      # F2 starts at week 130
    refits = pd.DatetimeIndex([DATES[150], DATES[260]])
    wf = garch_walk_forward(late, refits, GarchConfig(), progress=False)
    f2 = wf.forecast["F2"]
    assert f2.iloc[:234].isna().all() and f2.iloc[234:].notna().all()   # 130 + 104 returns
    assert wf.fit_pos["F2"].iloc[234] == 234 and wf.fit_pos["F2"].iloc[260] == 260
    ref = GarchVolatility().fit(late[["F2"]].iloc[:234]).predict(late[["F2"]])
    assert f2.iloc[234] == pytest.approx(ref["F2"].iloc[233], rel=1e-9)
    off = garch_walk_forward(late, refits, GarchConfig(late_start=False), progress=False)
    assert off.forecast["F2"].iloc[:260].isna().all() and off.forecast["F2"].iloc[260:].notna().all()


def test_parallel_and_dask_give_the_same_numbers(returns):
    from distributed import Client, LocalCluster

    refits = DATES[150::52]
    seq = garch_walk_forward(returns, refits, GarchConfig(), progress=False)
    par = garch_walk_forward(returns, refits, GarchConfig(n_jobs=2), progress=False)
    pd.testing.assert_frame_equal(seq.forecast, par.forecast, check_exact=True)
    pd.testing.assert_frame_equal(seq.params, par.params, check_exact=True)
    with LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster, Client(cluster):
        dask = garch_walk_forward(returns, refits, GarchConfig(n_jobs=2, backend="dask"), progress=False)
    pd.testing.assert_frame_equal(seq.forecast, dask.forecast, check_exact=True)
    pd.testing.assert_frame_equal(seq.cond_vol, dask.cond_vol, check_exact=True)


def test_fit_garch_panel_on_a_mask(returns):
    mask = pd.Series(np.arange(len(DATES)) < 200, index=DATES)
    res = fit_garch_panel(returns, mask, GarchConfig(), progress=False)
    ref = GarchVolatility().fit(returns.iloc[:200])
    pd.testing.assert_frame_equal(res.params.set_index("fund_id")[["mu", "omega", "alpha", "beta"]],
                                  ref.params_, check_names=False)
    assert res.forecast.shape == (len(DATES) + 1, 4) and res.forecast.iloc[1:].notna().all().all()


def test_risk_garch_filter_matches_arch_on_daily_returns():
    from qmtl_research.risk.var import garch_filter

    r = _garch_paths(n=1, seed=5, t=330)["F0"].to_numpy() * 0.3
    z, vol, mu, nxt = garch_filter(r)
    ref = _arch(100 * r, tol=1e-12, options={"maxiter": 2000})           # arch on percent returns
    assert mu == pytest.approx(ref.params["mu"] / 100, rel=1e-3)
    np.testing.assert_allclose(vol, ref.conditional_volatility / 100, rtol=2e-3)
    fc = math.sqrt(ref.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0]) / 100
    assert nxt == pytest.approx(fc, rel=2e-3)
    np.testing.assert_allclose(z, (r - mu) / vol, rtol=1e-12)


def test_a_warm_start_near_a_saddle_restarts_and_reaches_the_optimum():
    """Paper-scale synthetic fund SYN2517, weekly refits: at 2019-05-31 the previous week's estimate
    lies on a flat, non-concave ridge; the optimum is on the bound alpha = 0 (arch agrees)."""
    from qmtl_research.data.synthetic import make_synthetic_universe
    from qmtl_research.volatility import walk_forward_schedule

    panel = make_synthetic_universe(n_funds=2585)
    r = panel.returns[["SYN2517"]]
    stop = pd.Timestamp("2019-05-31")
    sched = walk_forward_schedule(panel.returns, refit="weekly")
    wf = garch_walk_forward(r, sched.refit_dates[sched.refit_dates <= stop], GarchConfig(), progress=False)
    assert not wf.failures
    last = wf.params.iloc[-1]
    assert last["fit_date"] == stop and "alpha on its bound 0" in last["flags"]
    y = r["SYN2517"].loc[: stop - pd.Timedelta(days=1)].dropna().to_numpy() / last["scale"]
    ref = _arch(y, tol=1e-14, options={"maxiter": 5000})
    np.testing.assert_allclose(last[["mu", "omega", "alpha", "beta"]].to_numpy(float), ref.params.to_numpy(),
                               atol=1e-6)
    assert last["loglik"] == pytest.approx(ref.loglikelihood, abs=1e-8)
