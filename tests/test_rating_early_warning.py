"""Early warning table, CSV export, CLI, settings validation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import qmtl_research  # noqa: F401
from qmtl_research.data.synthetic import make_synthetic_universe
from qmtl_research.errors import ConfigError
from qmtl_research.rating.early_warning import EARLY_WARNING_COLUMNS, export_early_warning, warnings_by_horizon
from qmtl_research.rating.study import run_rating_study
from stage1_stub import TrailingStdForecaster
from qmtl_research.rating.labels import next_settlement
from qmtl_research.rating.settings import load_rating_settings

GRID = {"C": [1.0, 10.0], "gamma": ["scale"]}


@pytest.fixture(scope="module")
def panel():
    return make_synthetic_universe(n_funds=30, seed=20230831)


@pytest.fixture(scope="module")
def settings():
    return load_rating_settings().model_copy(update={"param_grid": GRID, "kernels": ["RBF", "Linear"]})


@pytest.fixture(scope="module")
def study(panel, settings):
    return run_rating_study(panel, settings, seed=1, forecaster=TrailingStdForecaster(), progress=False)


@pytest.fixture(scope="module")
def warnings_table(panel, study):
    return warnings_by_horizon(panel, study, TrailingStdForecaster(), seed=1, include_unchanged=True)


def test_every_fund_is_scored_or_excluded_with_a_reason(panel, warnings_table):
    table, excl = warnings_table
    assert list(table.columns) == EARLY_WARNING_COLUMNS
    assert set(table["fund_id"]) | set(excl["fund_id"]) == set(panel.fund_ids)
    assert not set(table["fund_id"]) & set(excl["fund_id"])
    assert (excl["reason"].str.len() > 0).all()


def test_evidence_and_order(panel, warnings_table):
    table, _ = warnings_table
    as_of = panel.dates[-1]
    for row in table.itertuples(index=False):
        s = next_settlement(panel, row.fund_id, as_of)
        assert row.next_settlement == s and row.days_to_settlement == (s - as_of).days
        assert row.weeks_to_settlement == max(1, int(np.ceil(row.days_to_settlement / 7)))
        assert row.distance_to_boundary_pp == pytest.approx(row.blended_std_pct - row.boundary_pct)
        assert 0.0 <= row.probability <= 1.0
        assert row.urgency == ("high" if row.days_to_settlement <= 28 else
                               "medium" if row.days_to_settlement <= 91 else "low")
    keys = list(zip(table["days_to_settlement"], -table["probability"]))
    assert keys == sorted(keys)
    # current grade = disclosed grade where the synthetic universe discloses one
    disclosed = panel.metadata["disclosed_grade"]
    src = table.set_index("fund_id")
    for fund in src.index[src["current_grade_source"] == "disclosed"]:
        assert src.at[fund, "current_grade"] == disclosed[fund]


def test_flagged_only_and_csv(tmp_path, panel, study, warnings_table):
    full, _ = warnings_table
    flagged, _ = warnings_by_horizon(panel, study, TrailingStdForecaster(), seed=1)
    expected = full[full["predicted_grade"] != full["current_grade"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(flagged, expected)
    path = export_early_warning(flagged, tmp_path / "ew.csv")
    back = pd.read_csv(path)
    assert list(back.columns) == EARLY_WARNING_COLUMNS and len(back) == len(flagged)


def test_rating_predict_through_the_console_command(tmp_path):
    """The distributor's weekly job on its own files: every fund once, grade now and predicted, exit codes
    (the command through the CLI's ``main()`` in this process; the console script is test_cli_exit_codes')."""
    from conftest import invoke
    from qmtl_research.data.writers import write_panel

    panel = make_synthetic_universe(n_funds=24, seed=7)
    files = write_panel(panel, tmp_path / "files")
    out = tmp_path / "pred.csv"
    args = ["rating", "predict", "--returns", str(files["returns"]), "--funds", str(files["funds"]),
            "--benchmarks", str(files["benchmarks"]), "--output", "csv", "--out", str(out), "--quiet"]
    proc = invoke(*args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = pd.read_csv(out)
    assert list(table.columns[:7]) == ["fund_id", "fund_type", "current_grade", "current_grade_source",
                                       "predicted_grade", "probability", "warning"]
    assert table["fund_id"].is_unique and set(table["fund_id"]) <= set(panel.fund_ids)
    assert table["predicted_grade"].between(1, 6).all()
    # an SVC gives a Platt probability; the regulatory rule (chosen where it validates better) gives none
    svc = table["model_kernel"] != "Regulatory rule"
    assert svc.any() and table.loc[svc, "probability"].between(0, 1).all()
    assert table.loc[~svc, "probability"].isna().all()
    # a warning needs a changed grade AND a horizon whose validated accuracy beats persistence
    w = table[table["warning"]]
    assert (w["predicted_grade"] != w["current_grade"]).all()
    assert (w["validated_accuracy"] > w["persistence_accuracy"]).all()
    bad = invoke("rating", "predict", "--returns", str(files["returns"]), "--quiet")
    assert bad.returncode == 2 and "--funds" in bad.stderr


def test_bad_settings_name_the_file_and_field(tmp_path):
    p = tmp_path / "settings.yaml"
    p.write_text("horizon_weeks: 4\nkernels: [RBF, Cubic]\nparam_grid:\n  C: [1.0]\n  gamma: [fast]\n")
    with pytest.raises(ConfigError) as exc:
        load_rating_settings(p)
    msg = str(exc.value)
    assert "settings.yaml:2" in msg and "Cubic" in msg and "fast" in msg


def test_rating_results_round_trip_through_the_store(tmp_path, panel, settings, warnings_table):
    from qmtl_research.rating.study import labels_summary, run_rating_study, study_results
    from qmtl_research.results import RatingResults
    from qmtl_research.store.context import RunContext

    s = settings.model_copy(update={"horizons": [4, 13], "kernels": ["RBF", "Linear"]})
    study = run_rating_study(panel, s, seed=1, forecaster=TrailingStdForecaster(), progress=False)
    grades, disclosed = labels_summary(panel, s)
    results = study_results(study, warnings_table[0], grades, **disclosed)
    assert list(results.table4.index) == ["RBF", "Linear", "Regulatory rule", "Persistence"]
    assert list(results.table4.columns) == ["accuracy", "macro_f1", "off_by_more_than_one"]
    assert results.summary["best_accuracy"] == pytest.approx(results.table4.loc[["RBF", "Linear"], "accuracy"].max())
    assert set(results.screen["feature"]) == set(study.default.screen.with_reference.index)
    ctx = RunContext("demo", "fund-rating", "r1", f"sqlite:///{tmp_path}/s.sqlite")
    ctx.store.create_run(ctx.key)
    results.record(ctx)
    back = RatingResults.read(ctx.results(), required=True)
    pd.testing.assert_frame_equal(back.table4, results.table4)
    assert back.summary["winner"] == results.summary["winner"]
    assert len(back.early_warning) == len(results.early_warning)
