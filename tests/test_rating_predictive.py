"""The predictive grade distribution (rating/predictive.py) and the calibration scores
(rating/calibration.py) against independent references: the chi-square law of the sample
variance of iid normal returns, a numerical integral for a partly observed window, the GARCH
variance forecast recursion, arch's filtered one-step variance, and hand-computed scores."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from qmtl_research.data.panel import FundPanel
from qmtl_research.errors import InputError
from qmtl_research.grades import load_scheme
from qmtl_research.rating.calibration import (PREDICTIVE_APPROACH, SVC_APPROACH, calibration_scores,
                                              compare_calibration, reliability_table)
from qmtl_research.rating.predictive import (garch_state, grade_probabilities, path_values, predictive_panel,
                                             simulate_garch_returns)

KR = load_scheme("kr-2016")
ANN = math.sqrt(52) * 100.0


def _band_probs_full_window(sigma: float, n: int) -> np.ndarray:
    """P(grade = k) of kr-2016 when all n weekly returns are iid N(mu, sigma^2):
    (n - 1) s^2 / sigma^2 ~ chi2(n - 1), annualised std = s sqrt(52) 100."""
    out = np.zeros(KR.n_grades)
    for g in KR.grade_numbers:
        lo, hi = KR.lower_bound(g), KR.upper_bound(g)
        cdf = lambda v: 1.0 if math.isinf(v) else stats.chi2.cdf((v / ANN) ** 2 * (n - 1) / sigma ** 2, n - 1)
        out[g - 1] = cdf(hi) - (cdf(lo) if lo > 0 else 0.0)
    return out


def _band_probs_partial(known: np.ndarray, r: int, mu: float, sigma: float) -> np.ndarray:
    """P(grade = k) when ``known`` is observed and r more returns are iid N(mu, sigma^2):
    (n-1) s^2 = SS_x + SS_y + (m r / n)(xbar - ybar)^2 with SS_y / sigma^2 ~ chi2(r - 1) independent
    of ybar ~ N(mu, sigma^2 / r); integrated over ybar numerically."""
    m = len(known)
    n = m + r
    ssx, xbar = float(((known - known.mean()) ** 2).sum()), float(known.mean())
    sd = sigma / math.sqrt(r)

    def cdf(v):
        if math.isinf(v):
            return 1.0
        c = (v / ANN) ** 2 * (n - 1)

        def f(yb):
            rest = (c - ssx - (m * r / n) * (xbar - yb) ** 2) / sigma ** 2
            return stats.norm.pdf(yb, mu, sd) * (stats.chi2.cdf(rest, r - 1) if rest > 0 else 0.0)
        return integrate.quad(f, mu - 10 * sd, mu + 10 * sd, limit=200, points=[xbar])[0]

    out = np.zeros(KR.n_grades)
    for g in KR.grade_numbers:
        lo, hi = KR.lower_bound(g), KR.upper_bound(g)
        out[g - 1] = cdf(hi) - (cdf(lo) if lo > 0 else 0.0)
    return out


def _within_binomial(p_hat: np.ndarray, p: np.ndarray, n: int, z: float = 4.5) -> None:
    band = z * np.sqrt(np.maximum(p * (1 - p), 1e-12) / n) + 1e-9
    assert np.all(np.abs(p_hat - p) <= band), (p_hat, p, band)


def test_iid_normal_full_window_matches_the_chi_square_law():
    sigma = 0.148 / math.sqrt(52)                   # annualised 14.8 %: grades 3 and 2 both likely
    n_paths = 20000
    sims = simulate_garch_returns(0.001, sigma ** 2, 0.0, 0.0, sigma ** 2, 156, n_paths,
                                  np.random.default_rng(7))
    probs = grade_probabilities(KR, path_values(KR, [], sims))
    ref = _band_probs_full_window(sigma, 156)
    assert ref[2] > 0.3 and ref[1] > 0.2            # the test is informative: two grades in play
    _within_binomial(probs, ref, n_paths)


def test_partly_observed_window_matches_the_integral():
    rng = np.random.default_rng(3)
    sigma, mu, r = 15.0 / ANN, 0.0005, 13          # 15 % a year, the grade 2/3 edge
    known = rng.normal(0.0, 1.0, 156 - r)
    known = (known - known.mean()) / known.std(ddof=1) * sigma + mu   # the known part sits on the edge
    n_paths = 20000
    sims = simulate_garch_returns(mu, sigma ** 2, 0.0, 0.0, sigma ** 2, r, n_paths, np.random.default_rng(11))
    probs = grade_probabilities(KR, path_values(KR, known, sims))
    ref = _band_probs_partial(known, r, mu, sigma)
    assert abs(ref.sum() - 1) < 1e-6
    assert 0.05 < ref.max() < 0.95                  # not a foregone grade
    _within_binomial(probs, ref, n_paths)


def test_the_simulated_variance_follows_the_garch_forecast_recursion():
    from qmtl_research.volatility.garch_engine import forecast_variances

    mu, omega, alpha, beta, h1 = 0.0, 2e-5, 0.12, 0.8, 9e-4
    n_paths, k = 200000, 8
    sims = simulate_garch_returns(mu, omega, alpha, beta, h1, k, n_paths, np.random.default_rng(5))
    ref = forecast_variances(np.array([h1]), np.array([[mu, omega, alpha, beta]]), k)[0]
    ref_hand = [h1]
    for _ in range(k - 1):
        ref_hand.append(omega + (alpha + beta) * ref_hand[-1])
    np.testing.assert_allclose(ref, ref_hand, rtol=1e-12)
    e2 = (sims - mu) ** 2
    se = e2.std(axis=0) / math.sqrt(n_paths)
    assert np.all(np.abs(e2.mean(axis=0) - ref) <= 5 * se)


def test_student_t_and_residual_innovations():
    sims = simulate_garch_returns(0.0, 1.0, 0.0, 0.0, 1.0, 4, 200000, np.random.default_rng(1), "student_t", nu=6.0)
    assert abs(sims.var() - 1.0) < 0.03            # unit variance
    assert abs(stats.kurtosis(sims.ravel()) - 6.0 / (6.0 - 4.0)) < 0.6   # excess kurtosis 6 / (nu - 4)
    z = np.linspace(-2, 2, 21)
    sims = simulate_garch_returns(0.0, 4.0, 0.0, 0.0, 4.0, 3, 50, np.random.default_rng(2), "residuals", residuals=z)
    assert set(np.round(sims.ravel() / 2.0, 12)) <= set(np.round(z, 12))
    with pytest.raises(InputError):
        simulate_garch_returns(0.0, 1.0, 0.0, 0.0, 1.0, 4, 10, np.random.default_rng(1), "student_t", nu=2.0)
    with pytest.raises(InputError):
        simulate_garch_returns(0.0, -1.0, 0.0, 0.0, 1.0, 4, 10, np.random.default_rng(1))


def test_same_seed_same_paths():
    a = simulate_garch_returns(0.0, 1e-5, 0.1, 0.85, 4e-4, 13, 100, np.random.default_rng([0, 4]))
    b = simulate_garch_returns(0.0, 1e-5, 0.1, 0.85, 4e-4, 13, 100, np.random.default_rng([0, 4]))
    np.testing.assert_array_equal(a, b)


def test_garch_state_matches_arch_filtered_variance():
    arch_model = pytest.importorskip("arch").arch_model
    rng = np.random.default_rng(9)
    y = rng.standard_t(5, 300) * 0.02
    scale = 0.02
    mu, omega, alpha, beta = 0.05, 0.04, 0.09, 0.87        # for returns / scale
    est = pd.Series({"mu": mu, "omega": omega, "alpha": alpha, "beta": beta, "scale": scale})
    m, om, a, b, h_next, z = garch_state(y, est)
    res = arch_model(y / scale, mean="Constant", vol="GARCH", p=1, q=1, dist="normal").fix([mu, omega, alpha, beta])
    ref = float(res.forecast(horizon=1, reindex=False).variance.iloc[-1, 0]) * scale ** 2
    assert h_next == pytest.approx(ref, rel=1e-10)
    # arch's fixed-parameter filter starts from a slightly different backcast; its effect decays as beta^t
    np.testing.assert_allclose(z[-150:], res.std_resid[-150:], rtol=1e-9)
    np.testing.assert_allclose(z, res.std_resid, rtol=1e-3)
    assert (m, om, a, b) == pytest.approx((mu * scale, omega * scale ** 2, alpha, beta))


def test_daily_schemes_are_refused():
    with pytest.raises(InputError, match="weekly stage-1 model"):
        path_values(load_scheme("priips-mrm"), [], np.zeros((2, 3)))
    with pytest.raises(InputError):
        path_values(KR, np.zeros(10), np.zeros((2, 3)))       # 13 weeks, not 156


def _panel(returns: pd.DataFrame) -> FundPanel:
    meta = pd.DataFrame({"fund_type": ["equity"] * returns.shape[1], "benchmark": [""] * returns.shape[1]},
                        index=returns.columns)
    return FundPanel(returns, meta, pd.DataFrame(index=returns.index))


def test_predictive_panel_uses_the_estimation_in_force_and_the_known_window():
    rng = np.random.default_rng(21)
    dates = pd.date_range("2010-01-01", periods=300, freq="W-FRI")
    sigma = 0.02
    rets = pd.DataFrame({"f1": rng.normal(0.0, sigma, 300)}, index=dates)
    panel = _panel(rets)
    iid = dict(mu=0.0, omega=1.0, alpha=0.0, beta=0.0, scale=sigma)          # N(0, sigma^2), in force from week 150
    params = pd.DataFrame([{"design": "walk_forward", "fund_id": "f1", "fit_date": dates[150], **iid},
                           {"design": "walk_forward", "fund_id": "f1", "fit_date": dates[260],
                            **dict(iid, omega=100.0)},                         # a later estimation: not in force yet
                           {"design": "cv fold 1/4", "fund_id": "f1", "fit_date": dates[100],
                            **dict(iid, omega=100.0)}])
    h = 13
    frame = pd.DataFrame({"fund_id": ["f1", "f1"], "prediction_date": [dates[200], dates[120]]}, index=[5, 6])
    probs, skipped = predictive_panel(panel, frame, params, KR, h, n_paths=20000, seed=3)
    assert list(skipped["row"]) == [6] and "no walk-forward GARCH estimation" in skipped["reason"].iloc[0]
    assert list(probs["row"]) == [5]
    known = rets["f1"].to_numpy()[200 - (156 - h) + 1:201]
    ref = _band_probs_partial(known, h, 0.0, sigma)
    _within_binomial(probs[[f"p_grade_{g}" for g in KR.grade_numbers]].to_numpy()[0], ref, 20000)
    again, _ = predictive_panel(panel, frame, params, KR, h, n_paths=20000, seed=3)
    pd.testing.assert_frame_equal(probs, again)


def test_calibration_scores_by_hand():
    y = np.array([1, 2, 3, 1])
    p = np.array([[.5, .3, .2], [.1, .8, .1], [.2, .2, .6], [.9, .05, .05]])
    s = calibration_scores(y, p, [1, 2, 3])
    onehot = np.eye(3)[y - 1]
    assert s["brier"] == pytest.approx(np.mean(((p - onehot) ** 2).sum(axis=1)))
    assert s["log_loss"] == pytest.approx(-np.mean(np.log([.5, .8, .6, .9])))
    assert s["accuracy"] == 1.0 and s["n"] == 4
    with pytest.raises(InputError):
        calibration_scores(y, p * 0.5, [1, 2, 3])


def test_reliability_of_calibrated_forecasts_is_on_the_diagonal():
    rng = np.random.default_rng(0)
    n = 40000
    p1 = rng.uniform(0, 1, n)
    p = np.column_stack([p1, 1 - p1])
    y = np.where(rng.uniform(size=n) < p1, 1, 2)
    rel = reliability_table(y, p, [1, 2], n_bins=10)
    assert rel["n_pairs"].sum() == 2 * n
    assert np.all(np.abs(rel["bin_mean_forecast"] - rel["observed_frequency"]) < 0.03)
    biased = np.column_stack([np.clip(p1 + 0.2, 0, 1), 1 - np.clip(p1 + 0.2, 0, 1)])
    assert calibration_scores(y, biased, [1, 2])["brier"] > calibration_scores(y, p, [1, 2])["brier"]


def test_compare_calibration_names_the_better_one():
    frame = pd.DataFrame({"grade": [1, 2, 2, 1]})
    good = pd.DataFrame({"row": [0, 1, 2, 3], "p_grade_1": [.9, .1, .2, .8], "p_grade_2": [.1, .9, .8, .2]})
    bad = pd.DataFrame({"row": [0, 1, 2], "p_grade_1": [.5, .5, .5], "p_grade_2": [.5, .5, .5]})
    table, rel, better = compare_calibration(frame, bad, good, [1, 2])
    assert better == PREDICTIVE_APPROACH and table.at[SVC_APPROACH, "n"] == 3
    assert table.at[SVC_APPROACH, "brier"] == pytest.approx(0.5)
    assert set(rel["approach"]) == {SVC_APPROACH, PREDICTIVE_APPROACH}


def garch_panel(n: int = 30, seed: int = 4):
    """Weekly returns from a known GARCH(1,1) per fund (unconditional vol 3-30 % a year) and the truth as
    a stage-1 estimation table in force from the first week."""
    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2006-01-06", "2022-12-30", freq="W-FRI", name="date")
    alpha, beta = 0.08, 0.9
    vol = np.exp(rng.uniform(np.log(3), np.log(30), n)) / ANN
    omega = vol ** 2 * (1 - alpha - beta)
    h, r = vol ** 2, np.empty((len(weeks), n))
    for t in range(len(weeks)):
        r[t] = np.sqrt(h) * rng.standard_normal(n)
        h = omega + alpha * r[t] ** 2 + beta * h
    ids = [f"G{i:02d}" for i in range(n)]
    ret = pd.DataFrame(r, index=weeks, columns=pd.Index(ids, name="fund_id", dtype="str"))
    m = rng.normal(0, 0.01, len(weeks))
    meta = pd.DataFrame({"name": ids, "fund_type": "garch", "benchmark": "MKT",
                         "inception_date": pd.DatetimeIndex([weeks[0] - pd.Timedelta(days=7)] * n),
                         "settlement_month": 12, "settlement_day": 31,
                         "disclosed_grade": pd.array([pd.NA] * n, dtype="Int64")},
                        index=pd.Index(ids, name="fund_id", dtype="str"))
    bench = pd.DataFrame({"MKT": m}, index=weeks)
    bench.columns = pd.Index(["MKT"], name="benchmark", dtype="str")
    params = pd.DataFrame({"design": "walk_forward", "fund_id": ids, "fit_date": weeks[0], "mu": 0.0,
                           "omega": omega, "alpha": alpha, "beta": beta, "scale": 1.0})
    return FundPanel(ret, meta, bench, source="garch test", synthetic=True), params


def test_predictive_calibration_under_the_true_model():
    """Data from a known GARCH(1,1), the truth as the estimation in force: the predictive probabilities
    are calibrated (mean forecast of each grade = its observed share within the sampling band), and the
    study-level comparison scores both approaches on the same walk-forward test rows."""
    from stage1_stub import TrailingStdForecaster

    from qmtl_research.rating import load_rating_settings, run_rating_study
    from qmtl_research.rating.calibration import predictive_calibration

    panel, params = garch_panel()
    st = load_rating_settings(horizon_weeks=13, horizons=[13], kernels=["Linear"], param_grid={"C": [1.0]},
                              inner_folds=2)
    study = run_rating_study(panel, st, seed=1, forecaster=TrailingStdForecaster(), progress=False)
    out = predictive_calibration(study, panel, params, n_paths=400, seed=2)
    table, pred = out["table"], out["predictive"]
    assert out["skipped"].empty
    assert table.at[SVC_APPROACH, "n"] == table.at[PREDICTIVE_APPROACH, "n"] > 200
    assert out["better"] in (SVC_APPROACH, PREDICTIVE_APPROACH)
    assert out["better"] == table["brier"].idxmin()
    frame = study.default.dataset.frame
    y = frame["grade"].to_numpy()[pred["row"].to_numpy()]
    n = len(y)
    for g in KR.grade_numbers:
        p = pred[f"p_grade_{g}"].to_numpy()
        freq = np.mean(y == g)
        band = 4 * math.sqrt(max(np.sum(p * (1 - p)), 1.0)) / n     # sd of the count of a Poisson-binomial
        assert abs(p.mean() - freq) <= band + 1e-9, (g, p.mean(), freq, band)
    # a sharp forecast: 13 of 156 weeks unknown, the true model rarely hesitates between more than two grades
    assert table.at[PREDICTIVE_APPROACH, "brier"] < 0.2


def test_the_rating_stage_records_the_predictive_distribution_and_its_calibration(capsys):
    """pipeline.predictive_grades: the grade_* keys and the summary; a daily scheme or a missing GARCH table is
    said, not skipped silently; the reliability figure draws."""
    import types

    import matplotlib
    matplotlib.use("Agg")
    from stage1_stub import TrailingStdForecaster

    from qmtl_research.pipeline import predictive_grades
    from qmtl_research.rating import load_rating_settings, run_rating_study
    from qmtl_research.rating.plots import reliability_figure

    panel, params = garch_panel(n=12, seed=8)
    st = load_rating_settings(horizon_weeks=13, horizons=[13], kernels=["Linear"], param_grid={"C": [1.0]},
                              inner_folds=2)
    study = run_rating_study(panel, st, seed=1, forecaster=TrailingStdForecaster(), progress=False)
    results = types.SimpleNamespace(summary={})
    predictive_grades(results, study, panel, params, seed=3, forecaster=TrailingStdForecaster())
    info = results.summary["grade_calibration"]
    table = results.grade_calibration.set_index("approach")
    assert info["computed"] and info["n_skipped"] == 0 and info["n_paths"] == 1000
    assert table["better"].sum() == 1 and table.index[table["better"]][0] == info["better"]
    assert info["better"] == table["brier"].idxmin()
    pred = results.grade_predictive
    assert len(pred) == table.at[PREDICTIVE_APPROACH, "n"]
    probs = pred[[f"p_grade_{g}" for g in KR.grade_numbers]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1.0)
    ours = calibration_scores(pred["true_grade"].to_numpy(), probs, KR.grade_numbers)
    assert ours["brier"] == pytest.approx(table.at[PREDICTIVE_APPROACH, "brier"])
    assert reliability_figure(results.grade_reliability) is not None
    outlook = results.grade_outlook                                     # as of the panel's last week
    cols = [f"p_grade_{g}" for g in KR.grade_numbers]
    assert len(outlook) == info["outlook_funds"] == 12 and info["outlook_skipped"] == 0
    assert np.allclose(outlook[cols].sum(axis=1), 1.0) and outlook["p_change"].is_monotonic_decreasing
    first = outlook.iloc[0]
    assert first["p_change"] == pytest.approx(1 - first[f"p_grade_{int(first['current_grade'])}"])
    r = int(first["weeks_to_settlement"])
    one = pd.DataFrame({"fund_id": [first["fund_id"]], "prediction_date": [panel.dates[-1]]}, index=[0])
    alone, _ = predictive_panel(panel, one, params, KR, r, 20000, 5)     # the same law, other paths
    _within_binomial(first[cols].to_numpy(dtype=float), alone[cols].to_numpy()[0], 1000)
    from qmtl_research.reporting.results_sections import grade_calibration

    capsys.readouterr()
    grade_calibration(types.SimpleNamespace(rating=results))         # the report's table (and figure)
    shown = capsys.readouterr().out
    assert PREDICTIVE_APPROACH in shown and SVC_APPROACH in shown and "brier" in shown and "p_change" in shown
    missing = types.SimpleNamespace(summary={})
    predictive_grades(missing, study, panel, params.iloc[:0], seed=3)
    assert missing.summary["grade_calibration"] == {"computed": False, "reason": "stage 1 recorded no GARCH estimation"}
    daily = types.SimpleNamespace(summary={})
    predictive_grades(daily, types.SimpleNamespace(grade_table=load_scheme("priips-mrm"), default=study.default),
                      panel, params, seed=3)
    assert "cannot simulate" in daily.summary["grade_calibration"]["reason"]
