"""Rules at, just inside and just outside every bound; missing metrics; summary and stage.

The expected statuses and reason codes are QMTL's (qmtl/services/worldservice/policy_engine.py),
worked out by hand for each case: a bound breach fails ``performance`` whatever section it is
in, ``sample`` also fails on its own bounds, ``robustness`` on DSR, and ``risk_constraint`` only
on correlation / hysteresis."""
import copy

import numpy as np
import pandas as pd
import pytest

from qmtl_research.validation.engine import evaluate_batch, recommended_stage, summary_status
from qmtl_research.validation.policy import QMTL_PROFILE_KEYS, RULE_DEFAULTS, THRESHOLDS, parse_policy
from qmtl_research.validation.qmtl_runs import RunRecord
from qmtl_research.validation.rules import RuleResult

STEP = 1e-6
CORE = ["data_currency", "sample", "performance", "risk_constraint", "robustness"]
DEPTH = {"sample": {"sample_days": 750}}      # a sample depth metric that no bound reads


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


def _statuses(o):
    return {n: r.status for n, r in o.results.items()}


PROFILE_SECTIONS = ("sample", "performance", "robustness", "risk", "data_currency")
CASES = [(sec, key, path, kind) for sec in PROFILE_SECTIONS for key, (path, kind) in THRESHOLDS[sec].items()]


def _expected(section, key, breached, qmtl):
    """Statuses by hand from QMTL's logic (and ours for extension keys)."""
    known = key in QMTL_PROFILE_KEYS.get(section, ())
    exp = {r: "pass" for r in CORE}
    if not breached or (qmtl and not known):
        return exp
    exp["performance"] = "fail"                           # every threshold counts in performance
    if section == "sample":
        exp["sample"] = "fail"
    if section == "robustness":
        exp["robustness"] = "fail"
    if section == "data_currency":
        exp["data_currency"] = "fail"
    return exp


@pytest.mark.parametrize("qmtl", [False, True], ids=["default", "compat"])
@pytest.mark.parametrize("section,key,path,kind", CASES, ids=[f"{c[0]}.{c[1]}" for c in CASES])
@pytest.mark.parametrize("where", ["at", "inside", "outside"])
def test_profile_bounds(section, key, path, kind, where, qmtl):
    bound = 0.5
    delta = {"at": 0.0, "inside": STEP, "outside": -STEP}[where] * (1 if kind == "min" else -1)
    metrics = copy.deepcopy(DEPTH)
    _set(metrics, path, bound + delta)
    o = _judge({"validation_profiles": {"p": {section: {key: bound}}}}, metrics, qmtl_compat=qmtl)
    assert list(o.results) == CORE
    exp = _expected(section, key, where == "outside", qmtl)
    assert _statuses(o) == exp
    known = key in QMTL_PROFILE_KEYS.get(section, ())
    leaf = path.split(".")[-1]
    if exp["performance"] == "fail":
        assert o.results["performance"].reason_code == "performance_thresholds_failed"
        assert not o.selected and o.status == "fail"
        if section == "sample":
            assert o.results["sample"].reason_code == "sample_thresholds_failed"
        if section == "robustness":
            assert o.results["robustness"].reason_code == ("dsr_below_min" if known else f"{leaf}_below_min"
                                                           if kind == "min" else f"{leaf}_above_max")
    else:
        assert o.selected and o.status == "pass"
        assert o.results["performance"].reason_code == "performance_ok"
    # risk bounds never fail risk_constraint (QMTL: it judges correlation and hysteresis only)
    rc = o.results["risk_constraint"]
    assert (rc.status, rc.severity, rc.reason_code) == ("pass", "info", "risk_constraints_not_configured")
    for name in CORE:
        sev, owner = RULE_DEFAULTS[name]
        if name != "risk_constraint":
            assert (o.results[name].severity, o.results[name].owner) == (sev, owner), name


