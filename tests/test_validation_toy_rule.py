"""A new rule is one class and one register_rule call: a toy research rule registered here, in
this file only, is configured by a policy (``research_model_rules.<name>``) and judges runs with
the built-in rules; and every rule, built-in or not, goes through the one Rule protocol."""
from __future__ import annotations

import copy
from typing import Any, Mapping

import pytest
import yaml

from qmtl_research.errors import ConfigError
from qmtl_research.validation import registry
from qmtl_research.validation.engine import checks_frame, evaluate_batch
from qmtl_research.validation.metrics import get_metric
from qmtl_research.validation.policy import CORE_RULES, RULE_DEFAULTS, load_policy, parse_policy
from qmtl_research.validation.qmtl_runs import RunRecord
from qmtl_research.validation.rules import Check, Rule, RuleBase, RuleContext, missing_check
from qmtl_research.validation.thresholds import RuleConfig


class HalfSharpeGapConfig(RuleConfig):
    """``research_model_rules.half_sharpe_gap``: the largest |first - second half Sharpe| relative
    to the full-period Sharpe."""

    max_relative_gap: float


class HalfSharpeGapRule(RuleBase):
    """|sharpe_first_half - sharpe_second_half| / |sharpe| <= max_relative_gap."""

    name = "half_sharpe_gap"
    config_class = HalfSharpeGapConfig
    default_severity, default_owner = "soft", "quant"
    tags = ("model", "toy")

    def checks(self, metrics: Mapping[str, Any], ctx: RuleContext) -> list[Check]:
        first = get_metric(metrics, "robustness.sharpe_first_half")
        second = get_metric(metrics, "robustness.sharpe_second_half")
        full = get_metric(metrics, "returns.sharpe")
        if first is None or second is None or full is None:
            return [missing_check("max_relative_gap", "robustness.sharpe_first_half", ctx.on_missing_metric)]
        gap = abs(first - second) / abs(full)
        ok = gap <= self.config.max_relative_gap
        return [Check("max_relative_gap", "robustness.half_sharpe_gap", "pass" if ok else "fail",
                      "half_sharpe_gap_ok" if ok else "half_sharpe_gap_above_max",
                      f"relative half-Sharpe gap {gap:.6g}", gap, self.config.max_relative_gap, "max")]


@pytest.fixture
def toy_rule():
    registry.register_rule(HalfSharpeGapRule)
    try:
        yield HalfSharpeGapRule
    finally:
        registry.unregister_rule(HalfSharpeGapRule.name)


POLICY = {"validation_profiles": {"backtest": {"performance": {"sharpe_min": 0.5}}},
          "validation": {"on_missing_metric": "fail"},
          "research_model_rules": {"half_sharpe_gap": {"max_relative_gap": 0.5, "severity": "blocking"},
                                   "rating_accuracy": {"min_margin_vs_rule": 0.0}}}


def _run(sid, sharpe, first, second):
    return RunRecord(sid, f"r-{sid}", {"returns": {"sharpe": sharpe},
                                       "robustness": {"sharpe_first_half": first, "sharpe_second_half": second},
                                       "sample": {"sample_days": 500},
                                       "models": {"rating": {"margin_vs_rule": 0.02}}}, "w", None)


def test_a_registered_toy_rule_judges_runs_under_a_policy_that_names_it(toy_rule, tmp_path):
    path = tmp_path / "toy.yml"
    path.write_text(yaml.safe_dump(POLICY))
    policy = load_policy(path)
    runs = [_run("steady", 1.0, 1.1, 0.8),       # gap |1.1 - 0.8| / 1.0 = 0.30 <= 0.5
            _run("drifting", 0.8, 1.4, 0.2)]     # gap |1.4 - 0.2| / 0.8 = 1.50 > 0.5
    steady, drifting = evaluate_batch(runs, policy, "backtest")
    assert list(steady.results) == [*CORE_RULES, "rating_accuracy", "half_sharpe_gap"]
    r = steady.results["half_sharpe_gap"]
    assert (r.status, r.reason_code, r.severity, r.owner) == ("pass", "half_sharpe_gap_ok", "blocking", "quant")
    assert r.details["checks"][0]["value"] == pytest.approx(0.3, abs=1e-12)
    assert steady.status == "pass"
    r = drifting.results["half_sharpe_gap"]
    assert (r.status, r.reason_code) == ("fail", "half_sharpe_gap_above_max")
    assert r.details["checks"][0]["value"] == pytest.approx(1.5, abs=1e-12)
    assert drifting.status == "fail"                                     # blocking per the policy
    rows = checks_frame(drifting.validation_payload())
    row = rows[rows["rule"] == "half_sharpe_gap"].iloc[0]
    assert (row["bound"], row["measured"], row["status"]) == ("<= 0.5", "1.5", "fail")
    # QMTL's engine knows no research rule: --qmtl-compat leaves it out
    compat = evaluate_batch(runs, policy, "backtest", qmtl_compat=True)[1]
    assert "half_sharpe_gap" not in compat.results and "rating_accuracy" not in compat.results


def test_the_toy_rules_config_is_validated_by_its_config_class(toy_rule):
    bad = copy.deepcopy(POLICY)
    bad["research_model_rules"]["half_sharpe_gap"] = {"max_relative_gap": "half"}
    with pytest.raises(ConfigError, match="half_sharpe_gap.max_relative_gap"):
        parse_policy(bad)
    bad["research_model_rules"]["half_sharpe_gap"] = {"max_relative_gap": 0.5, "colour": "red"}
    with pytest.raises(ConfigError, match="half_sharpe_gap.colour"):
        parse_policy(bad)


def test_a_policy_naming_an_unregistered_rule_is_refused():
    with pytest.raises(ConfigError, match="unknown research rule 'half_sharpe_gap'"):
        parse_policy(POLICY)


def test_registering_refuses_a_taken_name_and_an_incomplete_rule(toy_rule):
    class Clash(HalfSharpeGapRule):
        pass

    with pytest.raises(ConfigError, match="taken by HalfSharpeGapRule"):
        registry.register_rule(Clash)

    class NoConfig(RuleBase):
        name = "no_config"

    with pytest.raises(ConfigError, match="config_class"):
        registry.register_rule(NoConfig)
    with pytest.raises(ConfigError, match="built-in"):
        registry.unregister_rule("performance")


def test_every_builtin_rule_implements_the_one_protocol_and_owns_its_config():
    policy = parse_policy({"validation_profiles": {"backtest": {}}})
    classes = registry.registered_rules()
    names = [c.name for c in classes]
    assert len(set(names)) == len(names) == 16
    assert tuple(names[:5]) == CORE_RULES == ("data_currency", "sample", "performance", "risk_constraint",
                                              "robustness")
    assert names[-1] == "cohort"                                   # the batch rule comes last
    assert RULE_DEFAULTS == {c.name: (c.default_severity, c.default_owner) for c in classes}
    rule_class_names = {c.__name__ for c in classes}
    for c in classes:
        assert c.config_class.__name__.endswith("Config") and c.config_class.__name__ not in rule_class_names
        rule = c(c.config_class.model_construct())
        assert isinstance(rule, Rule)
        assert (rule.severity, rule.owner) == (c.default_severity, c.default_owner)
    # the core rules are always built, other rules only when the policy configures them
    built = registry.build_rules(policy, policy.profile("backtest"), "backtest")
    assert [r.name for r in built] == list(CORE_RULES)
