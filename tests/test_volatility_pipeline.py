"""Stage 1 end to end on small synthetic universes: the forecast panel, no look-ahead, both
designs, tables, data-relative defaults, regimes, failures, the store."""
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from qmtl_research.data.panel import FundPanel
from qmtl_research.data.synthetic import make_synthetic_universe
from qmtl_research.errors import ConfigError
from qmtl_research.volatility import HighVolRegime, LSTMConfig, Stage1Config, realized_vol, run_stage1
from qmtl_research.volatility.evaluation import qlike
from qmtl_research.volatility.registry import default_models
from qmtl_research.volatility.splits import cv_splits, extended_grid

FAST = LSTMConfig(units=4, epochs=2, batch_size=512, patience=None, validation_fraction=0.0, warm_epochs=1)
MODELS = list(default_models())         # GARCH, LSTM, GARCH-LSTM, Naive, EWMA, GJR-GARCH, HAR


def _with_bad_funds(panel: FundPanel) -> FundPanel:
    r = panel.returns.copy()
    r["BAD_NAN"] = np.nan
    r["BAD_CONST"] = 0.001
    r["BAD_GAP"] = r.iloc[:, 0]
    r.iloc[100:103, r.columns.get_loc("BAD_GAP")] = np.nan
    r["BAD_SHORT"] = np.nan
    r.iloc[-8:, r.columns.get_loc("BAD_SHORT")] = 0.01
    meta = panel.metadata.reindex(r.columns)
    meta["fund_type"] = meta["fund_type"].fillna("broken")
    return FundPanel(r, meta, panel.benchmarks, "test", True, {})


def _config(**kw):
    return Stage1Config(lstm=FAST, seed=1, mcs_reps=200, **kw)


@pytest.fixture(scope="module")
def panel():
    return make_synthetic_universe(n_funds=12, seed=20230831)


@pytest.fixture(scope="module")
def result(panel):
    return run_stage1(_with_bad_funds(panel), _config(), progress=False)


def test_forecast_panel_contract(result, panel):
    fc = result.forecasts
    assert list(fc.columns) == ["fund_id", "fund_type", "origin", "info_date", "date", "fit_date", "garch_fit_date",
                                "y", *MODELS, "note"]
    assert not fc.duplicated(["fund_id", "origin"]).any()
    grid = extended_grid(panel.dates)
    now = grid[-1]                                          # the week after the panel's last week
    assert fc["origin"].max() == now and set(fc.loc[fc["origin"] == now, "fund_id"]) == set(panel.fund_ids)
    assert fc.loc[fc["origin"] == now, "y"].isna().all()
    assert fc.loc[fc["origin"] == now, MODELS].notna().all().all()          # the "now" forecast exists
    assert (fc["info_date"] == fc["origin"] - pd.Timedelta(weeks=1)).all()
    assert (fc["fit_date"] <= fc["origin"]).all() and (fc["garch_fit_date"].dropna() <= fc.loc[
        fc["garch_fit_date"].notna(), "origin"]).all()
    # every origin of the test period is there, for every fund with its one-month vols
    origins = grid[grid >= result.schedule.test_start]
    assert set(fc["origin"]) == set(origins)
    # y = the realised 1-month vol of weeks origin .. origin+3
    vol = realized_vol(panel.returns)
    seen = fc.dropna(subset=["y"]).sample(50, random_state=0)
    for row in seen.itertuples():
        assert row.date == row.origin + pd.Timedelta(weeks=3)
        assert row.y == pytest.approx(vol.at[row.date, row.fund_id], rel=1e-12)
    # Naive = the last one-month vol known at the info date; GARCH-based rows wait for an estimation
    assert np.allclose(seen["Naive"], [vol.at[r.info_date, r.fund_id] for r in seen.itertuples()])
    no_garch = fc["GARCH"].isna()
    assert (fc.loc[no_garch, "note"].str.contains("GARCH")).all()
    assert (fc.loc[~fc[MODELS].isna().any(axis=1), "note"] == "").all()