def test_severity_and_owner_from_the_profile():
    pol = {"validation_profiles": {"p": {"performance": {"sharpe_min": 1.0, "severity": "soft", "owner": "risk"},
                                         "risk": {"adv_utilization_p95_max": 0.5, "severity": "soft"}}},
           "selection": {"hysteresis": {"metric": "sharpe", "enter": 0.6, "exit": 0.4}}}
    o = _judge(pol, {**DEPTH, "returns": {"sharpe": 0.5}, "risk": {"adv_utilization_p95": 0.1}})
    assert (o.results["performance"].severity, o.results["performance"].owner) == ("soft", "risk")
    assert o.results["risk_constraint"].severity == "soft"
    # QMTL's summary: a failing core rule fails the run, soft or not
    assert o.results["performance"].status == "fail" and o.status == "fail"


@pytest.mark.parametrize("mode,perf", [("fail", ("fail", "performance_thresholds_failed")),
                                       ("warn", ("warn", "performance_metrics_missing")),
                                       ("ignore", ("pass", "performance_ok"))])
def test_missing_metric_modes(mode, perf):
    pol = {"validation_profiles": {"p": {"sample": {"min_effective_years": 2.0},
                                         "performance": {"sharpe_min": 0.5}, "robustness": {"dsr_min": 0.1}}},
           "validation": {"on_missing_metric": mode}}
    o = _judge(pol, {"returns": {"max_drawdown": 0.1}, "sample": {"effective_history_years": 3.0}})
    assert (o.results["performance"].status, o.results["performance"].reason_code) == perf
    assert (o.results["robustness"].status, o.results["robustness"].reason_code) == ("warn", "dsr_missing")
    assert o.status == {"fail": "fail", "warn": "warn", "ignore": "warn"}[mode]   # robustness warns in all modes
    assert o.selected == (mode != "fail")
    # the sample rule fails on a missing sample metric whatever the mode (QMTL)
    o = _judge(pol, {"returns": {"sharpe": 1.0}, "sample": {"n_trades_total": 10},
                     "robustness": {"deflated_sharpe_ratio": 0.5}})
    assert (o.results["sample"].status, o.results["sample"].reason_code) == ("fail", "sample_thresholds_failed")
    assert o.status == "fail"
    # a null metric is missing too
    o = _judge(pol, {"returns": {"sharpe": None}, "sample": {"effective_history_years": 3.0},
                     "robustness": {"deflated_sharpe_ratio": 0.5}})
    assert o.results["performance"].status == perf[0]


@pytest.mark.parametrize("mode,expected", [("fail", ("fail", "blocking")), ("warn", ("warn", "blocking")),
                                           ("ignore", ("warn", "info"))])
def test_data_currency_without_any_metric(mode, expected):
    o = _judge({"validation_profiles": {"p": {}}, "validation": {"on_missing_metric": mode}},
               {"returns": {"sharpe": None}, "diagnostics": {"returns_source": "none"}})
    r = o.results["data_currency"]
    assert (r.status, r.severity, r.reason_code) == (*expected, "metrics_missing")
    assert (o.results["sample"].status, o.results["sample"].reason_code) == ("warn", "sample_metrics_missing")


def test_data_lag_extension_and_compat():
    pol = {"validation_profiles": {"p": {"data_currency": {"max_lag_days": 3}}}}
    late = {**DEPTH, "diagnostics": {"data_lag_days": 5}}
    o = _judge(pol, late)
    assert (o.results["data_currency"].status, o.results["data_currency"].reason_code) == \
        ("fail", "data_lag_days_above_max")
    assert _judge(pol, DEPTH).results["data_currency"].reason_code == "missing_metric"
    assert _judge(pol, late, qmtl_compat=True).results["data_currency"].status == "pass"   # QMTL: unknown key


