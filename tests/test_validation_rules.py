"""Rules at, just inside and just outside every bound; missing metrics; summary and stage."""
import copy

import pandas as pd
import pytest

from qmtl_research.validation.engine import evaluate_batch, recommended_stage, summary_status
from qmtl_research.validation.policy import RULE_DEFAULTS, THRESHOLDS, parse_policy
from qmtl_research.validation.qmtl_runs import RunRecord
from qmtl_research.validation.rules import RuleResult

PROFILE_RULE = {"data_currency": "data_currency", "sample": "sample", "performance": "performance",
                "robustness": "robustness", "risk": "risk_constraint"}
STEP = 1e-6


def _set(metrics, path, value):
    node = metrics
    *head, last = path.split(".")
    for p in head:
        node = node.setdefault(p, {})
    node[last] = value


def _run(metrics, sid="s", rid="r"):
    return RunRecord(sid, rid, copy.deepcopy(metrics), "w", None)


def _judge(policy_dict, metrics, stage="backtest", **kw):
    return evaluate_batch([_run(metrics)], parse_policy(policy_dict), stage, **kw)[0]


CASES = [(sec, key, path, kind) for sec in PROFILE_RULE for key, (path, kind) in THRESHOLDS[sec].items()]


@pytest.mark.parametrize("section,key,path,kind", CASES, ids=[f"{c[0]}.{c[1]}" for c in CASES])
@pytest.mark.parametrize("where,expected", [("at", "pass"), ("inside", "pass"), ("outside", "fail")])
def test_profile_bounds(section, key, path, kind, where, expected):
    bound = 0.5
    delta = {"at": 0.0, "inside": STEP, "outside": -STEP}[where] * (1 if kind == "min" else -1)
    metrics = {}
    _set(metrics, path, bound + delta)
    o = _judge({"validation_profiles": {"p": {section: {key: bound}}}}, metrics)
    rr = o.results[PROFILE_RULE[section]]
    assert rr.status == expected
    name = path.split(".")[-1]
    assert rr.reason_code == (f"{PROFILE_RULE[section]}_ok" if expected == "pass" else
                              f"{name}_{'below_min' if kind == 'min' else 'above_max'}")
    sev, owner = RULE_DEFAULTS[PROFILE_RULE[section]]
    assert (rr.severity, rr.owner) == (sev, owner)
    if expected == "fail":
        assert o.status == ("fail" if sev == "blocking" else "warn") and not o.selected


EXT = [("portfolio", k, p, kd) for k, (p, kd) in THRESHOLDS["portfolio"].items()] + \
      [("benchmark", k, p, kd) for k, (p, kd) in THRESHOLDS["benchmark"].items()] + \
      [("paper_shadow_consistency", k, p, kd) for k, (p, kd) in THRESHOLDS["paper_shadow_consistency"].items()]


@pytest.mark.parametrize("section,key,path,kind", EXT, ids=[f"{c[0]}.{c[1]}" for c in EXT])
@pytest.mark.parametrize("where,expected", [("at", "pass"), ("inside", "pass"), ("outside", "fail")])
def test_extended_bounds(section, key, path, kind, where, expected):
    delta = {"at": 0.0, "inside": STEP, "outside": -STEP}[where] * (1 if kind == "min" else -1)
    metrics = {}
    _set(metrics, path, 0.3 + delta)
    pol = {"validation_profiles": {"p": {}}, section: {key: 0.3}}
    o = _judge(pol, metrics, stage="paper")
    assert o.results[section].status == expected