def test_walk_forward_schedule_and_refits(result):
    """Refit dates, warm starts, and every LSTM trained on data strictly before its fit date."""
    sched = result.schedule
    assert sched.refit == "yearly" and sched.refit_dates[0] == sched.test_start
    assert all(d.year > sched.test_start.year for d in sched.refit_dates[1:])
    assert list(sched.refit_dates[1:]) == [
        result.forecasts.loc[result.forecasts["origin"].dt.year == d.year, "origin"].min() for d in sched.refit_dates[1:]]
    fits = result.training.loc[result.training["design"] == "walk_forward"]
    assert set(fits["fit_date"]) <= set(sched.refit_dates) and set(fits["model"]) == {"LSTM", "GARCH-LSTM"}
    assert fits.sort_values("fit_date").groupby("model")["warm"].apply(lambda w: (~w.iloc[0]) & w.iloc[1:].all()).all()
    assert set(result.forecasts["fit_date"]) <= set(sched.refit_dates)
    # the LSTM of a refit trained on exactly the samples whose last output week is before the fit date
    from qmtl_research.volatility import build_samples

    samples = build_samples(result.target)
    for fit in fits.loc[fits["model"] == "LSTM"].itertuples():
        assert fit.n_samples == int((samples["date"] < fit.fit_date).sum())


def test_no_look_ahead_end_to_end(panel, result):
    """Returns from week ``cut`` on are changed: every row whose origin is at or before ``cut`` (its
    models fitted before its fit date <= origin, its inputs up to origin - 1) must not move."""
    cut = pd.Timestamp("2021-06-04")
    r = panel.returns.copy()
    r.loc[r.index >= cut] = r.loc[r.index >= cut] * 4.0
    shocked = run_stage1(FundPanel(r, panel.metadata, panel.benchmarks, "shock", True, {}), _config(),
                         progress=False)
    keys = ["fund_id", "origin"]
    a = result.forecasts.loc[~result.forecasts["fund_id"].str.startswith("BAD")].set_index(keys).sort_index()
    b = shocked.forecasts.set_index(keys).sort_index()
    assert a.index.equals(b.index)
    before = a.index.get_level_values("origin") <= cut
    pd.testing.assert_frame_equal(a.loc[before, MODELS], b.loc[before, MODELS])
    assert not np.allclose(a.loc[~before, MODELS].to_numpy(), b.loc[~before, MODELS].to_numpy(), equal_nan=True)
    # a refit after the cut sees the change, in rows it serves only
    later = a.index.get_level_values("origin") > cut
    assert not np.allclose(a.loc[later, "LSTM"], b.loc[later, "LSTM"])


def test_weekly_refits_and_their_look_ahead(panel):
    small = panel.subset(panel.fund_ids[:5])
    cfg = _config(models=("GARCH", "LSTM", "Naive"), refit="weekly", cv=False, test_start="2021-09-03")
    res = run_stage1(small, cfg, progress=False)
    fc = res.forecasts
    assert (fc["fit_date"] == fc["origin"]).all()                       # a refit at every origin
    assert len(res.training) == fc["origin"].nunique()
    cut = pd.Timestamp("2022-03-04")
    r = small.returns.copy()
    r.loc[r.index >= cut] *= 3.0
    alt = run_stage1(FundPanel(r, small.metadata, small.benchmarks, "x", True, {}), cfg, progress=False).forecasts
    before = fc["origin"] <= cut
    pd.testing.assert_frame_equal(fc.loc[before, ["GARCH", "LSTM", "Naive"]].reset_index(drop=True),
                                  alt.loc[before, ["GARCH", "LSTM", "Naive"]].reset_index(drop=True))