def test_cv_sharpe_gap():
    pol = {"validation_profiles": {"p": {"robustness": {"cv_sharpe_gap_max": 0.5}}}}
    ok = _judge(pol, {**DEPTH, "robustness": {"sharpe_first_half": 1.0, "sharpe_second_half": 1.5}})
    bad = _judge(pol, {**DEPTH, "robustness": {"sharpe_first_half": 1.0, "sharpe_second_half": 1.5 + STEP}})
    assert ok.results["robustness"].status == "pass" and ok.results["robustness"].details["sharpe_gap"] == 0.5
    assert (bad.results["robustness"].status, bad.results["robustness"].reason_code) == \
        ("fail", "cv_sharpe_gap_exceeds_max")
    assert bad.status == "fail" and bad.selected            # not a threshold: selection is not affected


def test_compat_reads_leaf_names_like_qmtl():
    """QMTL flattens metrics and looks thresholds up by leaf name (first occurrence wins)."""
    pol = {"validation_profiles": {"p": {"performance": {"sharpe_min": 0.5}}}}
    misplaced = {**DEPTH, "benchmark": {"sharpe": 0.9}, "returns": {"max_drawdown": 0.1}}
    assert _judge(pol, misplaced, qmtl_compat=True).results["performance"].status == "pass"
    assert _judge(pol, misplaced).results["performance"].reason_code == "performance_thresholds_failed"
    nan = {**DEPTH, "returns": {"sharpe": float("nan")}}
    assert _judge(pol, nan, qmtl_compat=True).results["performance"].status == "pass"   # NaN < 0.5 is false
    assert _judge(pol, nan).results["performance"].status == "fail"                     # ours: NaN is missing


@pytest.mark.parametrize("mode", ["fail", "warn"])
def test_on_error(mode):
    pol = {"validation_profiles": {"p": {"performance": {"sharpe_min": 0.5}}}, "validation": {"on_error": mode}}
    o = _judge(pol, {**DEPTH, "returns": {"sharpe": "high"}})
    r = o.results["performance"]
    assert (r.status, r.reason_code) == (mode, "rule_error")
    assert o.errors and o.rules_executed == 4 and o.rules_configured == 5 and not o.selected


def _rr(status, severity, rule="x"):
    return RuleResult(rule=rule, status=status, severity=severity, owner="quant", reason_code="c", reason="r")


@pytest.mark.parametrize("results,expected,compat", [
    ([("pass", "blocking"), ("pass", "soft")], "pass", "pass"),
    ([("fail", "blocking"), ("pass", "soft")], "fail", "fail"),
    ([("fail", "soft"), ("pass", "blocking")], "warn", "fail"),
    ([("fail", "info")], "warn", "fail"),
    ([("warn", "blocking")], "warn", "warn"),
    ([("warn", "soft"), ("fail", "blocking")], "fail", "fail"),
    ([], "pass", "pass")])
def test_summary_status(results, expected, compat):
    rr = [_rr(s, v) for s, v in results]
    assert summary_status(rr) == expected                       # non-core rules keep their severity
    assert summary_status(rr, qmtl_compat=True) == compat       # QMTL: any fail fails
    core = [_rr(s, v, "sample") for s, v in results]
    assert summary_status(core) == compat                       # core rules: QMTL's reading in both modes


def test_recommended_stage():
    assert [recommended_stage(s, "backtest") for s in ("pass", "warn", "fail")] == ["paper_only", "backtest_only", "backtest_only"]
    assert [recommended_stage(s, "paper") for s in ("pass", "warn", "fail")] == ["paper_ok_live_candidate", "paper_only", "backtest_only"]
    assert [recommended_stage(s, "live") for s in ("pass", "warn", "fail")] == ["paper_ok_live_candidate", "paper_ok_live_candidate", "paper_only"]
    assert [recommended_stage("fail", s, qmtl_compat=True) for s in ("backtest", "paper", "live")] == \
        ["backtest_only", "paper_only", "paper_ok_live_candidate"]
    disabled = parse_policy({"validation_profiles": {"p": {}}, "governance": {"live_promotion": {"mode": "disabled"}}})
    assert recommended_stage("pass", "paper", disabled) == "paper_only"


