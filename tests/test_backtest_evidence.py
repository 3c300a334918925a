"""The var_backtest rule judges the ES backtests too; its evidence from fund-level and portfolio runs."""
import math

import pandas as pd
import pytest

from qmtl_research.validation.evidence import es_block, fund_var_block
from qmtl_research.validation.research_rules import VarBacktestConfig
from qmtl_research.validation.research_rules import VarBacktestRule
from qmtl_research.validation.rules import RuleContext


def _ctx(on_missing="fail"):
    return RuleContext(stage="backtest", policy=None, profile_name="backtest", profile=None, on_missing_metric=on_missing)


def _metrics(**kw):
    return {"models": {"var_backtest": {"zone": "green", "exceptions": 2, "expected_exceptions": 2.5, **kw}}}


def test_es_p_value_below_the_bound_fails_and_above_passes():
    rule = VarBacktestRule(VarBacktestConfig(min_es_p_value=0.01, es_tests=["z2_p", "de_u_p"]))
    checks = {c.key: c for c in rule.checks(_metrics(es_z2_p=0.004, es_de_u_p=0.2), _ctx())}
    assert checks["zone"].status == "pass"
    assert checks["es_z2_p"].status == "fail" and checks["es_z2_p"].reason_code == "es_backtest_z2_p_rejected"
    assert checks["es_de_u_p"].status == "pass" and checks["es_de_u_p"].bound == 0.01
    checks = {c.key: c for c in rule.checks(_metrics(es_de_u_p=0.2), _ctx())}
    assert checks["es_z2_p"].status == "fail" and checks["es_z2_p"].reason_code == "es_z2_p_missing"
    plain = VarBacktestRule(VarBacktestConfig())                  # without min_es_p_value: the zone only
    assert [c.key for c in plain.checks(_metrics(es_z2_p=0.0), _ctx())] == ["zone"]


def test_fund_block_headline_is_garch_99_pooled():
    rows = []
    for model in ("GARCH", "EWMA"):
        for level in (0.975, 0.99):
            rows.append({"model": model, "level": level, "scope": "pooled", "fund_id": "", "n": 1000,
                         "exceptions": 30 if model == "GARCH" and level == 0.99 else 10, "expected": 1000 * (1 - level),
                         "zone": "red" if model == "GARCH" and level == 0.99 else "green", "multiplier": 2.0,
                         "z1_p": 0.5, "z2_p": 0.001, "mf_p": math.nan, "de_u_p": 0.3, "de_c_p": 0.4})
    rows.append({**rows[0], "scope": "fund", "fund_id": "F1", "zone": "green"})
    block = fund_var_block(pd.DataFrame(rows))
    assert block["model"] == "GARCH" and block["confidence"] == 0.99 and block["zone"] == "red"
    assert block["exceptions"] == 30 and block["es_z2_p"] == 0.001 and block["es_mf_p"] is None
    assert set(block["by_model"]) == {"GARCH 97.5", "GARCH 99", "EWMA 97.5", "EWMA 99"}
    rule = VarBacktestRule(VarBacktestConfig(min_es_p_value=0.01))
    statuses = {c.key: c.status for c in rule.checks({"models": {"var_backtest": block}}, _ctx())}
    assert statuses == {"zone": "fail", "es_z2_p": "fail"}


def test_portfolio_es_block_at_the_backtest_level():
    es = pd.DataFrame({"level": [0.975, 0.99], "z1_p": [0.2, 0.3], "z2_p": [0.04, 0.5], "mf_p": [0.1, 0.1],
                       "de_u_p": [0.6, 0.7], "de_c_p": [0.8, 0.9]})
    assert es_block(es, 0.99)["es_z2_p"] == 0.5 and es_block(es, 0.975)["es_z2_p"] == 0.04
    assert es_block(es, 0.95)["es_level"] == 0.99
