"""QMTL's four policy-diff fixture sets under QMTL's sample policy: the verdicts QMTL's authors
expect, each file judged as one batch. `selected` is QMTL's policy-engine verdict; `status`
follows the summary rule with QMTL's default severities (sample and robustness are soft, so a
run failing only those is `warn`, never promoted)."""
import json

import pytest
from typer.testing import CliRunner

from qmtl_research.cli import app
from qmtl_research.errors import InputError
from qmtl_research.paths import params_dir
from qmtl_research.validation.engine import evaluate_batch
from qmtl_research.validation.policy import load_policy
from qmtl_research.validation.qmtl_runs import load_runs, parse_runs

QMTL = params_dir() / "qmtl"
POLICY = params_dir() / "policies" / "qmtl_sample_policy.yml"

# run_id: (selected, status, {rule: reason_code} of the failing rules)
EXPECTED = {
    "good-set-001": (True, "pass", {}), "good-set-002": (True, "pass", {}), "good-set-003": (True, "pass", {}),
    "borderline-set-001": (True, "pass", {}),             # every value exactly on its bound: inclusive
    "borderline-set-002": (False, "fail", {"risk_constraint": "hysteresis_enter_not_met"}),  # 0.59 < enter 0.6
    "borderline-set-003": (True, "pass", {}),
    "bad-set-001": (True, "pass", {}), "bad-set-002": (True, "pass", {}),    # good_stable_* of the bad set
    "bad-set-003": (False, "warn", {"sample": "effective_history_years_below_min"}),
    "bad-set-004": (False, "fail", {"performance": "max_drawdown_above_max"}),
    "bad-set-005": (False, "fail", {"performance": "sharpe_below_min"}),
    "bad-set-006": (False, "fail", {"risk_constraint": "adv_utilization_p95_above_max"}),
    "known-bad-001": (False, "warn", {"sample": "effective_history_years_below_min"}),
    "known-bad-002": (False, "warn", {"sample": "effective_history_years_below_min"}),
    "known-bad-003": (False, "warn", {"sample": "n_trades_total_below_min"}),
    "known-bad-004": (False, "fail", {"performance": "sharpe_below_min"}),
    "known-bad-005": (False, "fail", {"performance": "sharpe_below_min", "robustness": "deflated_sharpe_ratio_below_min"}),
    "known-bad-006": (False, "fail", {"performance": "max_drawdown_above_max"}),
    "known-bad-007": (False, "fail", {"performance": "max_drawdown_above_max"}),
    "known-bad-008": (False, "fail", {"performance": "gain_to_pain_ratio_below_min"}),
    "known-bad-009": (False, "fail", {"performance": "gain_to_pain_ratio_below_min"}),
    "known-bad-010": (False, "fail", {"risk_constraint": "adv_utilization_p95_above_max"}),
    "known-bad-011": (False, "fail", {"risk_constraint": "adv_utilization_p95_above_max"}),
    "known-bad-012": (False, "fail", {"risk_constraint": "participation_rate_p95_above_max"}),
    "known-bad-013": (False, "fail", {"risk_constraint": "participation_rate_p95_above_max"}),
    "known-bad-014": (False, "warn", {"robustness": "deflated_sharpe_ratio_below_min"}),
    "known-bad-015": (False, "warn", {"robustness": "deflated_sharpe_ratio_below_min"}),
    **{f"known-bad-0{i}": (False, "fail", None) for i in range(16, 21)},   # compound: several rules
}


def _all_outcomes(stage="backtest", **kw):
    policy = load_policy(POLICY)
    out = {}
    for f in sorted(QMTL.glob("*_runs.json")):
        for o in evaluate_batch(load_runs(f), policy, stage, **kw):
            out[o.run.run_id] = o
    return out


def test_fixture_copies_are_unchanged():
    from pathlib import Path
    shared = Path(__file__).resolve().parents[2] / "shared" / "qmtl"   # ../shared beside the checkout
    if not shared.is_dir():
        pytest.skip(f"QMTL's original files are not at {shared}; the copies in params/qmtl are checked elsewhere")
    for f in QMTL.glob("*.json"):
        assert f.read_bytes() == (shared / f.name).read_bytes()


def test_verdicts_of_the_four_fixture_sets():
    outs = _all_outcomes()
    assert set(outs) == set(EXPECTED)
    for rid, (selected, status, failing) in EXPECTED.items():
        o = outs[rid]
        assert (o.selected, o.status) == (selected, status), rid
        fails = {n: r.reason_code for n, r in o.results.items() if r.status == "fail"}
        if failing is None:
            assert len(fails) >= 3, rid
        else:
            assert fails == failing, rid
        assert o.recommended_stage == ("paper_only" if status == "pass" else "backtest_only")


def test_compound_runs_fail_on_each_breach():
    o = _all_outcomes()["known-bad-016"]
    codes = {r.reason_code for r in o.results.values()}
    assert {"effective_history_years_below_min", "sharpe_below_min", "adv_utilization_p95_above_max",
            "deflated_sharpe_ratio_below_min"} <= codes


