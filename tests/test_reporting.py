"""Report pipeline: versions, rendering (pandoc + typst), runner end to end, failures, Quarto branch."""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

import nbformat as nbf
import pytest

from qmtl_research.errors import NotebookFailed
from qmtl_research.reporting import render, versions

REPO = Path(__file__).resolve().parents[1]

STEP = '''import pandas as pd
from qmtl_research.reporting.context import RunContext
ctx = RunContext.from_params(strategy, world, run_id, store_url, run_dir)
if value < 0:
    raise ValueError("value must be >= 0 (test failure)")
ctx.record("volatility", "table2", pd.DataFrame({"MSE": [value * 1.0, 4.0], "RMSE": [value ** 0.5, 2.0]},
           index=pd.Index(["GARCH", "LSTM"], name="model")))
ctx.record("volatility", "summary", {"rmse": {"GARCH": value ** 0.5, "LSTM": 2.0}, "split": "walk-forward"})
if ctx.recording:
    ctx.store.evaluate_run(ctx.key, metrics={"returns": {"sharpe": value}}, validation={"profile": "backtest"},
                           summary={"status": "pass" if value < 4 else "fail", "recommended_stage": "paper",
                                    "profile": "backtest"}, ruleset_hash="h" * 64)
'''


def _notebook(path: Path, code: str, params: str) -> None:
    nb = nbf.v4.new_notebook()
    nb.cells = [nbf.v4.new_code_cell(params, metadata={"tags": ["parameters"]}), nbf.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "qmtl-research", "display_name": "qmtl-research", "language": "python"}
    nbf.write(nb, path)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A throwaway project home: real report notebook and params, a tiny analysis notebook."""
    for sub in ("governance", "policies", "model_cards", "paper", "rating"):
        shutil.copytree(REPO / "params" / sub, tmp_path / "params" / sub)
    (tmp_path / "params" / "worlds").mkdir()
    shutil.copy(REPO / "params" / "worlds" / "fund-rating.yaml", tmp_path / "params" / "worlds")
    (tmp_path / "params" / "strategies").mkdir()
    (tmp_path / "params" / "strategies" / "tiny.yaml").write_text(
        "strategy_id: tiny\ntitle: 'Tiny 한글 strategy'\nmodel_card: demo\nworlds: [fund-rating]\nsynthetic: true\n"
        "universe: {source: audit_demo}\nnotebooks:\n  - notebook: step\n    parameters: {value: 1.0}\n")
    (tmp_path / "notebooks").mkdir()
    shutil.copy(REPO / "notebooks" / "report.ipynb", tmp_path / "notebooks")
    _notebook(tmp_path / "notebooks" / "step.ipynb", STEP,
              'strategy = "tiny"\nworld = None\nrun_id = None\nstore_url = None\nrun_dir = None\nvalue = 1.0')
    monkeypatch.setenv("QMTL_RESEARCH_HOME", str(tmp_path))
    monkeypatch.setenv("QMTL_STORE_URL", f"sqlite:///{tmp_path}/store.sqlite")
    monkeypatch.delenv("QMTL_REPORTS_DIR", raising=False)
    return tmp_path


def pdf_text(path: Path) -> str:
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (Debian poppler-utils) is needed to read PDFs: apt-get install poppler-utils")
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_versions_never_collide_under_concurrency(home):
    got = []
    threads = [threading.Thread(target=lambda: got.append(versions.allocate_version("s", "w")[0])) for _ in range(12)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(got) == [f"v{i:04d}" for i in range(1, 13)]
    assert versions.existing_versions("s", "w")[-1] == "v0012"


def test_run_report_end_to_end(home):
    from qmtl_research.reporting.runner import run_report
    from qmtl_research.store import EvaluationStore, RunKey

    res = run_report("tiny", progress=False, echo=lambda *_: None, engine="pandoc")
    assert res.version == "v0001" and res.status == "evaluated" and res.engine == "pandoc"
    folder = home / "reports" / "tiny" / "fund-rating" / "v0001"
    assert res.pdf == folder / "validation_report.pdf" and res.pdf.read_bytes()[:5] == b"%PDF-"
    assert (folder / "validation_report.html").is_file()
    assert sorted(p.name for p in (folder / "notebooks").iterdir()) == ["01_step.ipynb", "02_report.ipynb"]
    # committed notebooks untouched
    assert json.loads((home / "notebooks" / "step.ipynb").read_text())["cells"][1]["outputs"] == []
    manifest = json.loads((folder / "manifest.json").read_text())
    for field in ("git", "data_fingerprint", "parameters", "policy_version", "ruleset_hash", "model_card_version",
                  "packages", "seeds", "run_ids", "files"):
        assert field in manifest, field
    assert manifest["model_card_version"] == "v1.0" and manifest["run_ids"] == [res.run_id]
    assert versions.sha256_file(res.pdf) == manifest["files"]["validation_report.pdf"]
    text = pdf_text(res.pdf)
    for title in ("0 Summary", "1 Scope & Objective", "2 Model description", "3 Validation method", "4 Results",
                  "5 Risks & limitations", "6 Recommendations"):
        assert title in text, title
    assert "Verdict: PASS" in text and "한글" in text and "SYNTHETIC" in text
    store = EvaluationStore.open()
    assert store.get_run(RunKey("fund-rating", "tiny", res.run_id))["status"] == "evaluated"
    assert [r["version"] for r in store.list_reports("tiny", "fund-rating")] == ["v0001"]

    # a second report is a new version with a 'changes since' section; v0001 is untouched
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    res2 = run_report("tiny", progress=False, echo=lambda *_: None, engine="pandoc")
    assert res2.version == "v0002" and res2.folder != folder
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert "Changes since the previous version" in pdf_text(res2.pdf)


def test_failing_notebook_marks_run_failed_and_keeps_partial_copy(home):
    from qmtl_research.reporting.runner import run_report
    from qmtl_research.store import EvaluationStore

    spec = home / "params" / "strategies" / "tiny.yaml"
    spec.write_text(spec.read_text().replace("value: 1.0", "value: -1.0"))
    with pytest.raises(NotebookFailed) as err:
        run_report("tiny", progress=False, echo=lambda *_: None, engine="pandoc")
    msg = str(err.value)
    assert "notebook 'step' failed in cell 2" in msg and "ValueError: value must be >= 0" in msg
    partial = home / "reports" / "tiny" / "fund-rating" / "v0001" / "notebooks" / "01_step.ipynb"
    assert partial.is_file() and str(partial) in msg
    runs = EvaluationStore.open().list_runs(strategy_id="tiny")
    assert [r["status"] for r in runs] == ["failed"] and "ValueError" in runs[0]["error"]


def test_unknown_world_for_strategy(home):
    from qmtl_research.errors import ConfigError
    from qmtl_research.reporting.runner import run_report

    with pytest.raises(ConfigError, match="not registered in world 'elsewhere'"):
        run_report("tiny", "elsewhere", progress=False, echo=lambda *_: None)


def test_quarto_extension_is_complete():
    ext = render.EXTENSION_DIR
    import yaml

    spec = yaml.safe_load((ext / "_extension.yml").read_text())
    partials = spec["contributes"]["formats"]["typst"]["template-partials"]
    assert all((ext / p).is_file() for p in partials)
    assert "$typst-template.typ()$" in (ext / "pandoc-template.typ").read_text()


@pytest.mark.skipif(render.quarto_version() is None or render.quarto_version()[:2] < render.MIN_QUARTO,
                    reason="Quarto >= 1.7 is not installed here (install it from quarto.org to test the Quarto branch)")
def test_quarto_branch_renders(home, tmp_path):  # pragma: no cover - needs Quarto
    from qmtl_research.reporting.runner import run_report

    res = run_report("tiny", progress=False, echo=lambda *_: None, engine="quarto")
    assert res.engine == "quarto" and "0 Summary" in pdf_text(res.pdf)


def test_concurrent_steps_run_side_by_side_and_fail_cleanly(home):
    from qmtl_research.config import load_strategy
    from qmtl_research.reporting.runner import run_report, step_groups
    from qmtl_research.store import EvaluationStore

    spec = home / "params" / "strategies" / "tiny.yaml"
    _notebook(home / "notebooks" / "other.ipynb", "import time\ntime.sleep(1)\nraise RuntimeError('other broke')",
              'strategy = "tiny"\nworld = None\nrun_id = None\nstore_url = None\nrun_dir = None')
    spec.write_text(spec.read_text().replace(
        "  - notebook: step\n    parameters: {value: 1.0}\n",
        "  - notebook: other\n    concurrent: true\n  - notebook: step\n    concurrent: true\n    parameters: {value: 1.0}\n"))
    assert step_groups(load_strategy("tiny")) == [[0, 1]]
    with pytest.raises(NotebookFailed, match="notebook 'other' failed.*RuntimeError: other broke"):
        run_report("tiny", progress=False, echo=lambda *_: None, engine="pandoc")
    nbs = home / "reports" / "tiny" / "fund-rating" / "v0001" / "notebooks"
    assert sorted(p.name for p in nbs.iterdir()) == ["01_other.ipynb", "02_step.ipynb"]  # both ran to the end
    runs = EvaluationStore.open().list_runs(strategy_id="tiny")
    # 'step' evaluated the run before 'other' failed: the verdict is frozen, the failure goes to its history
    assert [r["status"] for r in runs] == ["evaluated"]
    from qmtl_research.store import RunKey

    hist = EvaluationStore.open().history(RunKey("fund-rating", "tiny", runs[0]["run_id"]))
    assert [h["change_type"] for h in hist] == ["ex_post_failure"] and "other broke" in hist[0]["payload"]["error"]


@pytest.mark.parametrize("scheduler", ["processes", "dask"])
def test_report_all_runs_strategies_in_separate_processes(home, scheduler):
    from qmtl_research.reporting.batch import run_many
    from qmtl_research.store import EvaluationStore

    spec = (home / "params" / "strategies" / "tiny.yaml").read_text()
    (home / "params" / "strategies" / "tiny2.yaml").write_text(spec.replace("strategy_id: tiny", "strategy_id: tiny2"))
    out = run_many(["tiny", "tiny2"], workers=2, scheduler=scheduler, engine="pandoc")
    assert [o["strategy"] for o in out] == ["tiny", "tiny2"]
    assert all(o["returncode"] == 0 for o in out), [o["output"][-500:] for o in out]
    assert {r["strategy_id"] for r in EvaluationStore.open().list_reports()} == {"tiny", "tiny2"}
    assert (home / "reports" / "tiny2" / "fund-rating" / "v0001" / "validation_report.pdf").is_file()
