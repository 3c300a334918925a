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


def tiny_strategy(title: str) -> str:
    """The tiny two-stage (var, validation) strategy the report tests run, titled ``title``."""
    return f"""strategy_id: tiny
title: '{title}'
model_card: tiny
worlds: [portfolios]
synthetic: true
universe: {{source: audit_demo, seed: 20260111}}
portfolio: {{portfolio_id: demo, weights: {{"005930": 0.5, "000660": 0.5}}, start: "2015-01-02", end: "2020-12-31"}}
notebooks:
  - notebook: var
    parameters: {{mc_simulations: 2000}}
  - notebook: validation
"""


TINY = tiny_strategy("Tiny 한글 strategy")


def _add_cell(path: Path, code: str) -> None:
    nb = nbf.read(path, as_version=4)
    nb.cells.append(nbf.v4.new_code_cell(code))
    nbf.write(nb, path)


def _tiny_card(home: Path) -> None:
    """tiny's model card: the audit demo's, bound to tiny (a run refuses another strategy's card)."""
    card = (REPO / "params" / "model_cards" / "audit-demo.yaml").read_text()
    (home / "params" / "model_cards" / "tiny.yaml").write_text(card.replace("strategy_id: audit-demo", "strategy_id: tiny"))


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A throwaway project home: the real notebooks and params, a tiny two-asset portfolio strategy."""
    shutil.copytree(REPO / "params", tmp_path / "params", ignore=shutil.ignore_patterns("strategies"))
    (tmp_path / "params" / "strategies").mkdir()
    (tmp_path / "params" / "strategies" / "tiny.yaml").write_text(TINY)
    _tiny_card(tmp_path)
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
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

    lines: list[str] = []
    res = run_report("tiny", progress=False, echo=lines.append, engine="pandoc")
    assert res.version == "v0001" and res.status == "evaluated" and res.engine == "pandoc"
    folder = home / "reports" / "tiny" / "portfolios" / "v0001"
    assert res.pdf == folder / "validation_report.pdf" and res.pdf.read_bytes()[:5] == b"%PDF-"
    assert (folder / "validation_report.html").is_file()
    assert sorted(p.name for p in (folder / "notebooks").glob("*.ipynb")) == \
        ["01_var.ipynb", "02_validation.ipynb", "03_report.ipynb"]
    # committed notebooks untouched
    assert (home / "notebooks" / "var.ipynb").read_bytes() == (REPO / "notebooks" / "var.ipynb").read_bytes()
    manifest = json.loads((folder / "manifest.json").read_text())
    for field in ("git", "data_fingerprint", "parameters", "policy_version", "ruleset_hash", "model_card_version",
                  "model_card_sha256", "inputs", "packages", "seeds", "run_ids", "files"):
        assert field in manifest, field
    assert manifest["model_card_version"] == "v1.0" and manifest["run_ids"] == [res.run_id]
    # each step's seconds: in the run output and the manifest, never in the report's text
    stages = [k for k in res.timings if k.startswith("stage ")]
    assert stages == ["stage var", "stage validation"]
    timings = manifest["timings"]
    assert set(timings) == {*res.timings, "total"} and all(v >= 0 for v in timings.values())
    assert timings["total"] == pytest.approx(sum(v for k, v in res.timings.items() if not k.startswith("notebook ")),
                                             abs=0.02)
    assert [ln for ln in lines if ln.strip().startswith(("var:", "validation:"))], lines
    seconds = [ln for ln in lines if ln.startswith("  seconds: ")]
    assert len(seconds) == 1 and "stage var" in seconds[0] and f"total {timings['total']:.1f}" in seconds[0]
    assert versions.sha256_file(res.pdf) == manifest["files"]["validation_report.pdf"]
    # every input file is listed with its hash; the throwaway home is not a git checkout
    paths = {f["path"]: f for f in manifest["inputs"]["files"]}
    assert {"params/strategies/tiny.yaml", "params/model_cards/tiny.yaml", "params/policies/portfolios.yml",
            "notebooks/var.ipynb"} <= set(paths)
    assert paths["params/strategies/tiny.yaml"]["sha256"] == versions.sha256_file(home / "params/strategies/tiny.yaml")
    text = pdf_text(res.pdf)
    assert "seconds" not in text and "timings" not in text
    for title in ("0 Summary", "1 Scope & Objective", "2 Model description", "3 Validation method", "4 Results",
                  "5 Risks & limitations", "6 Recommendations"):
        assert title in text, title
    store = EvaluationStore.open()
    run = store.get_run(RunKey("portfolios", "tiny", res.run_id))
    assert run["status"] == "evaluated" and f"Verdict: {run['summary']['status'].upper()}" in text
    assert "한글" in text and "SYNTHETIC" in text
    assert run["data_fingerprint"] == store.get_result(RunKey("portfolios", "tiny", res.run_id), "data",
                                                       "description")["fingerprint"]
    assert [r["version"] for r in store.list_reports("tiny", "portfolios")] == ["v0001"]

    # a second report is a new version with a 'changes since' section; v0001 is untouched
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    res2 = run_report("tiny", progress=False, echo=lambda *_: None, engine="pandoc")
    assert res2.version == "v0002" and res2.folder != folder
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert "Changes since the previous version" in pdf_text(res2.pdf)


def test_no_notebooks_gives_the_same_verdict(home):
    from qmtl_research.reporting.runner import run_report
    from qmtl_research.store import EvaluationStore, RunKey

    a = run_report("tiny", progress=False, echo=lambda *_: None, engine="pandoc")
    b = run_report("tiny", progress=False, echo=lambda *_: None, no_notebooks=True)
    assert b.pdf is None and b.version is None and b.verdict == a.verdict
    store = EvaluationStore.open()
    ra, rb = (store.get_run(RunKey("portfolios", "tiny", r.run_id)) for r in (a, b))
    assert ra["summary"]["status"] == rb["summary"]["status"]
    assert ra["validation"]["results"] == rb["validation"]["results"]


def test_a_failing_stage_marks_the_run_failed(home, monkeypatch):
    import dataclasses

    from qmtl_research import pipeline
    from qmtl_research.reporting.runner import run_report
    from qmtl_research.store import EvaluationStore

    def broken(*_a, **_k):
        raise ValueError("risk study broke (test)")

    monkeypatch.setitem(pipeline.STAGES, "var", dataclasses.replace(pipeline.STAGES["var"], run_ref=broken))
    with pytest.raises(ValueError, match="risk study broke"):
        run_report("tiny", progress=False, echo=lambda *_: None, engine="pandoc")
    runs = EvaluationStore.open().list_runs(strategy_id="tiny")
    assert [r["status"] for r in runs] == ["failed"] and "risk study broke" in runs[0]["error"]


def test_a_failing_notebook_stops_the_others_at_once_and_keeps_the_verdict(home):
    import time

    from qmtl_research.reporting.runner import run_report
    from qmtl_research.store import EvaluationStore, RunKey

    _add_cell(home / "notebooks" / "var.ipynb", "raise RuntimeError('the var view broke (test)')")
    _add_cell(home / "notebooks" / "validation.ipynb", "import time\ntime.sleep(120)")
    t = time.perf_counter()
    with pytest.raises(NotebookFailed) as err:
        run_report("tiny", progress=False, echo=lambda *_: None, engine="pandoc")
    assert time.perf_counter() - t < 100                      # the sleeping sibling was stopped
    msg = str(err.value)
    assert "notebook 'var' failed in cell" in msg and "RuntimeError: the var view broke (test)" in msg
    assert "stopped: validation" in msg
    partial = home / "reports" / "tiny" / "portfolios" / "v0001" / "notebooks" / "01_var.ipynb"
    assert partial.is_file() and str(partial) in msg
    runs = EvaluationStore.open().list_runs(strategy_id="tiny")
    # the stages evaluated the run before the views ran: the verdict is frozen, the failure is in its history
    assert [r["status"] for r in runs] == ["evaluated"]
    hist = EvaluationStore.open().history(RunKey("portfolios", "tiny", runs[0]["run_id"]))
    assert [h["change_type"] for h in hist] == ["ex_post_failure"] and "var view broke" in hist[0]["payload"]["error"]


@pytest.mark.parametrize("edit, message", [
    ("    parameters: {mc_simulations: 2000}", "notebooks[0].parameters.mc_simulation"),
    ("    parameters: {mc_simulations: many}", "notebooks[0].parameters.mc_simulations"),
    ("  - notebook: var", "notebooks[0].notebook"),
])
def test_bad_parameters_are_refused_before_anything_runs(home, edit, message):
    from qmtl_research.errors import ConfigError
    from qmtl_research.reporting.runner import run_report
    from qmtl_research.store import EvaluationStore

    spec = home / "params" / "strategies" / "tiny.yaml"
    bad = {"    parameters: {mc_simulations: 2000}": "    parameters: {mc_simulation: 2000}",
           "  - notebook: var": "  - notebook: vars"}.get(edit, edit)
    if "many" in edit:
        spec.write_text(spec.read_text().replace("    parameters: {mc_simulations: 2000}", bad))
    else:
        spec.write_text(spec.read_text().replace(edit, bad))
    with pytest.raises(ConfigError) as err:
        run_report("tiny", progress=False, echo=lambda *_: None, engine="pandoc")
    assert "params/strategies/tiny.yaml" in str(err.value) and message in str(err.value)
    assert EvaluationStore.open().list_runs(strategy_id="tiny") == []
    assert not (home / "reports" / "tiny").exists()


def test_a_parameter_the_notebook_does_not_have_is_refused(home):
    from qmtl_research.errors import ConfigError
    from qmtl_research.reporting.runner import run_report

    nb = nbf.read(home / "notebooks" / "var.ipynb", as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = "\n".join(line for line in params.source.splitlines() if not line.startswith("mc_simulations"))
    nbf.write(nb, home / "notebooks" / "var.ipynb")
    with pytest.raises(ConfigError, match="notebook 'var' has no parameter\\(s\\) \\['mc_simulations'\\]"):
        run_report("tiny", progress=False, echo=lambda *_: None, engine="pandoc")


def test_a_changed_model_card_needs_a_new_version(home):
    from qmtl_research.errors import ConfigError
    from qmtl_research.reporting.runner import run_report

    run_report("tiny", progress=False, echo=lambda *_: None, no_notebooks=True)
    card = home / "params" / "model_cards" / "tiny.yaml"
    card.write_text(card.read_text().replace("objective:", "objective: (edited)", 1)
                    if "objective: >" not in card.read_text() else card.read_text() + "\n# edited\n")
    with pytest.raises(ConfigError, match="changed but its model_card_version is still 'v1.0'"):
        run_report("tiny", progress=False, echo=lambda *_: None, no_notebooks=True)
    card.write_text(card.read_text().replace("model_card_version: v1.0", "model_card_version: v1.1"))
    assert run_report("tiny", progress=False, echo=lambda *_: None, no_notebooks=True).status == "evaluated"


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


@pytest.mark.parametrize("scheduler", ["processes", "dask"])
def test_report_all_runs_strategies_in_separate_processes(home, scheduler):
    from qmtl_research.reporting.batch import run_many
    from qmtl_research.store import EvaluationStore

    spec = (home / "params" / "strategies" / "tiny.yaml").read_text()
    (home / "params" / "strategies" / "tiny2.yaml").write_text(
        spec.replace("strategy_id: tiny", "strategy_id: tiny2").replace("model_card: tiny", "model_card: tiny2"))
    card = (home / "params" / "model_cards" / "tiny.yaml").read_text()   # a card is bound to its strategy
    (home / "params" / "model_cards" / "tiny2.yaml").write_text(card.replace("strategy_id: tiny", "strategy_id: tiny2"))
    out = run_many(["tiny", "tiny2"], workers=2, scheduler=scheduler, engine="pandoc")
    assert [o["strategy"] for o in out] == ["tiny", "tiny2"]
    assert all(o["returncode"] == 0 for o in out), [o["output"][-500:] for o in out]
    assert {r["strategy_id"] for r in EvaluationStore.open().list_reports()} == {"tiny", "tiny2"}
    assert (home / "reports" / "tiny2" / "portfolios" / "v0001" / "validation_report.pdf").is_file()


def test_a_store_password_reaches_no_file_of_the_report(home, monkeypatch):
    """#17: a report made against a password-protected PostgreSQL URL writes the password nowhere
    (executed notebooks, their metadata, manifest, HTML, PDF text, logs): every file is grepped."""
    from sqlalchemy.engine import make_url

    from conftest import PG_SKIP, PG_URL, _fresh_pg
    from qmtl_research.reporting.runner import run_report

    if not PG_URL:
        pytest.skip(PG_SKIP)
    secret = "Zq9pW-s3cret-71"
    url = make_url(_fresh_pg(PG_URL)).set(password=secret).render_as_string(hide_password=False)
    assert secret in url
    monkeypatch.delenv("QMTL_STORE_URL")          # the URL reaches the run only as an argument
    res = run_report("tiny", store_url=url, progress=False, echo=lambda *_: None, engine="pandoc")
    assert res.status == "evaluated"
    folder = home / "reports" / "tiny" / "portfolios" / res.version
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert any(p.suffix == ".ipynb" for p in files) and res.pdf in files
    leaks = [str(p.relative_to(folder)) for p in files if secret.encode() in p.read_bytes()]
    assert leaks == []
    cached = [p for p in (home / ".cache" / "stages").rglob("*") if p.is_file()]    # the stage cache too
    assert cached and [p.name for p in cached if secret.encode() in p.read_bytes()] == []
    assert secret not in pdf_text(res.pdf)
    # the kernels did use the PostgreSQL store: the run's notebooks stored what they read there
    from qmtl_research.store import EvaluationStore

    assert any(r["run_id"] == res.run_id for r in EvaluationStore.open(url).list_reports("tiny", "portfolios"))
