"""The VaR/ES backtest suite against closed forms, hand cases, independent libraries,
MATLAB's published numbers and simulation under a known truth."""
import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import integrate, optimize, stats

from qmtl_research.errors import InputError
from qmtl_research.risk.backtests import (TESTS, Empirical, LocationScale, acerbi_szekely, acerbi_szekely_z1,
                                          acerbi_szekely_z2, conditional_coverage, cumulative_violations,
                                          du_escanciano_conditional, du_escanciano_unconditional, duration_test,
                                          dynamic_quantile, frtb_multiplier, kupiec_pof, kupiec_tuff, mcneil_frey,
                                          run_panel, run_suite, simulate_z, traffic_light)
from qmtl_research.risk.backtests.es_tests import bernoulli_positions, mc_p_value
from qmtl_research.risk.backtests.var_tests import durations


# ----------------------------------------------------------------- MATLAB's published examples
def test_matlab_varbacktest_pof_and_tuff_numbers():
    # MATLAB varbacktest docs (EquityIndex, Normal95): 1043 observations, 57 failures,
    # POF LR 0.46147 p 0.49694; first failure at 58: TUFF LR 1.7354 p 0.18773.
    lr, p = kupiec_pof(1043, 57, 0.95)
    assert lr == pytest.approx(0.46147, abs=5e-6) and p == pytest.approx(0.49694, abs=5e-6)
    hits = np.zeros(1043, bool)
    hits[57] = True
    t = kupiec_tuff(hits, 0.95)
    assert t["first_failure"] == 58
    assert t["lr"] == pytest.approx(1.7354, abs=5e-5) and t["p_value"] == pytest.approx(0.18773, abs=5e-6)


def test_tuff_without_failure_is_censored_at_n_plus_one():
    t = kupiec_tuff(np.zeros(10, bool), 0.99)
    v, p = 11, 0.01
    lr = -2 * (math.log(p) + (v - 1) * math.log(1 - p)) + 2 * (math.log(1 / v) + (v - 1) * math.log(1 - 1 / v))
    assert t["first_failure"] == 11 and t["lr"] == pytest.approx(lr, rel=1e-12)


# ----------------------------------------------------------------- traffic light and FRTB
def test_frtb_multiplier_table_and_zones():
    table = [frtb_multiplier(x) for x in range(13)]
    assert table == [1.5] * 5 + [1.70, 1.76, 1.83, 1.88, 1.92] + [2.0] * 3
    for n, c in ((500, 0.99), (250, 0.975), (1000, 0.975), (60, 0.99)):
        for x in range(0, min(n, 60)):
            m, z = frtb_multiplier(x, n, c), traffic_light(x, n, c)
            assert (m == 1.5) == (z == "green") and (m == 2.0) == (z == "red"), (n, c, x, m, z)
    with pytest.raises(InputError):
        frtb_multiplier(300, 250)


def test_conditional_coverage_is_pof_plus_independence():
    hits = np.array([0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0], bool)
    cc = conditional_coverage(hits, 0.9)
    assert cc["lr"] == pytest.approx(cc["lr_pof"] + cc["lr_ind"])
    assert cc["p_value"] == pytest.approx(math.exp(-cc["lr"] / 2))          # chi2(2) survival closed form


# ----------------------------------------------------------------- durations
def test_durations_and_censoring_by_hand():
    d, c = durations([0, 0, 1, 0, 1, 1, 0, 0, 0])
    assert d.tolist() == [3, 2, 1, 3] and c.tolist() == [True, False, False, True]
    d, c = durations([1, 0, 0, 1])
    assert d.tolist() == [1, 3] and c.tolist() == [False, False]


def test_duration_test_matches_unconstrained_weibull_likelihood():
    rng = np.random.default_rng(3)
    hits = rng.random(800) < 0.05
    d, cens = durations(hits)

    def negll(theta):                                  # the full two-parameter likelihood, no profiling
        a, b = np.exp(theta)
        ll_f = np.log(a ** b * b) + (b - 1) * np.log(d) - (a * d) ** b
        ll_s = -(a * d) ** b
        return -np.sum(np.where(cens, ll_s, ll_f))

    full = optimize.minimize(negll, [math.log(0.05), 0.0], method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 5000})
    null = optimize.minimize_scalar(lambda la: negll([la, 0.0]), bounds=(-10, 2), method="bounded",
                                    options={"xatol": 1e-12})
    lr = 2 * (null.fun - full.fun)
    res = duration_test(hits)
    assert res["lr"] == pytest.approx(lr, abs=1e-5)
    assert res["b"] == pytest.approx(math.exp(full.x[1]), rel=1e-4)