def test_tables_contract(result):
    t = result.tables
    p = result.predictions
    t2 = t["table2"]
    assert list(t2.index) == MODELS and list(t2.columns) == ["MSE", "RMSE", "QLIKE", "n_points", "n_qlike"]
    for m in MODELS:   # Table 2 by hand from the predictions
        assert t2.loc[m, "MSE"] == pytest.approx(np.mean((p["y"] - p[m]) ** 2))
        ok = (p["y"] > 0) & (p[MODELS] > 0).all(axis=1)
        c4 = np.sqrt(2 / 3) * 2 / np.sqrt(np.pi)              # E[S]/sigma for 4 iid normal returns
        ratio = p.loc[ok, "y"] ** 2 / (p.loc[ok, m] / c4) ** 2
        assert t2.loc[m, "QLIKE"] == pytest.approx(np.mean(ratio - np.log(ratio) - 1))
    assert np.allclose(t2["RMSE"] ** 2, t2["MSE"])
    pd.testing.assert_frame_equal(t["table2"], t["table2_walk_forward"])
    comp = t["design_comparison"]
    assert {"RMSE (walk_forward)", "RMSE (cv 4-fold)", "QLIKE (cv 4-fold)", "rank RMSE (walk_forward)"} <= set(comp)
    assert comp["RMSE (cv 4-fold)"].to_dict() == pytest.approx(t["table2_cv"]["RMSE"].to_dict())
    assert list(t["table3"].columns[:3]) == ["std", "MSE", "RMSE"] and t["table3"].index.name == "fund_type"
    assert list(t["fig9_regimes"].index) == ["above-average volatility funds", "below-average volatility funds",
                                             HighVolRegime().name()]
    assert len(t["top20"]) == 20 and t["top20"]["realised"].is_monotonic_decreasing
    dm = t["dm_tests"]
    n = len(MODELS)
    assert len(dm) == n * (n - 1) and set(dm["loss"]) == {"MSE", "QLIKE"} and (dm["lags"] == 3).all()
    mcs = t["mcs"]
    assert len(mcs) == 2 * n and mcs.groupby("loss")["in_mcs"].any().all()      # the best model is always in
    best = mcs.loc[mcs.groupby("loss")["mean_loss"].idxmin()]
    assert (best["mcs_pvalue"] == 1.0).all()
    assert set(t["garch_diagnostics"].columns) >= {"design", "fund_id", "fit_date", "alpha", "beta", "flags"}
    comp = t["challengers"].set_index("model")
    assert list(comp.index) == MODELS and comp.at["GARCH-LSTM", "role"] == "under validation"
    assert (comp["role"] == "best challenger").sum() == 1
    assert comp.loc[comp["role"] == "best challenger", "RMSE"].iloc[0] == t2.drop("GARCH-LSTM")["RMSE"].min()
    for loss in ("MSE", "QLIKE"):
        kept = set(mcs.loc[(mcs["loss"] == loss) & mcs["in_mcs"], "model"])
        assert set(comp.index[comp[f"in_mcs_{loss.lower()}"]]) == kept
    assert comp.loc[["EWMA", "GJR-GARCH", "HAR"], "fits"].gt(0).all() and comp.loc[["GARCH", "LSTM"], "fits"].isna().all()
    s = result.summary
    assert s["best_model"] == t2["RMSE"].idxmin() and s["n_test_points"] == len(p)
    assert s["test_start"] == str(result.schedule.test_start.date()) and s["now_origin"]
    assert set(s) >= {"rmse", "qlike", "cv_rmse", "walk_forward_rmse", "split", "mcs", "notes", "test_start_rule"}
    robust = t["loss_robust"].set_index(["loss", "model"])      # per-fund contributions beside Table 2
    for m in MODELS:
        assert robust.loc[("MSE", m), "mean"] == pytest.approx(t2.loc[m, "MSE"])
        assert robust.loc[("QLIKE", m), "mean"] == pytest.approx(t2.loc[m, "QLIKE"])
    shares = t["loss_by_fund"].groupby(["loss", "model"])["share"].sum()
    assert np.allclose(shares, 1.0) and len(shares) == 2 * len(MODELS)
    assert s["loss_dominated"] == [n for n in t["loss_robust"]["note"] if n]


def test_mcs_is_seeded(result):
    from qmtl_research.volatility.evaluation import model_confidence_set

    a = model_confidence_set(result.predictions, MODELS, reps=200, seed=5)
    b = model_confidence_set(result.predictions, MODELS, reps=200, seed=5)
    pd.testing.assert_frame_equal(a, b)


def test_bad_funds_are_listed_and_others_processed(result, panel):
    f = result.failures
    assert list(f.columns) == ["fund_id", "step", "message"]
    msgs = dict(zip(f["fund_id"], f["message"]))
    assert "all-NaN" in msgs["BAD_NAN"] and "constant" in msgs["BAD_CONST"]
    assert "missing weekly return" in msgs["BAD_GAP"] and "too short" in msgs["BAD_SHORT"]
    assert not result.forecasts["fund_id"].str.startswith("BAD").any()
    assert set(panel.fund_ids) <= set(result.forecasts["fund_id"])


def test_cv_design_covers_each_origin_once(result, panel):
    cv = result.cv_predictions
    counts = cv.groupby(["fund_id", "origin"]).size()
    assert (counts == 1).all() and cv["fold"].nunique() == 4
    for sp in cv_splits(panel.dates, 4):   # purged: no training origin within 10 weeks of the test block
        lo, hi = sp.test_origins.min(), sp.test_origins.max()
        gap = pd.Timedelta(weeks=10)
        assert not ((sp.train_origins >= lo - gap) & (sp.train_origins <= hi + gap)).any()
        assert not sp.garch_mask[(sp.garch_mask.index >= lo) & (sp.garch_mask.index <= hi)].any()


