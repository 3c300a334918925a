"""Fund-level VaR/ES of the stage-1 models: out of time, against independent references
(arch for the GARCH variance, numpy quantiles for historical simulation, a hand EWMA loop)."""
import math

import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from scipy import stats

from qmtl_research.data.panel import FundPanel
from qmtl_research.data.synthetic import make_synthetic_universe
from qmtl_research.risk.backtests import Empirical
from qmtl_research.risk.fund_var import FundRiskConfig, fund_risk
from qmtl_research.volatility import Stage1Config, run_stage1

CFG = Stage1Config(models=("GARCH", "Naive"), cv=False, seed=1, mcs_reps=200)


@pytest.fixture(scope="module")
def panel():
    return make_synthetic_universe(n_funds=5, seed=20230831)


@pytest.fixture(scope="module")
def study(panel):
    return run_stage1(panel, CFG, progress=False)


@pytest.fixture(scope="module")
def fr(panel, study):
    return fund_risk(panel.returns, study, FundRiskConfig(n_sims=199))


def _row(fr, model, fund, origin):
    f = fr.forecasts
    return f[(f["model"] == model) & (f["fund_id"] == fund) & (f["origin"] == origin)].iloc[0]


def test_garch_var_es_against_arch_fixed_parameters(panel, study, fr):
    fund = study.forecasts["fund_id"].iloc[0]
    params = study.garch_params
    p = params[params["fund_id"] == fund].sort_values("fit_date").iloc[0]
    origin = pd.Timestamp(p["fit_date"]) + pd.Timedelta(weeks=10)         # same estimation in force
    r = panel.returns[fund]
    y = r.loc[:origin].iloc[:-1].dropna() / p["scale"]                       # returns before the origin
    res = arch_model(y, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False).fix(
        [p["mu"], p["omega"], p["alpha"], p["beta"]])
    sigma = math.sqrt(res.forecast(horizon=1, reindex=False).variance.iloc[-1, 0]) * p["scale"]
    mu = p["mu"] * p["scale"]
    row = _row(fr, "GARCH", fund, origin)
    assert row["sigma"] == pytest.approx(sigma, rel=1e-6)
    for c in (0.975, 0.99):
        q = stats.norm.ppf(c)
        k = f"{c * 100:g}"
        assert row[f"var_{k}"] == pytest.approx(-mu + sigma * q, rel=1e-6)
        assert row[f"es_{k}"] == pytest.approx(-mu + sigma * stats.norm.pdf(q) / (1 - c), rel=1e-6)
    assert row["return"] == r.loc[origin]
    assert row["pit"] == pytest.approx(stats.norm.cdf((r.loc[origin] - mu) / sigma), rel=1e-6)


def test_historical_and_ewma_by_independent_computation(panel, study, fr):
    fund = study.forecasts["fund_id"].iloc[1]
    r = panel.returns[fund].dropna()
    origin = study.forecasts.loc[study.forecasts["fund_id"] == fund, "origin"].iloc[40]
    past = r.loc[:origin].iloc[:-1]
    win = past.iloc[-260:].to_numpy()
    row = _row(fr, "Historical", fund, origin)
    for c in (0.975, 0.99):
        a = 1 - c
        k = f"{c * 100:g}"
        assert row[f"var_{k}"] == pytest.approx(-np.quantile(win, a, method="inverted_cdf"))
        srt = np.sort(win)
        m = win.size
        kk = math.ceil(a * m)
        assert row[f"es_{k}"] == pytest.approx(-(srt[:kk - 1].sum() + (a * m - kk + 1) * srt[kk - 1]) / (a * m))
    assert row["pit"] == pytest.approx(np.mean(win <= r.loc[origin]))
    s2 = np.mean(r.to_numpy()[:30] ** 2)                                      # RiskMetrics by hand
    for x in past.to_numpy():
        s2 = 0.94 * s2 + 0.06 * x * x
    e = _row(fr, "EWMA", fund, origin)
    assert e["sigma"] == pytest.approx(math.sqrt(s2), rel=1e-10)
    assert e["var_99"] == pytest.approx(math.sqrt(s2) * stats.norm.ppf(0.99), rel=1e-10)


def test_fhs_tail_is_the_filtered_scenarios(study, fr):
    f = fr.forecasts
    g = f[f["model"] == "GARCH"].set_index(["fund_id", "origin"])
    h = f[f["model"] == "FHS-GARCH"].set_index(["fund_id", "origin"])
    assert (g["sigma"].reindex(h.index) == h["sigma"]).all()                  # same sigma_t as the GARCH rows
    assert ((h["es_99"] > h["var_99"]) & (h["var_99"] > h["var_97.5"])).all()
    assert h["pit"].dropna().between(0, 1).all()