def test_profile_choice_for_a_stage_without_profile():
    pol = parse_policy({"validation_profiles": {"backtest": {"performance": {"sharpe_min": 0.5}},
                                                "paper": {"performance": {"sharpe_min": 0.8}}},
                        "default_profile_by_stage": {"backtest_only": "backtest", "paper_only": "paper"}})
    run = _run({**DEPTH, "returns": {"sharpe": 0.6}})
    assert pol.qmtl_profile_for_stage("live") == "backtest"        # QMTL: the first mapped profile
    assert pol.profile_for_stage("live") == "paper"                # ours: the nearest earlier stage
    compat, ours = (evaluate_batch([run], pol, "live", qmtl_compat=q)[0] for q in (True, False))
    assert (compat.profile, compat.status) == ("backtest", "pass")
    assert (ours.profile, ours.status) == ("paper", "fail")


def _sel_runs(sharpes, extra=None):
    return [RunRecord(f"s{i}", f"r{i}", {**DEPTH, "returns": {"sharpe": v}, **(extra or {})}, "w")
            for i, v in enumerate(sharpes)]


def test_top_k_ranks_threshold_passing_candidates_only():
    pol = parse_policy({"validation_profiles": {"p": {"performance": {"sharpe_min": 0.5}}},
                        "selection": {"top_k": {"metric": "sharpe", "k": 2}}})
    outs = evaluate_batch(_sel_runs([3.0, 1.0, 2.0, 0.4, 1.5]), pol, "backtest")
    assert [o.selected for o in outs] == [True, False, True, False, False]
    assert [o.results["performance"].reason_code for o in outs] == [
        "performance_ok", "performance_rank_outside_top_k", "performance_ok", "performance_thresholds_failed",
        "performance_rank_outside_top_k"]
    assert outs[1].results["performance"].reason == "Rank 4 outside top_k=2"   # ranks 3.0, 2.0, 1.5, 1.0
    assert outs[3].results["risk_constraint"].details["selection"].startswith("not a candidate")
    # ties keep the batch order (QMTL's stable sort); a missing metric ranks last
    tie = parse_policy({"validation_profiles": {"p": {}}, "selection": {"top_k": {"metric": "sharpe", "k": 2}}})
    outs = evaluate_batch(_sel_runs([None, 1.0, 1.0, 1.0]), tie, "backtest")
    assert [o.selected for o in outs] == [False, True, True, False]


def test_hysteresis_enter_and_exit():
    pol = parse_policy({"validation_profiles": {"p": {}},
                        "selection": {"hysteresis": {"metric": "sharpe", "enter": 0.6, "exit": 0.4}}})
    runs = _sel_runs([0.6, 0.59, 0.45, 0.4, 0.39, None])
    outs = evaluate_batch(runs, pol, "backtest", prev_active={"s2", "s3", "s4"})
    assert [o.selected for o in outs] == [True, False, True, True, False, False]
    codes = [o.results["risk_constraint"].reason_code for o in outs]
    assert codes == ["risk_constraints_ok", "hysteresis_not_entered", "risk_constraints_ok", "risk_constraints_ok",
                     "hysteresis_exit", "risk_constraints_ok"]     # a missing metric drops the run silently (QMTL)
    assert [o.status for o in outs] == ["pass", "fail", "pass", "pass", "fail", "pass"]


def test_correlation_limit():
    pol = parse_policy({"validation_profiles": {"p": {}}, "selection": {"correlation": {"max": 0.8}}})
    corr = pd.DataFrame([[1, -0.81, 0.8], [-0.81, 1, 0.1], [0.8, 0.1, 1]], index=["s0", "s1", "s2"],
                        columns=["s0", "s1", "s2"])
    outs = evaluate_batch(_sel_runs([2.0, 1.0, 0.9]), pol, "backtest", correlations=corr)
    assert [o.selected for o in outs] == [True, False, True]      # |-0.81| > 0.8; 0.8 is on the bound
    r = outs[1].results["risk_constraint"]
    assert (r.status, r.reason_code, r.details["blocked_by"]) == \
        ("fail", "correlation_constraint_failed", [{"strategy_id": "s0", "correlation": -0.81}])
    for q in (False, True):                                        # no matrix, no series: not applied
        outs = evaluate_batch(_sel_runs([2.0, 1.0]), pol, "backtest", qmtl_compat=q)
        assert [o.selected for o in outs] == [True, True]
        assert [o.results["risk_constraint"].reason_code for o in outs] == ["risk_constraints_ok"] * 2
    # return series (default view only: QMTL's engine is given no series)
    idx = pd.bdate_range("2024-01-01", periods=50)
    rng = np.random.default_rng(0)
    a = pd.Series(rng.normal(size=50), index=idx)
    runs = _sel_runs([2.0, 1.0])
    runs[0].returns, runs[1].returns = a, a * 2 + rng.normal(scale=0.01, size=50)
    assert [o.selected for o in evaluate_batch(runs, pol, "backtest")] == [True, False]
    assert [o.selected for o in evaluate_batch(runs, pol, "backtest", qmtl_compat=True)] == [True, True]