def test_default_test_start_is_data_relative_for_a_universe_ending_2018():
    old = make_synthetic_universe(n_funds=8, seed=3, start="2009-01-02", end="2018-12-28")
    res = run_stage1(old, _config(), progress=False)
    # half of the funds (4 of 8) have 104 weekly returns before the test start: by hand
    first = old.returns.notna().idxmax()
    pos = sorted(old.dates.get_loc(d) + 104 for d in first)
    assert res.schedule.test_start == old.dates[pos[3]]
    assert res.forecasts["origin"].max() == pd.Timestamp("2019-01-04")
    assert "data-relative" in res.summary["test_start_rule"]
    assert res.summary["n_test_points"] > 1000


def test_explicit_test_start_is_validated(panel):
    small = panel.subset(panel.fund_ids[:3])
    for bad, match in [("2020-01-01", "not a week"), ("2016-07-01", "no training samples"),
                       ("2024-01-05", "not a week")]:
        with pytest.raises(ConfigError, match=match):
            run_stage1(small, _config(models=("Naive",), cv=False, test_start=bad), progress=False)
    with pytest.raises(ValidationError, match="not a date"):
        Stage1Config(test_start="soon")
    with pytest.raises(ValidationError, match="needs start and end"):
        HighVolRegime(method="window", start="2020-03-01")


def test_high_vol_regime_quantile_and_empty_window(result):
    p = result.predictions
    weekly = p.groupby("date")["y"].mean()
    top = weekly.index[weekly >= np.quantile(weekly, 0.9)]
    n_top = int(p["date"].isin(top).sum())
    assert result.tables["fig9_regimes"].loc[HighVolRegime().name(), "n_points"] == n_top
    from qmtl_research.volatility.evaluation import regimes

    window = HighVolRegime(method="window", start="2012-03-01", end="2012-04-30")
    table, notes = regimes(p, MODELS, window)
    assert window.name() not in table.index and len(table) == 2
    assert len(notes) == 1 and "left out" in notes[0]
    covid = HighVolRegime(method="window", start="2020-03-01", end="2020-04-30")
    table, notes = regimes(p, MODELS, covid)
    sel = (p["date"] >= "2020-03-01") & (p["date"] <= "2020-04-30")
    assert table.loc[covid.name(), "GARCH"] == pytest.approx(np.sqrt(np.mean((p.loc[sel, "y"] - p.loc[sel, "GARCH"]) ** 2)))
    assert not notes


def test_qlike_definition():
    c4 = 0.9213177319235613                                 # c4(4), closed form
    assert qlike([10.0], [10.0 * c4])[0] == pytest.approx(0.0, abs=1e-12)
    assert qlike([10.0], [20.0 * c4])[0] == pytest.approx(0.25 - np.log(0.25) - 1)
    assert qlike([10.0], [10.0])[0] == pytest.approx(c4 ** 2 - np.log(c4 ** 2) - 1)
    assert np.isnan(qlike([0.0], [5.0])[0]) and np.isnan(qlike([5.0], [0.0])[0])


def test_results_recorded_in_the_store(result, tmp_path):
    from qmtl_research.pipeline import volatility_results
    from qmtl_research.results import VolatilityResults
    from qmtl_research.store.context import RunContext

    ctx = RunContext.from_params("demo", None, "vol-test-run", f"sqlite:///{tmp_path}/s.sqlite", tmp_path)
    ctx.store.create_run(ctx.key)
    volatility_results(result).record(ctx)
    stored = VolatilityResults.read(ctx.results(), required=True)
    pd.testing.assert_frame_equal(stored.table2, result.tables["table2"])
    assert stored.summary["best_model"] == result.summary["best_model"]
    pd.testing.assert_frame_equal(stored.challengers.reset_index(drop=True), result.tables["challengers"],
                                  check_dtype=False)
    assert stored.summary["best_challenger"] == result.summary["best_challenger"]


def test_plots_for_the_new_tables(result):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qmtl_research.volatility import plots

    t = result.tables
    figs = [plots.plot_design_comparison(t["design_comparison"]), plots.plot_design_comparison(t["design_comparison"], "QLIKE"),
            plots.plot_qlike(t["table2"]), plots.plot_mcs(t["mcs"]), plots.plot_garch_diagnostics(result.garch_params),
            plots.plot_regimes(t["fig9_regimes"], MODELS)]
    for fig in figs:
        ax = fig.axes[0]
        assert (ax.get_ylabel() or ax.get_xlabel()) and ax.get_title()
        plt.close(fig)
    assert len(figs[0].axes[0].patches) == 2 * len(MODELS)          # both designs, every model