def test_duration_shape_equals_scipy_weibull_fit_without_censoring():
    gaps = np.array([3, 7, 1, 12, 5, 2, 9, 4, 15, 6])
    hits = np.zeros(int(gaps.sum()) + 1, bool)
    hits[np.r_[0, np.cumsum(gaps)]] = True              # starts and ends with a hit: nothing censored
    d, cens = durations(hits)
    assert not cens.any() and d.tolist() == [1] + gaps.tolist()
    shape, _, _ = stats.weibull_min.fit(d, floc=0)
    assert duration_test(hits)["b"] == pytest.approx(shape, rel=1e-4)
    clustered = np.zeros(500, bool)
    clustered[[100, 101, 102, 103, 300, 301, 302, 303, 304]] = True
    assert duration_test(clustered)["b"] < 1 and duration_test(clustered)["p_value"] < 0.01


# ----------------------------------------------------------------- DQ
def test_dq_equals_statsmodels_ols_projection():
    rng = np.random.default_rng(5)
    var = 0.02 + 0.01 * rng.random(400)
    hits = rng.random(400) < 0.03
    p, k = 0.025, 4
    res = dynamic_quantile(hits, var, 0.975, k)
    hit = hits.astype(float) - p
    y = hit[k:]
    X = np.column_stack([np.ones_like(y)] + [hit[k - j:-j] for j in range(1, k + 1)] + [var[k:]])
    fit = sm.OLS(y, X).fit()
    assert res["stat"] == pytest.approx(fit.fittedvalues @ fit.fittedvalues / (p * (1 - p)), rel=1e-10)
    assert res["dof"] == 6 and res["p_value"] == pytest.approx(stats.chi2.sf(res["stat"], 6))


# ----------------------------------------------------------------- distributions
def test_location_scale_var_es_against_numerical_integration():
    for dof in (math.inf, 5.0):
        d = LocationScale(np.array([0.001]), np.array([0.02]), dof)
        var, es = (float(x[0]) for x in d.var_es(0.975))
        law = stats.norm(0.001, 0.02) if math.isinf(dof) else stats.t(dof, 0.001, 0.02 * math.sqrt((dof - 2) / dof))
        assert law.std() == pytest.approx(0.02)
        assert var == pytest.approx(-law.ppf(0.025), rel=1e-9)
        tail = integrate.quad(lambda x: x * law.pdf(x), -np.inf, -var)[0] / 0.025
        assert es == pytest.approx(-tail, rel=1e-6)
        assert float(d.cdf(np.array([-var]))[0]) == pytest.approx(0.025, rel=1e-9)
        back = LocationScale.from_var_es(np.array([var]), np.array([es]), 0.975, dof)
        assert back.mu[0] == pytest.approx(0.001, abs=1e-12) and back.sigma[0] == pytest.approx(0.02, rel=1e-10)
    with pytest.raises(InputError, match="not above VaR"):
        LocationScale.from_var_es(np.array([0.03]), np.array([0.02]), 0.975)


def test_empirical_var_es_by_hand():
    s = np.array([[-0.05, -0.04, 0.01, 0.02, -0.01, 0.0, 0.03, 0.01, -0.02, 0.04],
                  [-0.1, -0.08, 0.0, 0.01, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan]])
    d = Empirical(s)
    var, es = d.var_es(0.85)              # alpha m = 1.5 (row 0), 0.6 (row 1)
    assert var[0] == pytest.approx(0.04) and es[0] == pytest.approx((0.05 + 0.5 * 0.04) / 1.5)
    assert var[1] == pytest.approx(0.1) and es[1] == pytest.approx(0.1)
    assert d.cdf(np.array([-0.04, 0.0])).tolist() == [0.2, 0.75]
    assert d.ppf_at(np.array([0, 1]), np.array([0.15, 0.3])).tolist() == [-0.04, -0.08]