def test_model_rules_bounds():
    pol = {"validation_profiles": {"p": {}}, "research_model_rules": {
        "forecast_error": {"champion": "GL", "challengers": ["G", "N"], "max_relative_gap": 0.1},
        "rating_accuracy": {"min_margin_vs_rule": 0.02, "min_accuracy": 0.6, "min_margin_vs_persistence": 0.0},
        "var_backtest": {}, "benchmark_performance": {"sharpe_uplift_min": 0.1}}}
    base = {"models": {"forecast": {"rmse": {"GL": 11.0, "G": 10.0, "N": 12.0}},
                       "rating": {"best_accuracy": 0.62, "margin_vs_rule": 0.02, "margin_vs_persistence": 0.0},
                       "var_backtest": {"zone": "green", "exceptions": 2, "expected_exceptions": 2.5}},
            "benchmark": {"sharpe_uplift": 0.1}}
    o = _judge(pol, base)
    assert {n: r.status for n, r in o.results.items()} == {
        "forecast_error": "pass", "rating_accuracy": "pass", "var_backtest": "pass", "benchmark_performance": "pass"}
    worse = copy.deepcopy(base)
    worse["models"]["forecast"]["rmse"]["GL"] = 11.0 + 1e-6          # just outside 10 x 1.1
    worse["models"]["rating"]["margin_vs_rule"] = 0.02 - 1e-6
    worse["models"]["var_backtest"]["zone"] = "yellow"
    worse["benchmark"]["sharpe_uplift"] = 0.1 - 1e-6
    o = _judge(pol, worse)
    assert o.results["forecast_error"].reason_code == "forecast_error_above_challenger"
    assert o.results["rating_accuracy"].reason_code == "margin_vs_rule_below_min"
    assert (o.results["var_backtest"].status, o.results["var_backtest"].reason_code) == ("warn", "var_backtest_zone_yellow")
    assert o.results["benchmark_performance"].status == "fail" and o.status == "fail"
    worse["models"]["var_backtest"]["zone"] = "red"
    assert _judge(pol, worse).results["var_backtest"].status == "fail"


@pytest.mark.parametrize("mode,status,code", [("warn", "warn", "sharpe_missing"), ("fail", "fail", "sharpe_missing"),
                                              ("ignore", "pass", "sharpe_missing_ignored")])
def test_missing_metric_modes(mode, status, code):
    pol = {"validation_profiles": {"p": {"performance": {"sharpe_min": 0.5}}},
           "validation": {"on_missing_metric": mode}}
    o = _judge(pol, {"returns": {"max_drawdown": 0.1}})
    assert (o.results["performance"].status, o.results["performance"].reason_code) == (status, code)
    assert o.status == {"warn": "warn", "fail": "fail", "ignore": "pass"}[mode]
    # a null metric is missing too
    o = _judge(pol, {"returns": {"sharpe": None}})
    assert o.results["performance"].status == status


@pytest.mark.parametrize("mode", ["fail", "warn"])
def test_on_error(mode):
    pol = {"validation_profiles": {"p": {"performance": {"sharpe_min": 0.5}}}, "validation": {"on_error": mode}}
    o = _judge(pol, {"returns": {"sharpe": "high"}})
    r = o.results["performance"]
    assert (r.status, r.reason_code) == (mode, "rule_error")
    assert o.errors and o.rules_executed == 0 and o.rules_configured == 1


def _rr(status, severity):
    return RuleResult(rule="x", status=status, severity=severity, owner="quant", reason_code="c", reason="r")


@pytest.mark.parametrize("results,expected", [
    ([("pass", "blocking"), ("pass", "soft")], "pass"),
    ([("fail", "blocking"), ("pass", "soft")], "fail"),
    ([("fail", "soft"), ("pass", "blocking")], "warn"),
    ([("fail", "info")], "warn"),
    ([("warn", "blocking")], "warn"),
    ([("warn", "soft"), ("fail", "blocking")], "fail"),
    ([], "pass")])
def test_summary_status(results, expected):
    assert summary_status([_rr(s, v) for s, v in results]) == expected


def test_recommended_stage():
    assert [recommended_stage(s, "backtest") for s in ("pass", "warn", "fail")] == ["paper_only", "backtest_only", "backtest_only"]
    assert [recommended_stage(s, "paper") for s in ("pass", "warn", "fail")] == ["paper_ok_live_candidate", "paper_only", "backtest_only"]
    assert [recommended_stage(s, "live") for s in ("pass", "warn", "fail")] == ["paper_ok_live_candidate", "paper_ok_live_candidate", "paper_only"]
    assert [recommended_stage("fail", s, qmtl_compat=True) for s in ("backtest", "paper", "live")] == \
        ["backtest_only", "paper_only", "paper_ok_live_candidate"]
    disabled = parse_policy({"validation_profiles": {"p": {}}, "governance": {"live_promotion": {"mode": "disabled"}}})
    assert recommended_stage("pass", "paper", disabled) == "paper_only"


def _sel_runs(sharpes):
    return [RunRecord(f"s{i}", f"r{i}", {"returns": {"sharpe": v}}, "w") for i, v in enumerate(sharpes)]


