"""Non-finite and impossible metrics: no gate is passed by Infinity; a value outside its domain
(a negative drawdown ...) is refused when loaded; a policy bound no run can satisfy is refused."""
from __future__ import annotations

import json
import math

import pytest

from qmtl_research.errors import ConfigError, InputError
from qmtl_research.validation.engine import evaluate_batch
from qmtl_research.validation.metrics import METRIC_DOMAINS, domain_violation
from qmtl_research.validation.policy import parse_policy
from qmtl_research.validation.qmtl_runs import load_runs, parse_runs

POLICY = {"validation_profiles": {"backtest": {
    "sample": {"min_effective_years": 1.0},
    "performance": {"sharpe_min": 0.5, "max_dd_max": 0.3},
    "robustness": {"dsr_min": 0.1}}}}


def _run(run_id: str, sharpe=1.0, mdd=0.1, **extra_returns) -> dict:
    return {"strategy_id": run_id, "run_id": run_id, "metrics": {
        "returns": {"sharpe": sharpe, "max_drawdown": mdd, **extra_returns},
        "sample": {"effective_history_years": 3.0, "n_trades_total": 100},
        "risk": {}, "robustness": {"deflated_sharpe_ratio": 0.5}}}


def _judge(runs, policy=POLICY, qmtl=False):
    outs = evaluate_batch(parse_runs(runs), parse_policy(policy), "backtest", qmtl_compat=qmtl)
    return {o.run.run_id: o for o in outs}


@pytest.mark.parametrize("qmtl", [False, True], ids=["default", "qmtl-compat"])
@pytest.mark.parametrize("field,value,code", [("sharpe", math.inf, "sharpe_not_finite"),
                                              ("max_drawdown", -math.inf, "max_drawdown_not_finite"),
                                              ("max_drawdown", math.inf, "max_drawdown_not_finite")])
def test_an_infinite_metric_fails_with_its_own_reason_code(qmtl, field, value, code):
    bad = _run("bad", **{field: value})
    out = _judge([bad, _run("good")], qmtl=qmtl)
    perf = out["bad"].results["performance"]
    assert out["bad"].status == "fail" and out["bad"].selected is False
    assert perf.status == "fail" and perf.reason_code == "performance_thresholds_failed"
    assert "not finite" in perf.reason
    codes = [c["reason_code"] for c in perf.details["violations"]]
    assert codes == [code]
    assert out["good"].status == "pass" and out["good"].selected is True


def test_infinity_in_a_json_export_does_not_pass_validate_fail_on_warn(tmp_path):
    from qmtl_research.cli import app
    from typer.testing import CliRunner

    f = tmp_path / "runs.json"
    f.write_text(json.dumps([_run("inf", sharpe=math.inf)]))     # json writes the token Infinity
    assert "Infinity" in f.read_text()
    pol = tmp_path / "p.yml"
    pol.write_text(json.dumps(POLICY))
    res = CliRunner().invoke(app, ["validate", "--runs", str(f), "--policy", str(pol), "--fail-on", "warn",
                                   "--output", "json"])
    assert res.exit_code == 1, res.output
    (row,) = json.loads(res.stdout)
    assert row["status"] == "fail" and row["selected"] is False


def test_an_infinite_selection_metric_does_not_rank_first():
    policy = {**POLICY, "validation_profiles": {"backtest": {"sample": {"min_effective_years": 1.0}}},
              "selection": {"top_k": {"metric": "sharpe", "k": 1}}}
    out = _judge([_run("inf", sharpe=math.inf), _run("finite", sharpe=2.0)], policy)
    assert out["inf"].selected is False and out["finite"].selected is True
    assert out["inf"].results["performance"].details["violations"][0]["reason_code"] == "sharpe_not_finite"


def test_nan_keeps_its_meaning_missing_in_the_default_view():
    out = _judge([_run("nan", sharpe=math.nan)])
    assert out["nan"].results["performance"].details["violations"][0]["reason_code"] == "sharpe_missing"


@pytest.mark.parametrize("path,value,ok", [
    ("returns.max_drawdown", -0.25, False), ("returns.max_drawdown", 0.0, True), ("returns.max_drawdown", 1.0, True),
    ("returns.max_drawdown", 1.5, False), ("robustness.deflated_sharpe_ratio", 1.2, False),
    ("robustness.deflated_sharpe_ratio", -0.01, False), ("returns.gain_to_pain_ratio", -1.0, True),
    ("returns.gain_to_pain_ratio", -1.01, False), ("returns.sharpe", -50.0, True), ("returns.var_p01", -0.01, True),
    ("sample.n_trades_total", -1, False), ("returns.max_drawdown", math.inf, True)])
def test_domains_are_those_of_the_conventions(path, value, ok):
    assert (domain_violation(path, value) is None) is ok


def test_gain_to_pain_lower_bound_is_the_closed_form():
    """sum(r)/|sum of losses| >= -1, with equality when every period loses."""
    from qmtl_research.validation.metrics import gain_to_pain_ratio

    assert gain_to_pain_ratio([-0.01, -0.02, -0.03]) == pytest.approx(-1.0)
    assert METRIC_DOMAINS["returns.gain_to_pain_ratio"][0] == -1.0


def test_a_negative_drawdown_in_an_export_is_refused_with_file_line_run_field(tmp_path):
    f = tmp_path / "runs.json"
    f.write_text(json.dumps({"runs": [_run("ok"), _run("neg", mdd=-0.2)]}, indent=1))
    with pytest.raises(InputError) as err:
        load_runs(f)
    text = str(err.value)
    line = next(i for i, ln in enumerate(f.read_text().splitlines(), 1) if "-0.2" in ln)
    assert f"{f}:{line} run neg (runs[1]) field 'metrics.returns.max_drawdown'" in text
    assert "positive loss fractions" in err.value.fix


@pytest.mark.parametrize("section,key,bound,field", [
    ("performance", "max_dd_max", -0.25, "max_dd_max -0.25 is below 0"),
    ("robustness", "dsr_min", 1.5, "dsr_min 1.5 is above 1"),
    ("sample", "min_regime_coverage", 2.0, "min_regime_coverage 2 is above 1"),
    ("performance", "sharpe_min", math.inf, "inf is not a finite number")])
def test_policy_check_refuses_unsatisfiable_bounds_saying_where(tmp_path, section, key, bound, field):
    import yaml

    pol = {"validation_profiles": {"backtest": {section: {key: bound}}}}
    f = tmp_path / "p.yml"
    f.write_text(yaml.safe_dump(pol))
    from qmtl_research.validation.policy import load_policy

    with pytest.raises(ConfigError) as err:
        load_policy(f)
    assert f"{f}:4 field 'validation_profiles.backtest.{section}.{key}'" in str(err.value)
    assert field in str(err.value)


def test_a_satisfiable_bound_on_the_domain_edge_is_accepted():
    parse_policy({"validation_profiles": {"backtest": {"performance": {"max_dd_max": 0.0},
                                                       "robustness": {"dsr_min": 1.0}}}})
