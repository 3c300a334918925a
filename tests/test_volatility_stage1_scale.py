"""Stage 1 at scale (issue #20 item 6): the lean EWMA/HAR walk-forward equals the per-fund driver
(the models' own fit: arch-checked EWMA, statsmodels OLS), and the LSTM retrain frequency: yearly
retraining under weekly refits trains at the yearly dates only and forecasts as a yearly run does."""
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from qmtl_research.volatility import Stage1Config, series_batch
from qmtl_research.volatility.series import series_walk_forward
from qmtl_research.volatility.splits import retrain_dates, walk_forward_schedule


def _panel(n_weeks=420, n_funds=5, seed=11):
    """GARCH-like weekly returns; a late fund, a liquidated fund, a fund with a gap."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2012-01-06", periods=n_weeks, freq="W-FRI")
    cols = {}
    for j in range(n_funds):
        h, r = 4e-4, np.empty(n_weeks)
        for t in range(n_weeks):
            r[t] = 0.001 + np.sqrt(h) * rng.standard_normal()
            h = 2e-5 + 0.08 * (r[t] - 0.001) ** 2 + 0.87 * h
        cols[f"F{j}"] = r
    frame = pd.DataFrame(cols, index=idx)
    frame.iloc[:90, 1] = np.nan                 # starts later (late start between refits)
    frame.iloc[330:, 2] = np.nan                # liquidated: refits after its last return
    frame.iloc[250, 3] = np.nan                 # a gap: the per-fund driver's path (a failure listed)
    return frame


def _per_fund(monkeypatch, *args):
    """The per-fund driver (every refit through the model's own fit and forecast_variance)."""
    with monkeypatch.context() as m:
        m.setattr(series_batch, "walk_fund", lambda *a, **k: False)
        return series_walk_forward(*args)


@pytest.mark.parametrize("name", ["EWMA", "HAR"])
@pytest.mark.parametrize("every", [52, 1])
def test_lean_walk_forward_equals_the_per_fund_driver(monkeypatch, name, every):
    returns = _panel()
    cfg = Stage1Config(models=(name,))
    refits = list(returns.index[200::every])
    want = _per_fund(monkeypatch, name, cfg, returns, refits)
    calls = []
    real = series_batch.walk_fund
    monkeypatch.setattr(series_batch, "walk_fund", lambda *a, **k: calls.append(real(*a, **k)) or calls[-1])
    got = series_walk_forward(name, cfg, returns, refits)
    assert calls.count(True) == 4 and calls.count(False) == 1        # F3 (the gap) took the driver's path
    pd.testing.assert_frame_equal(got.forecast, want.forecast, check_exact=True)
    pd.testing.assert_frame_equal(got.fits, want.fits, check_exact=True)
    assert got.failures == want.failures and {f["fund_id"] for f in got.failures} == {"F3"}
    assert got.forecast["F1"].notna().sum() > 0 and got.forecast["F2"].iloc[332:].isna().all()


def test_har_least_squares_is_statsmodels_ols():
    rng = np.random.default_rng(5)
    x = np.column_stack([np.ones(300), rng.gamma(2.0, 2e-4, (300, 3))])
    y = x @ np.array([1e-4, 0.2, 0.3, 0.4]) + rng.normal(0, 1e-4, 300)
    beta, r2, rank = series_batch._ols(x, y)
    fit = sm.OLS(y, x).fit()
    np.testing.assert_array_equal(beta, np.asarray(fit.params))
    assert r2 == fit.rsquared and rank == np.linalg.matrix_rank(x) == 4
    collinear = np.column_stack([x, x[:, 1] + x[:, 2]])
    assert series_batch._ols(collinear, y)[2] == np.linalg.matrix_rank(collinear) == 4


def test_retrain_dates_yearly_are_the_yearly_schedule():
    returns = _panel()
    weekly = walk_forward_schedule(returns, None, "weekly")
    yearly = walk_forward_schedule(returns, None, "yearly")
    assert retrain_dates(weekly, "refit").equals(weekly.refit_dates)
    assert retrain_dates(weekly, "yearly").equals(yearly.refit_dates)
    assert retrain_dates(yearly, "yearly").equals(yearly.refit_dates)
    assert set(yearly.refit_dates) <= set(weekly.refit_dates)
    with pytest.raises(ValueError, match="lstm_retrain"):
        Stage1Config(lstm_retrain="monthly")


def test_yearly_retraining_under_weekly_refits_forecasts_as_the_yearly_run():
    from qmtl_research.data.synthetic import make_synthetic_universe
    from qmtl_research.volatility.pipeline import _usable, forecast_panel
    from qmtl_research.volatility.walkforward import build_walk_forward

    panel = make_synthetic_universe(n_funds=8, seed=20230831)
    lstm = dict(epochs=3, units=4, warm_epochs=2, patience=None)
    base = dict(models=("LSTM", "Naive"), cv=False, lstm=lstm)
    yearly, _, ysched = forecast_panel(panel, Stage1Config(**base), progress=False)
    same, _, _ = forecast_panel(panel, Stage1Config(**base, lstm_retrain="yearly"), progress=False)
    pd.testing.assert_frame_equal(same, yearly, check_exact=True)           # yearly refits: nothing changes
    cfg = Stage1Config(**base, refit="weekly", lstm_retrain="yearly")
    returns, fund_type, _, wsched = _usable(panel, cfg)
    weekly, _, training, _ = build_walk_forward(returns, fund_type, cfg, wsched, progress=False)
    assert len(wsched.refit_dates) > 5 * len(ysched.refit_dates)
    assert list(training["fit_date"]) == list(ysched.refit_dates)            # trained at the yearly dates only
    key = ["fund_id", "origin"]
    both = yearly.merge(weekly, on=key, suffixes=("_y", "_w"))
    assert len(both) == len(yearly) == len(weekly)
    np.testing.assert_array_equal(both["LSTM_w"].to_numpy(), both["LSTM_y"].to_numpy())
    assert both["LSTM_w"].notna().mean() > 0.9


def test_yearly_challenger_estimation_under_weekly_refits_forecasts_as_the_yearly_run():
    from qmtl_research.data.synthetic import make_synthetic_universe
    from qmtl_research.volatility.pipeline import forecast_panel

    panel = make_synthetic_universe(n_funds=8, seed=20230831)
    base = dict(models=("HAR", "Naive"), cv=False)
    yearly, _, ysched = forecast_panel(panel, Stage1Config(**base), progress=False)
    weekly_all, _, wsched = forecast_panel(panel, Stage1Config(**base, refit="weekly"), progress=False)
    weekly, _, _ = forecast_panel(panel, Stage1Config(**base, refit="weekly", challenger_refit="yearly"),
                                  progress=False)
    key = ["fund_id", "origin"]
    both = yearly.merge(weekly, on=key, suffixes=("_y", "_w")).merge(weekly_all, on=key)
    assert len(both) == len(yearly) and len(wsched.refit_dates) > 5 * len(ysched.refit_dates)
    np.testing.assert_array_equal(both["HAR_w"].to_numpy(), both["HAR_y"].to_numpy())
    assert both["HAR_w"].notna().mean() > 0.9
    assert not np.array_equal(both["HAR"].to_numpy(), both["HAR_y"].to_numpy(), equal_nan=True)  # weekly re-estimation differs


def test_fund_var_reuses_stage1_garch_walk_forward_with_the_same_numbers():
    import dataclasses

    from qmtl_research.data.synthetic import make_synthetic_universe
    from qmtl_research.risk.fund_var import fund_risk
    from qmtl_research.volatility import run_stage1

    panel = make_synthetic_universe(n_funds=8, seed=20230831)
    study = run_stage1(panel, Stage1Config(models=("GARCH", "Naive"), cv=False), progress=False)
    assert study.garch_walk is not None
    reused = fund_risk(panel.returns, study)
    fresh = fund_risk(panel.returns, dataclasses.replace(study, garch_walk=None))     # recomputed, as before
    for name in ("forecasts", "backtests", "not_tested"):
        pd.testing.assert_frame_equal(getattr(reused, name), getattr(fresh, name), check_exact=True)
    assert reused.summary == fresh.summary


def test_restricted_walk_forward_equals_a_walk_forward_on_the_subset():
    from qmtl_research.data.synthetic import make_synthetic_universe
    from qmtl_research.volatility import GarchConfig, garch_walk_forward
    from qmtl_research.volatility.garch_panel import restricted

    returns = make_synthetic_universe(n_funds=8, seed=20230831).returns
    returns = returns.assign(FLAT=0.0)                               # a GARCH failure at every refit
    refits = walk_forward_schedule(returns, None, "yearly").refit_dates
    cfg = GarchConfig(n_jobs=2, backend="threading")
    full = garch_walk_forward(returns, refits, cfg, progress=False)
    subset = returns[["FLAT", *returns.columns[5:0:-1]]]
    direct = garch_walk_forward(subset, refits, cfg, progress=False)
    got = restricted(full, subset, cfg.n_jobs)
    for name in ("cond_vol", "forecast", "fit_pos"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(direct, name), check_exact=True)
    pd.testing.assert_frame_equal(got.params.sort_values(["fund_id", "fit_date"]).reset_index(drop=True),
                                  direct.params.sort_values(["fund_id", "fit_date"]).reset_index(drop=True),
                                  check_exact=True)
    assert got.failures == direct.failures and len(got.failures) == len(refits)
    assert restricted(full, returns.iloc[:-5], 1) is None                      # other weeks: recompute