# ----------------------------------------------------------------- ES statistics by hand
def test_z1_z2_mcneil_frey_by_hand():
    r = np.array([0.01, -0.03, 0.0, -0.05, 0.02])
    var = np.full(5, 0.02)
    es = np.array([0.03, 0.025, 0.03, 0.04, 0.03])
    # exceptions at t=1 (loss 3 %, ES 2.5 %) and t=3 (loss 5 %, ES 4 %)
    assert acerbi_szekely_z1(r, var, es) == pytest.approx(1 - (0.03 / 0.025 + 0.05 / 0.04) / 2)
    assert acerbi_szekely_z2(r, var, es, 0.9) == pytest.approx(1 - (0.03 / 0.025 + 0.05 / 0.04) / (5 * 0.1))
    assert acerbi_szekely_z1(r, np.full(5, 0.2), es) == 0.0
    rng = np.random.default_rng(0)
    r = rng.standard_normal(300) * 0.01
    var = np.full(300, 0.015)
    es = np.full(300, 0.018)
    sig = 0.005 + 0.01 * rng.random(300)
    mf = mcneil_frey(r, var, es, sig, n_boot=500)
    hit = -r > var
    ref = stats.ttest_1samp((-r[hit] - es[hit]) / sig[hit], 0.0)
    assert mf["stat"] == pytest.approx(ref.statistic, rel=1e-10) and mf["n_exceptions"] == int(hit.sum())
    assert mf == mcneil_frey(r, var, es, sig, n_boot=500)                   # seeded


def test_du_escanciano_by_hand():
    u = np.array([0.01, 0.5, 0.03, 0.001, 0.9, 0.02])
    h = cumulative_violations(u, 0.975)
    assert h.tolist() == pytest.approx([(0.025 - 0.01) / 0.025, 0, 0, (0.025 - 0.001) / 0.025, 0, 0.2])
    a = 0.025
    stat = math.sqrt(6) * (h.mean() - a / 2) / math.sqrt(a * (1 / 3 - a / 4))
    res = du_escanciano_unconditional(u, 0.975)
    assert res["stat"] == pytest.approx(stat) and res["p_value"] == pytest.approx(math.erfc(abs(stat) / math.sqrt(2)))
    x = h - a / 2
    g0 = np.mean(x * x)
    g1 = np.sum(x[1:] * x[:-1]) / 5
    g2 = np.sum(x[2:] * x[:-2]) / 4
    c = du_escanciano_conditional(u, 0.975, lags=2)
    assert c["stat"] == pytest.approx(6 * ((g1 / g0) ** 2 + (g2 / g0) ** 2))
    assert c["p_value"] == pytest.approx(math.exp(-c["stat"] / 2))
    with pytest.raises(InputError):
        cumulative_violations([0.2, 1.5], 0.975)


# ----------------------------------------------------------------- simulation machinery
def test_bernoulli_positions_are_a_bernoulli_process():
    rng = np.random.default_rng(1)
    sim, t = bernoulli_positions(400, 0.03, 4000, rng)
    assert t.min() >= 0 and t.max() < 400
    key = sim * 400 + t
    assert np.unique(key).size == key.size                                   # no position twice
    counts = np.bincount(sim, minlength=4000)
    assert counts.mean() == pytest.approx(12.0, abs=4 * math.sqrt(400 * 0.03 * 0.97 / 4000))
    assert counts.var() == pytest.approx(400 * 0.03 * 0.97, rel=0.1)
    occ = np.bincount(t, minlength=400) / 4000                                 # every period equally likely
    assert stats.chisquare(occ * 4000).pvalue > 1e-4


def test_z2_has_expectation_zero_and_simulate_z_matches_brute_force():
    rng = np.random.default_rng(7)
    n = 250
    mu = rng.normal(0, 0.001, n)
    sigma = 0.01 + 0.01 * rng.random(n)
    d = LocationScale(mu, sigma, math.inf)
    var, es = d.var_es(0.975)
    z1, z2 = simulate_z(d, var, es, 0.975, 4000, seed=11)
    assert abs(z2.mean()) < 4 * z2.std() / math.sqrt(z2.size)               # E[Z2] = 0 under the model
    # brute force: full normal paths, the statistics computed by their definitions
    x = mu + sigma * rng.standard_normal((4000, n))
    hit = -x > var
    bz2 = 1 - np.sum(np.where(hit, -x / es, 0.0), axis=1) / (n * 0.025)
    k = hit.sum(axis=1)
    bz1 = np.where(k > 0, 1 - np.sum(np.where(hit, -x / es, 0.0), axis=1) / np.maximum(k, 1), 0.0)
    assert stats.ks_2samp(z2, bz2).pvalue > 1e-3 and stats.ks_2samp(z1, bz1).pvalue > 1e-3
    a, b = simulate_z(d, var, es, 0.975, 300, seed=5), simulate_z(d, var, es, 0.975, 300, seed=5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])          # same seed, same draws
    assert mc_p_value(-10.0, z2) == pytest.approx(1 / 4001)