def test_top_k_ranks_threshold_passing_candidates_only():
    pol = parse_policy({"validation_profiles": {"p": {"performance": {"sharpe_min": 0.5}}},
                        "selection": {"top_k": {"metric": "sharpe", "k": 2}}})
    outs = evaluate_batch(_sel_runs([3.0, 1.0, 2.0, 0.4, 1.5]), pol, "backtest")
    assert [o.selected for o in outs] == [True, False, True, False, False]
    assert outs[1].results["risk_constraint"].reason_code == "top_k_excluded"
    assert outs[3].results["performance"].status == "fail"
    assert outs[3].results["risk_constraint"].details["selection"].startswith("not a candidate")


def test_hysteresis_enter_and_exit():
    pol = parse_policy({"validation_profiles": {"p": {}},
                        "selection": {"hysteresis": {"metric": "sharpe", "enter": 0.6, "exit": 0.4}}})
    runs = _sel_runs([0.6, 0.59, 0.45, 0.4, 0.39])
    outs = evaluate_batch(runs, pol, "backtest", prev_active={"s2", "s3", "s4"})
    assert [o.selected for o in outs] == [True, False, True, True, False]
    assert outs[1].results["risk_constraint"].reason_code == "hysteresis_enter_not_met"
    assert outs[4].results["risk_constraint"].reason_code == "hysteresis_exit_breached"


def test_correlation_limit_with_return_series():
    idx = pd.bdate_range("2024-01-01", periods=50)
    import numpy as np
    rng = np.random.default_rng(0)
    a = pd.Series(rng.normal(size=50), index=idx)
    runs = _sel_runs([2.0, 1.0, 0.9])
    runs[0].returns, runs[1].returns = a, a * 2 + rng.normal(scale=0.01, size=50)
    runs[2].returns = pd.Series(rng.normal(size=50), index=idx)
    pol = parse_policy({"validation_profiles": {"p": {}}, "selection": {"correlation": {"max": 0.8}}})
    outs = evaluate_batch(runs, pol, "backtest")
    assert [o.selected for o in outs] == [True, False, True]
    assert outs[1].results["risk_constraint"].reason_code == "correlation_above_max"
    # no series and no matrix: recorded as not evaluated, does not change the verdict
    outs = evaluate_batch(_sel_runs([2.0, 1.0]), pol, "backtest")
    assert [o.selected for o in outs] == [True, True]
    assert outs[1].results["risk_constraint"].details["checks"][0]["reason_code"] == "correlation_not_evaluated"
    corr = pd.DataFrame([[1, 0.81], [0.81, 1]], index=["s0", "s1"], columns=["s0", "s1"])
    outs = evaluate_batch(_sel_runs([2.0, 1.0]), pol, "backtest", correlations=corr)
    assert [o.selected for o in outs] == [True, False]


def test_cohort_stress_live_monitoring():
    pol = {"validation_profiles": {"p": {"performance": {"sharpe_min": 0.5}}},
           "cohort": {"min_size": 3, "sharpe_median_min": 1.0, "max_fail_share": 0.5},
           "stress": {"max_loss": 0.3, "scenarios": {"crash": 0.2}},
           "live_monitoring": {"window_days": 30, "sharpe_min": 0.0, "min_live_vs_backtest_sharpe_ratio": 0.5}}
    runs = [RunRecord("a", "1", {"returns": {"sharpe": 1.0}, "stress": {"crash": 0.2, "rates": 0.3},
                                 "live": {"sharpe_30d": 0.0, "live_vs_backtest_sharpe_ratio": 0.5}}, "w"),
            RunRecord("b", "2", {"returns": {"sharpe": 1.2}, "stress": {"crash": 0.2 + 1e-6},
                                 "live": {"sharpe_30d": -1e-6, "live_vs_backtest_sharpe_ratio": 0.6}}, "w"),
            RunRecord("c", "3", {"returns": {"sharpe": 0.2}, "stress": {"crash": 0.1, "x": 0.3 + 1e-6},
                                 "live": {"sharpe_30d": 1.0, "live_vs_backtest_sharpe_ratio": 0.5 - 1e-6}}, "w")]
    outs = evaluate_batch(runs, parse_policy(pol), "live")
    assert [o.results["cohort"].status for o in outs] == ["pass"] * 3     # median 1.0, 1/3 failing
    assert [o.results["stress"].status for o in outs] == ["pass", "fail", "fail"]
    assert [o.results["live_monitoring"].status for o in outs] == ["pass", "fail", "fail"]
    outs = evaluate_batch(runs[:2], parse_policy(pol), "backtest")
    assert outs[0].results["cohort"].reason_code == "cohort_too_small"
    assert "live_monitoring" not in outs[0].results              # live rules run for live stages only