def test_extended_bounds():
    ext = [(sec, k, p, kd) for sec in ("portfolio", "benchmark", "paper_shadow_consistency")
           for k, (p, kd) in THRESHOLDS[sec].items()]
    for section, key, path, kind in ext:
        for where, expected in (("at", "pass"), ("inside", "pass"), ("outside", "fail")):
            delta = {"at": 0.0, "inside": STEP, "outside": -STEP}[where] * (1 if kind == "min" else -1)
            metrics = copy.deepcopy(DEPTH)
            _set(metrics, path, 0.3 + delta)
            o = _judge({"validation_profiles": {"p": {}}, section: {key: 0.3}}, metrics, stage="paper")
            assert o.results[section].status == expected, (section, key, where)
            assert list(o.results)[:5] == CORE


def _model_metrics():
    return {**DEPTH, "models": {"forecast": {"rmse": {"GL": 11.0, "G": 10.0, "N": 12.0}},
                               "rating": {"best_accuracy": 0.62, "margin_vs_rule": 0.02, "margin_vs_persistence": 0.0},
                               "var_backtest": {"zone": "green", "exceptions": 2, "expected_exceptions": 2.5}},
            "benchmark": {"sharpe_uplift": 0.1}}


def test_model_rules_bounds():
    pol = {"validation_profiles": {"p": {}}, "research_model_rules": {
        "forecast_error": {"champion": "GL", "challengers": ["G", "N"], "max_relative_gap": 0.1},
        "rating_accuracy": {"min_margin_vs_rule": 0.02, "min_accuracy": 0.6, "min_margin_vs_persistence": 0.0},
        "var_backtest": {}, "benchmark_performance": {"sharpe_uplift_min": 0.1}}}
    base = _model_metrics()
    o = _judge(pol, base)
    assert _statuses(o) == {**{r: "pass" for r in CORE}, "forecast_error": "pass", "rating_accuracy": "pass",
                            "var_backtest": "pass", "benchmark_performance": "pass"}
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
    # QMTL's engine does not know research_model_rules: --qmtl-compat leaves them out
    assert list(_judge(pol, worse, qmtl_compat=True).results) == CORE


TARGETS = {"sharpe_min": ("sharpe_ratio", 1.0, "min"), "sortino_min": ("sortino_ratio", 1.5, "min"),
           "max_dd_max": ("max_drawdown", 0.20, "max"), "win_rate_min": ("win_rate", 0.50, "min"),
           "profit_factor_min": ("profit_factor", 1.5, "min"), "alpha_min": ("alpha", 0.0, "min")}


def _targets_policy(mode="warn"):
    return {"validation_profiles": {"p": {}}, "validation": {"on_missing_metric": mode},
            "research_model_rules": {"performance_targets": {k: v[1] for k, v in TARGETS.items()}}}