def test_simulate_z_from_empirical_distribution():
    rng = np.random.default_rng(9)
    scen = rng.standard_t(5, (120, 200)) * 0.01
    d = Empirical(scen)
    var, es = d.var_es(0.975)
    z1, z2 = simulate_z(d, var, es, 0.975, 3000, seed=2)
    rows = np.arange(120)
    x = scen[rows, rng.integers(0, 200, (3000, 120))]                        # brute force resampling
    hit = -x > var
    bz2 = 1 - np.sum(np.where(hit, -x / es, 0.0), axis=1) / (120 * 0.025)
    assert stats.ks_2samp(z2, bz2).pvalue > 1e-3


# ----------------------------------------------------------------- size and power
def _paths(R, n, rng, sigma_forecast=1.0, dof=math.inf):
    true = LocationScale(np.zeros(n), np.full(n, 0.01), math.inf)
    fc = LocationScale(np.zeros(n), np.full(n, 0.01 * sigma_forecast), dof)
    return true, fc, rng.standard_normal((R, n)) * 0.01


def _rejections(R, n, sigma_forecast, seed):
    rng = np.random.default_rng(seed)
    _, fc, paths = _paths(R, n, rng, sigma_forecast)
    var, es = fc.var_es(0.975)
    rej = {}
    for i in range(R):
        res = run_suite(paths[i], var, es, 0.975, fc, n_sims=199, seed=i)
        for k in ("pof_p", "cc_p", "ind_p", "dur_p", "dq_p", "z1_p", "z2_p", "mf_p", "de_u_p", "de_c_p", "tuff_p"):
            p = res[k]
            rej.setdefault(k, []).append(p < 0.05 if np.isfinite(p) else False)
    return {k: float(np.mean(v)) for k, v in rej.items()}


def test_size_at_five_percent_within_binomial_band():
    R = 300
    rates = _rejections(R, 500, 1.0, seed=21)
    lo, hi = stats.binom.ppf([0.0005, 0.9995], R, 0.05) / R
    # asymptotic tests on a few exceptions are known to be conservative (the discrete LR tests,
    # McNeil-Frey's bootstrap on ~12 residuals): their size must not exceed the band.
    for k in ("pof_p", "z2_p", "de_u_p", "de_c_p", "dq_p"):
        assert lo <= rates[k] <= hi, (k, rates[k], lo, hi)
    for k in ("cc_p", "ind_p", "dur_p", "z1_p", "mf_p", "tuff_p"):
        assert rates[k] <= hi, (k, rates[k], hi)


def test_power_against_understated_var_and_es():
    rates = _rejections(100, 500, 0.7, seed=22)          # forecasts at 70 % of the true volatility
    for k in ("pof_p", "z1_p", "z2_p", "de_u_p", "mf_p"):
        assert rates[k] >= 0.6, (k, rates[k])
    assert rates["z2_p"] >= 0.9 and rates["pof_p"] >= 0.8


# ----------------------------------------------------------------- suite and panel
def test_run_suite_and_panel_are_consistent():
    rng = np.random.default_rng(4)
    n = 300
    d = LocationScale(np.zeros(2 * n), np.full(2 * n, 0.01), math.inf)
    var, es = d.var_es(0.99)
    r = rng.standard_normal(2 * n) * 0.012
    import pandas as pd

    frame = pd.DataFrame({"series": ["B"] * n + ["A"] * n, "date": np.r_[np.arange(n), np.arange(n)],
                          "return": r, "var": var, "es": es})
    pooled, per, skipped = run_panel(frame, 0.99, d, n_sims=200)
    assert pooled["n"] == 2 * n and skipped.empty and per["series"].tolist() == ["A", "B"]
    one = run_suite(r[n:], var[n:], es[n:], 0.99, LocationScale(np.zeros(n), np.full(n, 0.01), math.inf),
                    n_sims=200, seed=0)
    a = per.set_index("series").loc["A"]
    for k in ("exceptions", "pof_lr", "dq_stat", "dur_lr", "z2", "de_u", "mf_stat"):
        assert a[k] == pytest.approx(one[k], nan_ok=True)
    assert abs(a["z2_p"] - one["z2_p"]) < 4 * math.sqrt(one["z2_p"] * (1 - one["z2_p"]) / 200) + 2 / 200
    assert pooled["exceptions"] == per["exceptions"].sum()
    assert run_suite(r, var, None, 0.99).keys().isdisjoint({"z1", "de_u"})
    _, _, skipped = run_panel(frame, 0.99, d, n_sims=50, min_obs=400)
    assert skipped["series"].tolist() == ["A", "B"] and "fewer than 400" in skipped["reason"][0]


