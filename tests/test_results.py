"""The results contract: one declaration per key, typed writers that refuse bad values before
writing anything, typed readers that name the stage of a missing or unknown key."""
import pandas as pd
import pytest

from contract_samples import data_section, rating_section, volatility_section
from qmtl_research.results import (SECTIONS, RatingResults, ResultsError, ValidationResults, VolatilityResults,
                                   check_results, contract_table)
from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.store.context import RunContext


@pytest.fixture
def ctx(store_url, tmp_path):
    EvaluationStore.open(store_url).create_run(RunKey("fund-rating", "demo", "r1"))
    return RunContext("demo", "fund-rating", "r1", store_url, tmp_path / "run")


def test_round_trip_through_the_store(ctx):
    vol = volatility_section()
    vol.record(ctx)
    back = VolatilityResults.read(ctx.results(), required=True)
    pd.testing.assert_frame_equal(back.table2, vol.table2)
    assert back.summary == vol.summary
    assert RatingResults.read(ctx.results()) is None          # section not part of the run


@pytest.mark.parametrize("change, message", [
    (dict(table2=None), "required result volatility/table2 is missing"),
    (dict(summary={"best_model": "LSTM"}), "lacks fields"),
    (dict(table2=pd.DataFrame({"RMSE": [1.0]})), "lacks columns"),
    (dict(failures={"not": "a frame"}), "must be a frame"),
])
def test_the_writer_refuses_a_bad_section_and_writes_nothing(ctx, change, message):
    bad = volatility_section()
    for k, v in change.items():
        setattr(bad, k, v)
    with pytest.raises(ResultsError, match=message) as exc:
        bad.record(ctx)
    assert "stage 1" in str(exc.value)
    assert ctx.results() == {}


def test_the_reader_names_the_stage_of_a_missing_or_unknown_key(ctx):
    ctx.store.put_result(ctx.key, "rating", "table4", rating_section().table4)
    with pytest.raises(ResultsError, match="result rating/config is missing") as exc:
        RatingResults.read(ctx.results())
    assert "stage 2" in str(exc.value)
    ctx.store.put_result(ctx.key, "volatility", "tabel2", pd.DataFrame({"x": [1]}))
    with pytest.raises(ResultsError, match="not in the contract"):
        VolatilityResults.read(ctx.results())
    with pytest.raises(ResultsError, match="no 'validation' results"):
        ValidationResults.read(ctx.results(), required=True)


def test_unknown_section_is_refused():
    with pytest.raises(ResultsError, match="sections \\['volatilty'\\]"):
        check_results({("volatilty", "table2"): pd.DataFrame()})


def test_a_section_is_written_in_one_transaction(ctx):
    data_section().record(ctx)
    with pytest.raises(Exception, match="already recorded"):
        data_section().record(ctx)
    assert sorted(n for s, n in ctx.results()) == ["composition", "description"]


def test_exploration_mode_writes_nothing(tmp_path):
    ctx = RunContext("demo")
    assert not ctx.recording
    volatility_section().record(ctx)        # validated, not stored
    assert ctx.results() == {}


def test_every_key_is_declared_once():
    table = contract_table()
    assert not table.duplicated(["section", "name"]).any()
    assert set(table["section"]) == set(SECTIONS)
    assert table["description"].str.len().min() > 5


def test_a_large_frame_is_a_parquet_artifact_checked_when_read(ctx, tmp_path):
    vol = volatility_section()
    vol.forecasts = pd.DataFrame({"fund_id": ["A", "B"], "origin": pd.to_datetime(["2020-01-03"] * 2),
                                  "info_date": pd.to_datetime(["2019-12-27"] * 2),
                                  "fit_date": pd.to_datetime(["2019-01-04"] * 2), "y": [10.0, None], "LSTM": [9.5, 8.0]})
    vol.record(ctx)
    pointer = ctx.store.get_result(ctx.key, "volatility", "forecasts")
    assert pointer["rows"] == 2 and pointer["artifact"].endswith("volatility.forecasts.parquet")
    back = VolatilityResults.read(ctx.results(), required=True)
    pd.testing.assert_frame_equal(back.forecasts, vol.forecasts)
    with open(pointer["artifact"], "ab") as fh:        # tampering is detected
        fh.write(b"x")
    with pytest.raises(ResultsError, match="changed since the run recorded it"):
        VolatilityResults.read(ctx.results())