def test_every_row_is_forecast_or_listed(study, fr):
    models = ("GARCH", "FHS-GARCH", "EWMA", "Historical")
    panel_rows = study.forecasts[["fund_id", "origin"]]
    for m in models:
        got = fr.forecasts.loc[fr.forecasts["model"] == m, ["fund_id", "origin"]]
        miss = fr.not_tested[(fr.not_tested["model"] == m) & fr.not_tested["origin"].notna()
                             & ~fr.not_tested["reason"].str.startswith("forecast only")]
        assert len(got) + len(miss) == len(panel_rows), m
    now = study.forecasts["origin"].max()
    assert (fr.forecasts.loc[fr.forecasts["origin"] == now, "return"].isna()).all()
    assert (fr.not_tested["reason"] == "forecast only: the week's return is not observed yet").sum() == 4 * 5
    bt = fr.backtests
    pooled = bt[bt["scope"] == "pooled"]
    assert len(pooled) == 8 and set(pooled["level"]) == {0.975, 0.99}
    for (m, lv), grp in bt[bt["scope"] == "fund"].groupby(["model", "level"]):
        p = pooled[(pooled["model"] == m) & (pooled["level"] == lv)].iloc[0]
        assert grp["exceptions"].sum() == p["exceptions"] and grp["n"].sum() == p["n"]
    assert {"z1_p", "z2_p", "mf_p", "de_u_p", "de_c_p", "dq_p", "dur_p", "multiplier"} <= set(bt.columns)


def test_no_look_ahead(panel, study, fr):
    cut = study.forecasts["origin"].sort_values().unique()[60]
    r = panel.returns.copy()
    r.loc[r.index >= cut] = r.loc[r.index >= cut] * 5.0                      # change only the future
    shocked = FundPanel(r, panel.metadata, panel.benchmarks, "shock", True, {})
    other = fund_risk(shocked.returns, run_stage1(shocked, CFG, progress=False), FundRiskConfig(n_sims=199))
    cols = ["var_97.5", "es_97.5", "var_99", "es_99", "sigma"]
    a = fr.forecasts[fr.forecasts["origin"] <= cut].set_index(["model", "fund_id", "origin"])[cols]
    b = other.forecasts[other.forecasts["origin"] <= cut].set_index(["model", "fund_id", "origin"])[cols]
    pd.testing.assert_frame_equal(a.sort_index(), b.sort_index())


def test_tail_only_empirical_equals_the_full_scenarios():
    rng = np.random.default_rng(3)
    full = rng.standard_normal((50, 300))
    full[:10, 200:] = np.nan
    d = Empirical(full)
    srt = np.sort(full, axis=1)[:, :12]
    t = Empirical(srt, d.counts)
    for c in (0.975, 0.99):
        np.testing.assert_allclose(t.var_es(c), d.var_es(c))
    v, _ = d.var_es(0.975)
    np.testing.assert_allclose(t.cdf(-v), d.cdf(-v))
    assert np.isnan(t.cdf(np.zeros(50))).all()                                # beyond the stored tail


def test_tied_tail_a_stale_fund_keeps_every_tied_scenario():
    """A fund with mostly 0.0 weeks (stale prices): the k-th smallest scenario is tied with many
    later ones. The stored tail must hold the whole tie (and the next larger value) so the cdf at
    the VaR, and the Acerbi-Szekely null draws that need it, equal the full scenarios' (the
    us-1999-2018 report failed in ``simulate_z`` on such a fund)."""
    from qmtl_research.risk.backtests import simulate_z
    from qmtl_research.risk.fund_var import _empirical_rows

    rng = np.random.default_rng(0)
    n, window = 50, 200
    w = np.where(rng.uniform(size=(n, window)) < 0.9, 0.0, rng.normal(size=(n, window)))
    tail, counts, _ = _empirical_rows(w, np.zeros(n), np.ones(n), np.zeros(n), [0.975, 0.99])
    stored, full = Empirical(tail, counts), Empirical(w)
    for level in (0.975, 0.99):
        v, e = stored.var_es(level)
        v_full, e_full = full.var_es(level)
        np.testing.assert_allclose(v, v_full)
        np.testing.assert_allclose(e, e_full)
        np.testing.assert_array_equal(stored.cdf(-v), full.cdf(-v))   # finite: no NaN beyond the tail
    keep = e > v                                                       # ES > VaR (a non-degenerate tail)
    z_stored = simulate_z(Empirical(tail[keep], counts[keep]), v[keep], e[keep], 0.99, n_sims=200, seed=1)
    z_full = simulate_z(Empirical(w[keep]), v[keep], e[keep], 0.99, n_sims=200, seed=1)
    np.testing.assert_allclose(z_stored, z_full)