def test_registry_lists_every_test_with_a_paper():
    assert {k for k, v in TESTS.items() if v[0] == "ES"} == {"Acerbi-Szekely Z1", "Acerbi-Szekely Z2", "McNeil-Frey",
                                                             "Du-Escanciano U", "Du-Escanciano C"}
    for name, (kind, fn, paper) in TESTS.items():
        assert fn.__doc__ and "Returns" in fn.__doc__ and any(ch.isdigit() for ch in paper), name


def test_grouped_simulation_gives_each_series_its_own_null():
    from qmtl_research.risk.backtests.es_tests import simulate_z_groups

    rng = np.random.default_rng(12)
    n = 400
    sigma = np.r_[np.full(n // 2, 0.01), np.full(n // 2, 0.03)]
    d = LocationScale(np.zeros(n), sigma, 4.0)
    var, es = d.var_es(0.975)
    groups = np.r_[np.zeros(n // 2, int), np.ones(n // 2, int)]
    z1, z2 = simulate_z_groups(d, var, es, 0.975, groups, 3000, seed=4)
    assert z1.shape == (3000, 2)
    for g in (0, 1):                        # same law as simulating the series alone
        rows = groups == g
        alone = simulate_z(LocationScale(np.zeros(n // 2), sigma[rows], 4.0), var[rows], es[rows], 0.975, 3000, seed=9)
        assert stats.ks_2samp(z2[:, g], alone[1]).pvalue > 1e-3 and stats.ks_2samp(z1[:, g], alone[0]).pvalue > 1e-3
    assert stats.pearsonr(z2[:, 0], z2[:, 1])[1] > 1e-3           # independent across series


def test_pooled_null_from_the_grouped_paths_equals_one_simulation_of_all_rows():
    """The pooled (Z1, Z2) draws run_panel takes from the grouped simulation are those of one
    simulation of all rows with the same seed (same paths, summed over the groups)."""
    from qmtl_research.risk.backtests.es_tests import simulate_z_groups

    rng = np.random.default_rng(4)
    n = 900
    d = LocationScale(np.zeros(n), 0.01 * np.exp(0.3 * rng.standard_normal(n)), np.where(np.arange(n) % 2, 5.0, math.inf))
    var, es = d.var_es(0.975)
    groups = np.repeat(np.arange(3), n // 3)
    z1g, z2g, z1a, z2a = simulate_z_groups(d, var, es, 0.975, groups, 300, seed=9, with_total=True)
    z1, z2 = simulate_z(d, var, es, 0.975, 300, seed=9)
    np.testing.assert_allclose(z1a, z1, rtol=0, atol=1e-12)
    np.testing.assert_allclose(z2a, z2, rtol=0, atol=1e-12)
    g1, g2 = simulate_z_groups(d, var, es, 0.975, groups, 300, seed=9)      # the per-group draws are unchanged
    np.testing.assert_array_equal(g1, z1g)
    np.testing.assert_array_equal(g2, z2g)


def test_mcneil_frey_of_many_series_equals_one_by_one():
    from qmtl_research.risk.backtests.es_tests import mcneil_frey_groups

    rng = np.random.default_rng(12)
    sizes = [240, 240, 120, 240, 60, 240, 5, 240]
    n = sum(sizes)
    sigma = 0.01 * np.exp(0.4 * rng.standard_normal(n))
    r = sigma * rng.standard_t(4, n) / math.sqrt(2)
    var, es = 2.0 * sigma, 2.4 * sigma
    bounds = np.cumsum([0] + sizes)
    spans = list(zip(bounds[:-1], bounds[1:]))
    got = mcneil_frey_groups(r, var, es, sigma, spans, 500, [7 + j for j in range(len(spans))])
    ks = set()
    for j, (a, b) in enumerate(spans):
        one = mcneil_frey(r[a:b], var[a:b], es[a:b], sigma[a:b], 500, 7 + j)
        assert got[j].keys() == one.keys()
        for key in one:
            assert (got[j][key] == one[key]) or (math.isnan(got[j][key]) and math.isnan(one[key])), (j, key)
        ks.add(one["n_exceptions"])
    assert len(ks) >= 3 and min(ks) < 2          # several exception counts, and a series too short to test
