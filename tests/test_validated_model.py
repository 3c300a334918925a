"""The model under validation is declared once, by stage 1 (``Stage1Config.validated_model``):
the policy's forecast_error rule and stage 2's ``stage1_model`` read it, and a different name
given in either place is refused with a ConfigError naming the field."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from qmtl_research.errors import ConfigError
from qmtl_research.paths import params_dir
from qmtl_research.pipeline import resolve_stage1_model
from qmtl_research.rating.settings import load_rating_settings
from qmtl_research.validation.engine import evaluate_batch
from qmtl_research.validation.evidence import forecast_block
from qmtl_research.validation.policy import load_policy, parse_policy
from qmtl_research.validation.qmtl_runs import RunRecord
from qmtl_research.volatility.config import Stage1Config

RMSE = {"GARCH-LSTM": 7.4, "GARCH": 7.5, "EWMA": 7.2}


def _judge(forecast_error: dict, forecast: dict, on_missing="fail"):
    policy = parse_policy({"validation_profiles": {"backtest": {}}, "validation": {"on_missing_metric": on_missing},
                           "research_model_rules": {"forecast_error": forecast_error}})
    run = RunRecord("s", "r", {"sample": {"sample_days": 100}, "models": {"forecast": forecast}}, "w", None)
    return evaluate_batch([run], policy, "backtest")[0].results["forecast_error"]


def test_the_rule_judges_the_model_stage_1_validated():
    # GARCH-LSTM 7.4 > best challenger EWMA 7.2 -> fail; EWMA 7.2 <= best challenger GARCH-LSTM 7.4 -> pass
    r = _judge({}, {"rmse": RMSE, "validated_model": "GARCH-LSTM"})
    assert (r.status, r.reason_code) == ("fail", "forecast_error_above_challenger")
    assert r.details["checks"][0]["metric"] == "models.forecast.rmse.GARCH-LSTM"
    assert r.details["checks"][0]["bound"] == pytest.approx(7.2)
    r = _judge({}, {"rmse": RMSE, "validated_model": "EWMA"})
    assert (r.status, r.reason_code) == ("pass", "forecast_error_ok")
    assert r.details["checks"][0]["bound"] == pytest.approx(7.4)
    # a champion that names the same model is accepted; with nothing recorded it is the declaration
    assert _judge({"champion": "EWMA"}, {"rmse": RMSE, "validated_model": "EWMA"}).status == "pass"
    assert _judge({"champion": "EWMA"}, {"rmse": RMSE}).status == "pass"


def test_a_policy_champion_that_disagrees_with_stage_1_is_refused():
    with pytest.raises(ConfigError, match="research_model_rules.forecast_error.champion") as exc:
        _judge({"champion": "GARCH"}, {"rmse": RMSE, "validated_model": "GARCH-LSTM"})
    assert "'GARCH'" in str(exc.value) and "'GARCH-LSTM'" in str(exc.value)


def test_no_declared_or_recorded_model_is_a_missing_metric():
    r = _judge({}, {"rmse": RMSE}, on_missing="warn")
    assert (r.status, r.reason_code) == ("warn", "validated_model_missing")


def test_stage_2_reads_the_validated_model_and_refuses_another():
    assert resolve_stage1_model(None, "GARCH-LSTM") == "GARCH-LSTM"
    assert resolve_stage1_model("HAR", "HAR") == "HAR"
    with pytest.raises(ConfigError, match="stage1_model") as exc:
        resolve_stage1_model("GARCH", "GARCH-LSTM")
    assert "settings.yaml" in exc.value.where


def test_the_stage_1_evidence_records_the_validated_model():
    vol = SimpleNamespace(table2=pd.DataFrame({"RMSE": RMSE}),
                          summary={"best_model": "EWMA", "split": "walk_forward", "n_funds": 3, "n_test_points": 9,
                                   "validated_model": "GARCH-LSTM"})
    block = forecast_block(vol)
    assert block["validated_model"] == "GARCH-LSTM" and block["rmse"] == RMSE


def test_the_shipped_files_agree_with_the_one_declaration():
    validated = Stage1Config().validated_model
    assert validated == "GARCH-LSTM"
    assert load_rating_settings().stage1_model is None                   # stage 2 reads stage 1's
    # the world policy keeps its champion (its ruleset hash unchanged): it names the same model
    fe = load_policy(params_dir() / "policies" / "fund-rating.yml").research_model_rules.forecast_error
    assert fe is not None and fe.champion == validated