def test_qmtl_compat_stage_only():
    outs = _all_outcomes(qmtl_compat=True)
    assert {o.recommended_stage for o in outs.values()} == {"backtest_only"}
    outs = _all_outcomes(stage="paper", qmtl_compat=True)
    assert {o.recommended_stage for o in outs.values()} == {"paper_only"}


def test_paper_profile_is_stricter():
    outs = _all_outcomes(stage="paper")
    assert outs["good-set-001"].status == "pass" and outs["good-set-001"].profile == "paper"
    assert outs["good-set-003"].results["performance"].reason_code == "sharpe_below_min"   # 0.7 < 0.8


def test_cli_json_output():
    res = CliRunner().invoke(app, ["validate", "--policy", str(POLICY), "--runs", str(QMTL / "borderline_strategies_runs.json"),
                                   "--output", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [d["status"] for d in data] == ["pass", "fail", "pass"]
    d = data[1]
    assert set(d) >= {"strategy_id", "run_id", "status", "recommended_stage", "rule_results"}
    assert d["rule_results"]["risk_constraint"] == {"status": "fail", "severity": "blocking", "owner": "risk",
                                                    "reason_code": "hysteresis_enter_not_met"}
    assert d["ruleset_hash"].startswith("sha256:")


def test_cli_text_folder_and_compat():
    res = CliRunner().invoke(app, ["validate", "--world", "qmtl-sample", "--runs", str(QMTL), "--qmtl-compat"])
    assert res.exit_code == 0, res.output
    assert "known_bad_compound_05" in res.output and "stage only" in res.output
    res = CliRunner().invoke(app, ["validate", "--help"])
    assert "QMTL's code" in " ".join(res.output.split())


def test_prev_active_keeps_a_run_above_exit():
    res = CliRunner().invoke(app, ["validate", "--policy", str(POLICY), "--runs", str(QMTL / "borderline_strategies_runs.json"),
                                   "--prev-active", "borderline_hysteresis_blocked", "-o", "json"])
    assert json.loads(res.output)[1]["status"] == "pass"


def test_bad_run_exports(tmp_path):
    good = json.loads((QMTL / "good_strategies_runs.json").read_text())
    broken = json.loads(json.dumps(good))
    del broken[1]["metrics"]["robustness"]
    f = tmp_path / "runs.json"
    f.write_text(json.dumps(broken, indent=2))
    with pytest.raises(InputError) as e:
        load_runs(f)
    assert "good-set-002" in str(e.value) and "robustness" in str(e.value) and "runs[1]" in str(e.value)
    typed = json.loads(json.dumps(good))
    typed[2]["metrics"]["returns"]["sharpe"] = "0.7"
    f.write_text(json.dumps(typed, indent=2))
    with pytest.raises(InputError) as e:
        load_runs(f)
    assert "good-set-003" in str(e.value) and "returns.sharpe" in str(e.value) and f"{f}:" in str(e.value)
    f.write_text("[{")
    with pytest.raises(InputError):
        load_runs(f)
    with pytest.raises(InputError):
        parse_runs([good[0], good[0]])


def test_cli_bad_input_exit_codes(tmp_path, sqlite_url):
    f = tmp_path / "runs.json"
    f.write_text(json.dumps([{"strategy_id": "a", "run_id": "1", "metrics": {"returns": {}}}]))
    res = CliRunner().invoke(app, ["validate", "--policy", str(POLICY), "--runs", str(f), "--record",
                                   "--world", "qmtl-sample", "--store-url", sqlite_url])
    assert res.exit_code != 0 and isinstance(res.exception, InputError)
    from qmtl_research.store import EvaluationStore
    assert EvaluationStore.open(sqlite_url).list_runs() == []
    res = CliRunner().invoke(app, ["validate", "--policy", str(POLICY), "--runs", str(QMTL), "--stage", "prod"])
    assert isinstance(res.exception, InputError) and "prod" in str(res.exception)


def test_cli_correlation_matrix(tmp_path):
    import pandas as pd
    ids = ["borderline_floor", "borderline_hysteresis_blocked", "borderline_close"]
    m = pd.DataFrame([[1, 0.1, 0.9], [0.1, 1, 0.1], [0.9, 0.1, 1]], index=ids, columns=ids)
    f = tmp_path / "corr.csv"
    m.to_csv(f)
    res = CliRunner().invoke(app, ["validate", "--policy", str(POLICY), "--runs", str(QMTL / "borderline_strategies_runs.json"),
                                   "--correlations", str(f), "-o", "json"])
    data = {d["strategy_id"]: d for d in json.loads(res.output)}
    # ranked by sharpe: close (0.61) is kept first, floor (0.60) is 0.9-correlated with it
    assert data["borderline_floor"]["rule_results"]["risk_constraint"]["reason_code"] == "correlation_above_max"
    assert data["borderline_close"]["status"] == "pass"