@pytest.mark.parametrize("key", list(TARGETS))
@pytest.mark.parametrize("where,expected", [("at", "fail"), ("inside", "pass"), ("outside", "fail")])
def test_performance_targets_are_strict(key, where, expected):
    """The audit seed's targets are strict: Sharpe > 1 (1.0 misses), MDD < 20 % (0.20 misses) ..."""
    good = {"sharpe_ratio": 1.2, "sortino_ratio": 1.8, "max_drawdown": 0.1, "win_rate": 0.55, "profit_factor": 1.9,
            "alpha": 0.02}
    metric, bound, kind = TARGETS[key]
    delta = {"at": 0.0, "inside": STEP, "outside": -STEP}[where] * (1 if kind == "min" else -1)
    block = dict(good, **{metric: bound + delta})
    o = _judge(_targets_policy(), {**DEPTH, "audit_performance": block})
    r = o.results["performance_targets"]
    assert (r.status, r.severity, r.owner) == (expected, "soft", "quant")
    if expected == "fail":
        assert r.reason_code == f"{metric}_{'below_min' if kind == 'min' else 'above_max'}"
        assert o.status == "warn"                    # a soft research rule: a miss warns
    else:
        assert r.reason_code == "performance_targets_ok" and o.status == "pass"


@pytest.mark.parametrize("mode,status", [("warn", "warn"), ("fail", "fail"), ("ignore", "pass")])
def test_performance_targets_missing_block(mode, status):
    o = _judge(_targets_policy(mode), DEPTH)
    r = o.results["performance_targets"]
    assert r.status == status
    codes = {c["reason_code"] for c in r.details["checks"]}
    suffix = "_missing_ignored" if mode == "ignore" else "_missing"
    assert codes == {f"{m}{suffix}" for m, _, _ in TARGETS.values()}
    assert o.status == ("warn" if mode != "ignore" else "pass")     # soft: a fail warns


def test_shipped_portfolio_policy_targets_match_the_seed():
    from qmtl_research.config import load_world
    from qmtl_research.validation.policy import policy_of_world

    pt = policy_of_world(load_world("portfolios"))[0].research_model_rules.performance_targets
    assert {k: getattr(pt, k) for k in TARGETS} == {k: v[1] for k, v in TARGETS.items()}
    assert (pt.severity, pt.owner) == ("soft", "quant")


def test_cohort_stress_live_monitoring():
    pol = {"validation_profiles": {"p": {"performance": {"sharpe_min": 0.5}}},
           "cohort": {"min_size": 3, "sharpe_median_min": 1.0, "max_fail_share": 0.5},
           "stress": {"max_loss": 0.3, "scenarios": {"crash": 0.2}},
           "live_monitoring": {"window_days": 30, "sharpe_min": 0.0, "min_live_vs_backtest_sharpe_ratio": 0.5}}
    runs = [RunRecord("a", "1", {**DEPTH, "returns": {"sharpe": 1.0}, "stress": {"crash": 0.2, "rates": 0.3},
                                 "live": {"sharpe_30d": 0.0, "live_vs_backtest_sharpe_ratio": 0.5}}, "w"),
            RunRecord("b", "2", {**DEPTH, "returns": {"sharpe": 1.2}, "stress": {"crash": 0.2 + 1e-6},
                                 "live": {"sharpe_30d": -1e-6, "live_vs_backtest_sharpe_ratio": 0.6}}, "w"),
            RunRecord("c", "3", {**DEPTH, "returns": {"sharpe": 0.2}, "stress": {"crash": 0.1, "x": 0.3 + 1e-6},
                                 "live": {"sharpe_30d": 1.0, "live_vs_backtest_sharpe_ratio": 0.5 - 1e-6}}, "w")]
    outs = evaluate_batch(runs, parse_policy(pol), "live")
    assert [o.results["cohort"].status for o in outs] == ["pass"] * 3     # median 1.0, 1/3 failing
    assert [o.results["stress"].status for o in outs] == ["pass", "fail", "fail"]
    assert [o.results["live_monitoring"].status for o in outs] == ["pass", "fail", "fail"]
    outs = evaluate_batch(runs[:2], parse_policy(pol), "backtest")
    assert outs[0].results["cohort"].reason_code == "cohort_too_small"
    assert "live_monitoring" not in outs[0].results              # live rules run for live stages only
