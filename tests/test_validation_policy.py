"""QMTL policy schema: loads QMTL's files unchanged; rejects bad input with file:line."""
from pathlib import Path

import pytest

from qmtl_research.config import ModelCard, load_model_card
from qmtl_research.errors import ConfigError, InputError
from qmtl_research.paths import params_dir
from qmtl_research.validation.policy import (load_policy, parse_policy, policy_of_world, resolve_policy,
                                             ruleset_hash)
from qmtl_research.yamlio import load_model

SAMPLE = params_dir() / "policies" / "qmtl_sample_policy.yml"
# QMTL's own files, in ../shared/qmtl beside the checkout (developers and CI have it)
SHARED = Path(__file__).resolve().parents[2] / "shared" / "qmtl"


def test_sample_policy_loads_unchanged():
    p = load_policy(SAMPLE)
    assert p.validation_profiles["backtest"].performance.sharpe_min == 0.5
    assert p.validation_profiles["backtest"].risk.participation_rate_p95_max == 0.4
    assert p.selection.top_k.k == 3 and p.selection.hysteresis.enter == 0.6
    assert p.profile_for_stage("backtest") == "backtest" and p.profile_for_stage("paper") == "paper"
    assert p.profile_for_stage("live") == "paper"      # nearest earlier stage's profile
    if (SHARED / "sample_policy.yml").is_file():
        assert (SHARED / "sample_policy.yml").read_bytes() == SAMPLE.read_bytes()


def test_qmtl_example_model_card_loads_unchanged():
    card = load_model_card(params_dir() / "model_cards" / "s-eval.yml")
    assert card.strategy_id == "s-eval" and card.model_card_version == "v1.0"
    if (SHARED / "model_card_s-eval.yml").is_file():
        assert load_model(ModelCard, SHARED / "model_card_s-eval.yml") == card


def test_shipped_worlds_and_policies_load():
    for name in ("fund-rating", "portfolios", "qmtl-sample"):
        from qmtl_research.config import load_world
        pol, _ = policy_of_world(load_world(name))
        for stage in ("backtest", "paper", "live"):
            profile = pol.profile_for_stage(stage)
            assert profile in pol.validation_profiles
            assert pol.profile(profile) is pol.validation_profiles[profile]


def _write(tmp_path, text):
    f = tmp_path / "p.yml"
    f.write_text(text)
    return f


def test_unknown_key_rejected_with_line(tmp_path):
    f = _write(tmp_path, "validation_profiles:\n  backtest:\n    performance:\n      sharpe_min: 0.5\n      sharpe_minn: 1\n")
    with pytest.raises(ConfigError) as e:
        load_policy(f)
    assert f"{f}:5" in str(e.value) and "sharpe_minn" in str(e.value)


def test_wrong_type_rejected_with_line(tmp_path):
    f = _write(tmp_path, "validation_profiles:\n  backtest:\n    sample:\n      min_effective_years: two\n")
    with pytest.raises(ConfigError) as e:
        load_policy(f)
    assert f"{f}:4" in str(e.value) and "min_effective_years" in str(e.value)
    f = _write(tmp_path, "validation_profiles:\n  b:\n    sample: {min_trades_total: 5}\nvalidation:\n  on_missing_metric: maybe\n")
    with pytest.raises(ConfigError) as e:
        load_policy(f)
    assert f"{f}:5" in str(e.value)


def test_unknown_top_level_key_and_profile_reference(tmp_path):
    f = _write(tmp_path, "validation_profiles:\n  b: {}\nthresholdz: {}\n")
    with pytest.raises(ConfigError) as e:
        load_policy(f)
    assert f"{f}:3" in str(e.value)
    f = _write(tmp_path, "validation_profiles:\n  b: {}\ndefault_profile_by_stage:\n  backtest_only: nope\n")
    with pytest.raises(ConfigError) as e:
        load_policy(f)
    assert f"{f}:4" in str(e.value) and "nope" in str(e.value)


def test_unsafe_yaml_is_not_executed(tmp_path):
    f = _write(tmp_path, "validation_profiles: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError):
        load_policy(f)


def test_inline_world_policy_errors_point_into_the_world_file(tmp_path, monkeypatch):
    monkeypatch.setenv("QMTL_RESEARCH_HOME", str(tmp_path))
    (tmp_path / "params" / "worlds").mkdir(parents=True)
    wf = tmp_path / "params" / "worlds" / "w.yaml"
    wf.write_text("world_id: w\npolicy:\n  validation_profiles:\n    b:\n      sample:\n        min_trades_total: x\n")
    from qmtl_research.config import load_world
    with pytest.raises(ConfigError) as e:
        policy_of_world(load_world("w"))
    assert f"{wf}:6" in str(e.value)


def test_ruleset_hash_is_canonical():
    p = load_policy(SAMPLE)
    data = p.model_dump(mode="json", exclude_defaults=True)
    reordered = parse_policy(dict(reversed(list(data.items()))))
    assert ruleset_hash(reordered, "backtest") == ruleset_hash(p, "backtest")
    assert ruleset_hash(p, "backtest") != ruleset_hash(p, "paper")
    data["validation_profiles"]["backtest"]["performance"]["sharpe_min"] = 0.51
    assert ruleset_hash(parse_policy(data), "backtest") != ruleset_hash(p, "backtest")
    assert ruleset_hash(p, "backtest").startswith("sha256:") and len(ruleset_hash(p, "backtest")) == 71
    # an optional field written out as null is the same policy as one leaving it out
    data["validation_profiles"]["backtest"]["performance"].update(sharpe_min=0.5, sortino_min=None)
    data["research_model_rules"] = None
    assert ruleset_hash(parse_policy(data), "backtest") == ruleset_hash(p, "backtest")


def test_qmtl_defaults_for_validation_options():
    """QMTL's ValidationConfig: on_error and on_missing_metric both default to fail."""
    v = load_policy(SAMPLE).validation
    assert (v.on_error, v.on_missing_metric) == ("fail", "fail")


def test_unknown_stage_and_policy_choice():
    p = load_policy(SAMPLE)
    with pytest.raises(InputError):
        p.profile_for_stage("production")
    with pytest.raises(InputError):
        resolve_policy(None, None)
    pol, version, _ = resolve_policy(None, "qmtl-sample")
    assert version == "qmtl-fc06bd80" and pol == p
