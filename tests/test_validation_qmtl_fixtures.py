"""QMTL's four policy-diff fixture sets under QMTL's sample policy, each file one batch, against
the verdicts of QMTL's own policy engine (tests/fixtures/qmtl_engine_expected.json, worked out
from QMTL's code: policy_engine.py driven as scripts/policy_diff.py drives it; not produced by
this project's engine).

``--qmtl-compat`` must reproduce every field; the default mode must give the same rule statuses
and summary status (it may add fields and recommends the stage from the outcome)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qmtl_research.cli import app
from qmtl_research.errors import InputError
from qmtl_research.paths import params_dir
from qmtl_research.validation.engine import evaluate_batch
from qmtl_research.validation.policy import load_policy, qmtl_ruleset_hash, parse_policy
from qmtl_research.validation.qmtl_runs import load_runs, parse_runs

QMTL = params_dir() / "qmtl"
POLICY = params_dir() / "policies" / "qmtl_sample_policy.yml"
FIXTURE = Path(__file__).parent / "fixtures" / "qmtl_engine_expected.json"
CLI = str(Path(sys.executable).with_name("qmtl-research"))
EXPECTED = json.loads(FIXTURE.read_text())["cases"]
BY_KEY = {(c["run_id"], c["stage"]): c for c in EXPECTED}
FILES = ["good_strategies_runs.json", "borderline_strategies_runs.json", "bad_strategies_runs.json",
         "known_bad_strategies_runs.json"]
UP = {"backtest": "paper_only", "paper": "paper_ok_live_candidate"}
DOWN = {"backtest": "backtest_only", "paper": "backtest_only"}


def _outcomes(stage, **kw):
    policy = load_policy(POLICY)
    out = {}
    for f in FILES:
        for o in evaluate_batch(load_runs(QMTL / f), policy, stage, **kw):
            out[(o.run.run_id, stage)] = o
    return out


def test_fixture_copies_are_unchanged():
    shared = Path(__file__).resolve().parents[2] / "shared" / "qmtl"   # ../shared beside the checkout
    if not shared.is_dir():
        pytest.skip(f"QMTL's original files are not at {shared}; the copies in params/qmtl are checked elsewhere")
    for f in QMTL.glob("*.json"):
        assert f.read_bytes() == (shared / f.name).read_bytes()


def test_fixture_covers_32_runs_by_2_stages():
    assert len(EXPECTED) == 64 and len(BY_KEY) == 64
    assert {c["stage"] for c in EXPECTED} == {"backtest", "paper"}
    for c in EXPECTED:
        assert list(c["rule_results"]) == ["data_currency", "sample", "performance", "risk_constraint", "robustness"]


def _as_qmtl(o) -> dict:
    j = o.to_json()
    return {"status": j["status"], "selected": j["selected"], "recommended_stage": j["recommended_stage"],
            "ruleset_hash": j["ruleset_hash"], "profile": j["profile"], "rule_results": j["rule_results"],
            "order": list(j["rule_results"])}


def _expected(c) -> dict:
    return {"status": c["status"], "selected": c["selected"], "recommended_stage": c["recommended_stage"],
            "ruleset_hash": c["ruleset_hash"], "profile": c["profile"], "rule_results": c["rule_results"],
            "order": list(c["rule_results"])}


@pytest.mark.parametrize("stage", ["backtest", "paper"])
def test_qmtl_compat_reproduces_qmtls_engine(stage):
    outs = _outcomes(stage, qmtl_compat=True)
    assert len(outs) == 32
    for key, o in outs.items():
        assert _as_qmtl(o) == _expected(BY_KEY[key]), key


@pytest.mark.parametrize("stage", ["backtest", "paper"])
def test_default_mode_keeps_qmtls_statuses(stage):
    for key, o in _outcomes(stage).items():
        c = BY_KEY[key]
        assert o.status == c["status"], key
        assert {n: r.status for n, r in o.results.items()} == {n: r["status"] for n, r in c["rule_results"].items()}
        assert list(o.results) == list(c["rule_results"])
        assert o.selected == c["selected"]
        assert o.qmtl_recommended_stage == c["recommended_stage"] and o.qmtl_ruleset_hash == c["ruleset_hash"]
        # the project's own stage reflects the outcome: pass -> one stage up, fail -> one down
        assert o.recommended_stage == (UP[stage] if o.status == "pass" else DOWN[stage] if o.status == "fail"
                                       else c["recommended_stage"])
        assert o.ruleset_hash.startswith("sha256:")


def test_installed_command_reproduces_qmtls_engine():
    """The 64 run-stages through the console command in a subprocess: every field of QMTL's output."""
    got = []
    for stage in ("backtest", "paper"):
        res = subprocess.run([CLI, "validate", "--policy", str(POLICY), "--runs", str(QMTL), "--stage", stage,
                              "--qmtl-compat", "--output", "json"], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        got += json.loads(res.stdout)
    assert len(got) == 64
    for d in got:
        c = BY_KEY[(d["run_id"], d["stage"])]
        assert (d["status"], d["selected"], d["recommended_stage"], d["ruleset_hash"]) == \
            (c["status"], c["selected"], c["recommended_stage"], c["ruleset_hash"]), d["run_id"]
        assert d["rule_results"] == c["rule_results"] and list(d["rule_results"]) == list(c["rule_results"])
        assert "qmtl_ruleset_hash" not in d


def test_summary_status_counts():
    counts = {s: sum(c["status"] == s for c in EXPECTED) for s in ("pass", "warn", "fail")}
    assert counts == {"pass": 14, "warn": 0, "fail": 50}      # 7 per stage pass, by hand
    assert sum(c["selected"] for c in EXPECTED) == 14


def test_qmtl_ruleset_hash_properties(tmp_path):
    base = load_policy(POLICY)
    assert qmtl_ruleset_hash(base, "backtest") == BY_KEY[("good-set-001", "backtest")]["ruleset_hash"]
    assert qmtl_ruleset_hash(base, "backtest") != qmtl_ruleset_hash(base, "paper")
    # the same policy in another layout and key order hashes the same
    flow = tmp_path / "p.yml"
    flow.write_text("selection: {hysteresis: {exit: 0.4, enter: 0.6, metric: sharpe}, correlation: {max: 0.8}, "
                    "top_k: {k: 3, metric: sharpe}}\ndefault_profile_by_stage: {paper_only: paper, backtest_only: backtest}\n"
                    "validation_profiles:\n  paper: {robustness: {dsr_min: 0.25}, sample: {min_effective_years: 3.0},\n"
                    "    performance: {gain_to_pain_min: 1.2, max_dd_max: 0.2, sharpe_min: 0.8}}\n"
                    "  backtest: {risk: {participation_rate_p95_max: 0.4, adv_utilization_p95_max: 0.5},\n"
                    "    robustness: {dsr_min: 0.15}, performance: {sharpe_min: 0.5, max_dd_max: 0.25, gain_to_pain_min: 1.0},\n"
                    "    sample: {min_trades_total: 50, min_effective_years: 2}}\n")
    assert qmtl_ruleset_hash(load_policy(flow), "backtest") == qmtl_ruleset_hash(base, "backtest")
    # QMTL hashes what its engine reads: research rules and extension keys change only our hash
    raw = base.model_dump(exclude_none=True)
    raw["research_model_rules"] = {"var_backtest": {}}
    raw["validation_profiles"]["backtest"]["performance"]["sortino_min"] = 1.0
    ext = parse_policy(raw)
    assert qmtl_ruleset_hash(ext, "backtest") == qmtl_ruleset_hash(base, "backtest")
    from qmtl_research.validation.policy import ruleset_hash
    assert ruleset_hash(ext, "backtest") != ruleset_hash(base, "backtest")
    raw["validation_profiles"]["backtest"]["performance"]["sharpe_min"] = 0.51
    assert qmtl_ruleset_hash(parse_policy(raw), "backtest") != qmtl_ruleset_hash(base, "backtest")


def test_cli_json_output():
    res = CliRunner().invoke(app, ["validate", "--policy", str(POLICY), "--runs", str(QMTL / "borderline_strategies_runs.json"),
                                   "--output", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [d["status"] for d in data] == ["pass", "fail", "pass"]
    d = data[1]
    assert set(d) >= {"strategy_id", "run_id", "status", "recommended_stage", "rule_results", "selected",
                      "qmtl_recommended_stage", "qmtl_ruleset_hash"}
    assert d["rule_results"]["risk_constraint"] == {"status": "fail", "severity": "blocking", "owner": "risk",
                                                    "reason_code": "hysteresis_not_entered"}
    assert d["ruleset_hash"].startswith("sha256:") and d["qmtl_ruleset_hash"].startswith("blake3:blake3:")


def test_cli_text_folder_and_compat():
    res = CliRunner().invoke(app, ["validate", "--world", "qmtl-sample", "--runs", str(QMTL), "--qmtl-compat"])
    assert res.exit_code == 0, res.output
    assert "known_bad_compound_05" in res.output and "QMTL's engine" in res.output
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


def test_cli_bad_input_stores_nothing(tmp_path, sqlite_url):
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
    for compat in ([], ["--qmtl-compat"]):
        res = CliRunner().invoke(app, ["validate", "--policy", str(POLICY), "--runs",
                                       str(QMTL / "borderline_strategies_runs.json"), "--correlations", str(f), "-o",
                                       "json", *compat])
        data = {d["strategy_id"]: d for d in json.loads(res.output)}
        # ranked by sharpe: close (0.61) is kept first, floor (0.60) is 0.9-correlated with it
        assert data["borderline_floor"]["rule_results"]["risk_constraint"]["reason_code"] == \
            "correlation_constraint_failed"
        assert data["borderline_close"]["status"] == "pass" and not data["borderline_floor"]["selected"]
