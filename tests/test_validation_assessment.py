"""The validation stage on recorded results: blocks read through the contract, verdict, recording."""
import numpy as np
import pandas as pd
import pytest

from contract_samples import as_results, data_section, rating_section, volatility_section
from qmtl_research.data.portfolio import demo_portfolio
from qmtl_research.risk.study import RiskSettings, run_risk_study
from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.store.context import RunContext
from qmtl_research.governance.recording import record_assessment
from qmtl_research.validation.assessment import assess, fixture_expectation


def _ctx(strategy, world, url, run_id="run-1"):
    from pathlib import Path

    store = EvaluationStore.open(url)
    store.create_run(RunKey(world, strategy, run_id), stage="backtest", model_card_version="v1.0")
    return RunContext.from_params(strategy, world, run_id, url, Path(url.removeprefix("sqlite:///")).parent / "run")


def test_fund_rating_run_is_judged_and_frozen(sqlite_url):
    ctx = _ctx("demo", "fund-rating", sqlite_url)
    for section in (data_section(), volatility_section(), rating_section()):
        section.record(ctx)
    a = assess(ctx)
    assert a.metrics["models"]["forecast"]["rmse"]["GARCH-LSTM"] == pytest.approx(1.7321)
    assert a.metrics["models"]["rating"]["margin_vs_rule"] == pytest.approx(0.05)
    assert a.metrics["sample"]["effective_history_years"] == pytest.approx(341 / 52)
    # QMTL's five core rules always (the fund-rating profile only bounds the sample), then the model rules
    assert dict(zip(a.rules["rule"], a.rules["status"])) == {
        "data_currency": "pass", "sample": "pass", "performance": "pass", "risk_constraint": "pass",
        "robustness": "pass", "forecast_error": "pass", "var_backtest": "pass", "rating_accuracy": "pass"}
    assert list(a.rules["rule"])[:5] == ["data_currency", "sample", "performance", "risk_constraint", "robustness"]
    assert a.status == "pass" and a.recommended_stage == "paper_only"
    bc = a.benchmark_comparison()
    assert set(bc["reference"]) >= {"GARCH-LSTM", "Regulatory rule", "Persistence"}
    # difference is always value - reference value, and `better` says who wins
    row = bc[bc["reference"] == "Regulatory rule"].iloc[0]
    assert row["difference"] == pytest.approx(0.05) and row["better"] == "candidate"
    row = bc[bc["candidate"] == "Naive"].iloc[0]
    assert row["difference"] == pytest.approx(3.0 - 1.7321) and row["better"] == "reference"
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


def test_same_verdict_from_memory_and_from_the_store(sqlite_url):
    """The verdict does not depend on where the results come from (papermill-free runs)."""
    ctx = _ctx("demo", "fund-rating", sqlite_url)
    sections = (data_section(), volatility_section(rmse=(2.0, 1.5, 1.7, 3.0)), rating_section(best=0.6))
    for s in sections:
        s.record(ctx)
    stored = assess(ctx)
    in_memory = assess(RunContext("demo"), as_results(*sections))
    assert stored.status == in_memory.status == "fail"
    pd.testing.assert_frame_equal(stored.rules, in_memory.rules)


def test_missing_upstream_fails_closed_in_a_high_tier_world(sqlite_url):
    ctx = _ctx("demo", "fund-rating", sqlite_url)
    a = assess(ctx, as_results(data_section()))
    assert a.status == "fail"
    assert set(a.rules.loc[a.rules.status == "fail", "reason_code"]) == {"GARCH-LSTM_missing", "margin_vs_rule_missing",
                                                                        "zone_missing"}


def test_portfolio_run_from_the_risk_study(sqlite_url):
    ctx = _ctx("audit-demo", "portfolios", sqlite_url)
    study = run_risk_study(demo_portfolio(), RiskSettings(mc_simulations=2000), seed=3)
    study.record(ctx)
    a = assess(ctx)
    port = study.portfolio_returns
    assert a.metrics["returns"]["sharpe"] == pytest.approx(port.mean() / port.std() * np.sqrt(252), rel=1e-9)
    assert a.metrics["stress"] == pytest.approx(dict(zip(study.stress["scenario"], study.stress["portfolio_loss"])))
    assert a.metrics["audit_performance"]["max_drawdown"] == pytest.approx(-study.performance.max_drawdown)
    status = dict(zip(a.rules["rule"], a.rules["status"]))
    assert status["var_backtest"] == {"green": "pass", "yellow": "warn", "red": "fail"}[study.backtest.zone]
    # the audit layer's targets, judged on the PerformanceReport (strict bounds as the seed writes them)
    perf = study.performance
    pt = a.rules.set_index("rule").loc["performance_targets"]
    meets = (perf.sharpe > 1 and perf.sortino > 1.5 and -perf.max_drawdown < 0.2 and perf.win_rate > 0.5
             and perf.profit_factor > 1.5 and perf.alpha > 0)
    assert pt["status"] == ("pass" if meets else "fail") and pt["severity"] == "soft"
    assert status["benchmark_performance"] == ("pass" if a.metrics["benchmark"]["sharpe_uplift"] >= 0 else "fail")
    record_assessment(ctx, a)
    assert ctx.store.get_run(ctx.key)["status"] == "evaluated"


def test_qmtl_import_assessment():
    a = assess(RunContext.from_params("qmtl-import"))
    assert len(a.verdicts) == 32 and a.verdicts["agrees"].all() and a.status == "pass"
    assert fixture_expectation("good_stable_1") == "selected" and fixture_expectation("borderline_hysteresis_blocked") == "rejected"
