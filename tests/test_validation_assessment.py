"""The validation notebook's package call on recorded results: blocks, verdict, recording."""
import numpy as np
import pandas as pd
import pytest

from qmtl_research.reporting.context import RunContext
from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.validation.assessment import assess, fixture_expectation, record_assessment


def _ctx(strategy, world, url, run_id="run-1"):
    store = EvaluationStore.open(url)
    store.create_run(RunKey(world, strategy, run_id), stage="backtest", model_card_version="v1.0")
    return RunContext.from_params(strategy, world, run_id, url, None)


def test_fund_rating_run_is_judged_and_frozen(sqlite_url):
    ctx = _ctx("demo", "fund-rating", sqlite_url)
    ctx.record("volatility", "table2", pd.DataFrame({"MSE": [4.0, 5.0, 3.0, 9.0], "RMSE": [2.0, 2.2361, 1.7321, 3.0]},
                                                    index=pd.Index(["GARCH", "LSTM", "GARCH-LSTM", "Naive"], name="model")))
    ctx.record("volatility", "summary", {"best_model": "GARCH-LSTM", "rmse": {"GARCH": 2.0}, "split": "time",
                                         "n_funds": 60, "n_test_points": 100})
    ctx.record("rating", "summary", {"best_kernel": "RBF", "best_accuracy": 0.7, "rule_accuracy": 0.65,
                                     "persistence_accuracy": 0.72, "winner": "Persistence", "margin_vs_rule": 0.05,
                                     "horizon_weeks": 4, "split": "walk-forward", "n_samples": 500})
    a = assess(ctx)
    assert a.metrics["models"]["forecast"]["rmse"]["GARCH-LSTM"] == pytest.approx(1.7321)
    assert a.metrics["models"]["rating"]["margin_vs_rule"] == pytest.approx(0.05)
    # QMTL's five core rules always (the fund-rating profile only bounds the sample), then the model rules
    assert dict(zip(a.rules["rule"], a.rules["status"])) == {
        "data_currency": "pass", "sample": "pass", "performance": "pass", "risk_constraint": "pass",
        "robustness": "pass", "forecast_error": "pass", "rating_accuracy": "pass"}
    assert list(a.rules["rule"])[:5] == ["data_currency", "sample", "performance", "risk_constraint", "robustness"]
    assert a.status == "pass" and a.recommended_stage == "paper_only"
    bc = a.benchmark_comparison()
    assert set(bc["reference"]) >= {"GARCH-LSTM", "Regulatory rule", "Persistence"}
    record_assessment(ctx, a)
    run = ctx.store.get_run(ctx.key)
    assert run["status"] == "evaluated" and run["summary"]["status"] == "pass"
    assert run["ruleset_hash"] == a.ruleset_hash and run["policy_version"] == "2026.11.1"
    assert run["summary"]["model_card_version"] == "v1.0"
    names = {n for (_, n) in ctx.store.get_results(ctx.key, "validation")}
    assert names >= {"rules", "summary", "metrics", "health", "benchmark_comparison", "overrides", "thresholds"}
    assert ctx.store.events("validation_profile_changed", world_id="fund-rating")
    health = ctx.store.get_result(ctx.key, "validation", "health")
    assert health["validation_policy_age_days"] < 1 and health["ruleset_change_count_last_90d"] == 0
    assert health["metric_coverage_ratio"] == pytest.approx(1 / 12) and health["rules_executed_ratio"] == 1.0
    upd = ctx.store.events("evaluation_run_updated", world_id="fund-rating")
    assert [e["payload"]["change_type"] for e in upd] == ["evaluated"] and upd[0]["payload"]["status"] == "pass"


def test_missing_upstream_fails_closed_in_a_high_tier_world(sqlite_url):
    ctx = _ctx("demo", "fund-rating", sqlite_url)
    a = assess(ctx)
    assert a.status == "fail"
    assert set(a.rules.loc[a.rules.status == "fail", "reason_code"]) == {"GARCH-LSTM_missing", "margin_vs_rule_missing"}


def test_portfolio_run_from_risk_results(sqlite_url):
    ctx = _ctx("audit-demo", "portfolios", sqlite_url)
    idx = pd.bdate_range("2015-01-01", periods=1500)
    rng = np.random.default_rng(5)
    bench = pd.Series(rng.normal(0.0003, 0.011, 1500), index=idx, name="benchmark")
    port = (0.8 * bench + rng.normal(0.0002, 0.004, 1500)).rename("portfolio")
    ctx.record("risk", "portfolio_returns", port)
    ctx.record("risk", "benchmark_returns", bench)
    ctx.record("risk", "backtest", {"confidence": 0.99, "window": 250, "n": 1250, "exceptions": 14,
                                    "expected_exceptions": 12.5, "zone": "green"})
    ctx.record("risk", "stress", pd.DataFrame({"scenario": ["crash", "rates"], "portfolio_loss": [0.25, 0.05]}))
    a = assess(ctx)
    assert a.metrics["returns"]["sharpe"] == pytest.approx(port.mean() / port.std() * np.sqrt(252), rel=1e-6)
    assert a.metrics["stress"] == {"crash": 0.25, "rates": 0.05}
    status = dict(zip(a.rules["rule"], a.rules["status"]))
    assert status["var_backtest"] == "pass" and status["stress"] == "pass"
    # no audit_performance block recorded yet: the targets are missing (portfolios: on_missing_metric warn)
    pt = a.rules.set_index("rule").loc["performance_targets"]
    assert (pt["status"], pt["severity"], pt["reason_code"]) == ("warn", "soft", "sharpe_ratio_missing")
    assert status["benchmark_performance"] == ("pass" if a.metrics["benchmark"]["sharpe_uplift"] >= 0 else "fail")
    record_assessment(ctx, a)
    assert ctx.store.get_run(ctx.key)["status"] == "evaluated"


def test_qmtl_import_assessment():
    a = assess(RunContext.from_params("qmtl-import"))
    assert len(a.verdicts) == 32 and a.verdicts["agrees"].all() and a.status == "pass"
    assert fixture_expectation("good_stable_1") == "selected" and fixture_expectation("borderline_hysteresis_blocked") == "rejected"
