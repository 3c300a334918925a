"""The report a validator signs: the regulatory mapping against the sections present, every
threshold of every rule in force with its measured value, provenance without machine paths, and
``report diff`` (text and JSON) on two versions with a changed parameter and a new commit.

Two reports of the smallest strategy the report tests use (``tiny``, a two-asset portfolio) are
made once for the module, in a throwaway project home that is a git checkout."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from test_reporting import REPO, TINY, _tiny_card, pdf_text

from qmtl_research.errors import ConfigError


def pdf_cells(path: Path) -> str:
    """The PDF's text in reading order (pdftotext without -layout: a table cell's lines stay
    together), lines joined by spaces, a line broken after a hyphen joined again."""
    pdf_text(path)  # skips without pdftotext
    raw = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return re.sub(r"(\w)- (\w)", r"\1-\2", " ".join(raw.split()))


def html_tables(path: Path) -> list[list[list[str]]]:
    """Every table of the HTML report as rows of cell texts (header row first; zero-width spaces,
    the line-break hints of long metric paths, removed)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    return [[[" ".join(c.get_text().replace("\u200b", "").split()) for c in tr.find_all(["th", "td"])]
             for tr in t.find_all("tr")]
            for t in soup.find_all("table")]


def table_with(path: Path, header: list[str]) -> list[dict]:
    found = [t for t in html_tables(path) if t and t[0] == header]
    assert found, f"no table with columns {header}"
    return [dict(zip(header, r)) for t in found for r in t[1:]]


def _git(home: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=home,
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def two_reports(tmp_path_factory):
    """v0001 (mc_simulations 2000) and v0002 (3000, committed as a new commit) of tiny."""
    home = tmp_path_factory.mktemp("signoff")
    shutil.copytree(REPO / "params", home / "params", ignore=shutil.ignore_patterns("strategies"))
    (home / "params" / "strategies").mkdir()
    (home / "params" / "strategies" / "tiny.yaml").write_text(TINY)
    _tiny_card(home)
    shutil.copytree(REPO / "notebooks", home / "notebooks")
    (home / ".gitignore").write_text("reports/\nstore.sqlite\n")
    _git(home, "init", "-q")
    _git(home, "add", "-A")
    _git(home, "commit", "-qm", "first")
    env = {"QMTL_RESEARCH_HOME": str(home), "QMTL_STORE_URL": f"sqlite:///{home}/store.sqlite"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.delenv("QMTL_REPORTS_DIR", raising=False)
        from qmtl_research.reporting.runner import run_report

        first = run_report("tiny", progress=False, echo=lambda *_: None, engine="pandoc")
        commit_a = _git(home, "rev-parse", "HEAD")
        (home / "params" / "strategies" / "tiny.yaml").write_text(TINY.replace("mc_simulations: 2000",
                                                                               "mc_simulations: 3000"))
        _git(home, "commit", "-qam", "more paths")
        second = run_report("tiny", progress=False, echo=lambda *_: None, engine="pandoc")
        commit_b = _git(home, "rev-parse", "HEAD")
    return {"home": home, "env": env, "first": first, "second": second, "commits": (commit_a, commit_b)}


def _store(env):
    from qmtl_research.store import EvaluationStore

    return EvaluationStore.open(env["QMTL_STORE_URL"])


def _run(env, res) -> dict:
    from qmtl_research.store import RunKey

    return _store(env).get_run(RunKey(res.world_id, res.strategy_id, res.run_id))


def _headings(text: str) -> set[str]:
    """Section headings of the PDF text: lines that are a number and a title on their own."""
    return {line.strip() for line in text.splitlines()
            if re.match(r"^(\d+(\.\d+)?|Appendix [AB]:?|Sign-off) \S", line.strip())}


def test_mapping_cites_only_sections_present_and_names_gaps(two_reports):
    from qmtl_research.reporting.outline import EVIDENCE

    text = pdf_text(two_reports["first"].pdf)
    mapping = yaml.safe_load((REPO / "params" / "governance" / "regulatory_mapping.yaml").read_text())
    flat = pdf_cells(two_reports["first"].pdf)
    heads = " ".join(_headings(text))
    # every section number the mapping cites is a heading of this PDF, with its title
    for number, title in (("4.1", "Rule outcomes"), ("4.2", "Risk: VaR, Monte Carlo, stress, backtests, performance"),
                          ("1", "Scope & Objective"), ("3", "Validation method")):
        assert f"{number} {title}" in heads
        assert f"{number} {title}:" in flat
    # a portfolio report has no stage 1 or 2: never cited as evidence, named as gaps in words
    assert "Stage 1" not in heads and "Stage 2" not in heads
    for gap in ("stage 1 walk-forward errors, Diebold-Mariano tests and model confidence set",
                "stage 2 against the regulatory rule and persistence", "live monitoring rules",
                "changes in inputs, code and results since the previous version"):
        assert gap in flat
    # the second version holds a previous version: section 7 is cited instead of being a gap
    flat2 = pdf_cells(two_reports["second"].pdf)
    assert "7 Changes since the previous version: changes in inputs" in flat2
    # one row per element of the registry, none citing an unknown evidence id
    for el in mapping["elements"]:
        assert " ".join(el["element"].split()[:3]) in flat
        assert set(el["evidence"]) <= set(EVIDENCE)


def test_mapping_rows_follow_the_evidence_held(two_reports):
    """The mapping table of the stored run: each cited section exists in the report's outline and
    holds the evidence, and each gap is evidence the report does not hold."""
    from qmtl_research.reporting.governance import mapping_table
    from qmtl_research.reporting.outline import EVIDENCE, section_numbers
    from qmtl_research.reporting.report_data import ReportData
    from qmtl_research.store.context import RunContext

    with pytest.MonkeyPatch.context() as mp:
        for k, v in two_reports["env"].items():
            mp.setenv(k, v)
        res = two_reports["first"]
        rep = ReportData.load(RunContext.from_params("tiny", res.world_id, res.run_id, None, None))
        _, frame = mapping_table(rep)
        numbers = section_numbers(rep)
        assert "results.volatility" not in numbers and numbers["results.risk"][0] == "4.2"
        mapping = yaml.safe_load((REPO / "params" / "governance" / "regulatory_mapping.yaml").read_text())
        assert list(frame["element"]) == [e["element"] for e in mapping["elements"]]
        for el, (_, row) in zip(mapping["elements"], frame.iterrows()):
            for ev in el["evidence"]:
                section = EVIDENCE[ev].section
                if section not in numbers:      # a results part this report does not show
                    assert not EVIDENCE[ev].present(rep) and EVIDENCE[ev].what in row["not in this report (gap)"]
                    continue
                number, title = numbers[section]
                cited = f"{number} {title}: {EVIDENCE[ev].what}" in row["evidence in this report (section)"]
                assert cited == EVIDENCE[ev].present(rep), (el["element"], ev)
                assert (EVIDENCE[ev].what in row["not in this report (gap)"]) == (not cited)


def test_mapping_with_unknown_evidence_is_refused(tmp_path):
    from qmtl_research.reporting.governance import load_regulatory_mapping

    bad = tmp_path / "m.yaml"
    bad.write_text("frameworks: [SR 11-7]\nelements:\n  - element: x\n    evidence: [var_backtest, stress_and_mc]\n")
    with pytest.raises(ConfigError, match="unknown evidence \\['stress_and_mc'\\]"):
        load_regulatory_mapping(bad)


def _in_force(policy: dict, profile: str) -> list[tuple[str, float]]:
    """Every numeric threshold of the portfolios policy in force for a backtest run, read from the YAML."""
    out = []
    for section in policy["validation_profiles"][profile].values():
        out += [(k, float(v)) for k, v in section.items() if isinstance(v, (int, float))]
    out.append(("max_loss", float(policy["stress"]["max_loss"])))
    for rule in ("benchmark_performance", "performance_targets"):
        out += [(k, float(v)) for k, v in policy["research_model_rules"][rule].items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return out


def test_every_threshold_is_printed_with_its_measured_value(two_reports):
    from qmtl_research.validation.metrics import get_metric

    res = two_reports["first"]
    policy = yaml.safe_load((REPO / "params" / "policies" / "portfolios.yml").read_text())
    expected = _in_force(policy, "backtest")
    assert len(expected) == 14
    run = _run(two_reports["env"], res)
    rows = table_with(res.html, ["rule", "severity", "threshold", "metric", "bound", "measured", "status"])
    for key, bound in expected:
        hits = [r for r in rows if r["threshold"] == key and re.fullmatch(rf"[<>]=? {bound:.6g}", r["bound"])]
        assert hits, f"threshold {key} {bound} not printed"
        assert all(r["severity"] in ("blocking", "soft", "info") and r["measured"] not in ("", "n/a") for r in hits)
    # measured values are the run's metrics, as stored; strict targets say so
    sharpe = get_metric(run["metrics"], "returns.sharpe")
    assert {"rule": "performance", "severity": "blocking", "threshold": "sharpe_min", "metric": "returns.sharpe",
            "bound": ">= 0.3", "measured": f"{sharpe:.6g}", "status": "pass" if sharpe >= 0.3 else "fail"} in rows
    assert any(r["threshold"] == "win_rate_min" and r["bound"] == "> 0.5" for r in rows)
    # thresholds of rules not in force for a backtest run are not printed as in force
    assert not any(r["threshold"] in ("min_live_vs_backtest_sharpe_ratio", "min_sharpe_ratio") for r in rows)
    # and the PDF prints the same table: every key of the policy in force appears in it
    text = pdf_text(res.pdf)
    block = text[text.index("Every threshold of every rule in force"):text.index("Stages of this run")]
    assert all(key in block for key, _ in expected)


def test_provenance_is_printed_and_no_machine_path(two_reports):
    home, res = two_reports["home"], two_reports["first"]
    text = pdf_text(res.pdf)
    flat = "".join(text.split())
    run = _run(two_reports["env"], res)
    appendix = text[text.index("Appendix B: provenance\n"):]
    assert two_reports["commits"][0] in appendix
    assert re.search(r"dirty \(uncommitted changes in the checkout or its inputs\)\s+False", appendix)
    assert len(run["data_fingerprint"]) == 64 and run["data_fingerprint"] in flat
    for rel in ("params/strategies/tiny.yaml", "params/policies/portfolios.yml", "params/model_cards/tiny.yaml"):
        digest = hashlib.sha256((home / rel).read_bytes()).hexdigest() if rel != "params/strategies/tiny.yaml" \
            else hashlib.sha256(TINY.encode()).hexdigest()
        assert re.search(rf"{re.escape(rel)}\s+tracked\s+{digest}", appendix), rel
    assert re.search(r"numpy\s+\d+\.\d+", appendix) and re.search(r"typst\s+\d+\.\d+", appendix)
    html = res.html.read_text(encoding="utf-8")
    machine = [str(home), str(home.resolve()), str(REPO), os.path.expanduser("~") + "/", "/tmp/", "/home/", "/root/"]
    for body in (text, html):
        found = [m for m in machine if m in body]
        assert not found, found


def test_report_diff_text_and_json_and_section_7(two_reports):
    a, b = two_reports["commits"]
    cli = shutil.which("qmtl-research") or str(Path(os.sys.executable).parent / "qmtl-research")
    env = {**os.environ, **two_reports["env"]}
    base = [cli, "report", "diff", "tiny", "--world", "portfolios", "v0001", "v0002"]
    text = subprocess.run(base, capture_output=True, text=True, env=env, check=True).stdout
    assert "parameters.var.mc_simulations: 2000 -> 3000 (+1000)" in text
    assert f"commit: {a} -> {b}" in text
    assert re.search(r"inputs: \d+ change\(s\)", text) and "file params/strategies/tiny.yaml" in text
    out = json.loads(subprocess.run(base + ["--output", "json"], capture_output=True, text=True, env=env,
                                    check=True).stdout)
    assert out["previous"]["version"] == "v0001" and out["current"]["commit"] == b
    params = {r["item"]: r for r in out["inputs"]}
    assert params["parameters.var.mc_simulations"]["previous"] == 2000
    assert params["parameters.var.mc_simulations"]["current"] == 3000
    assert params["file params/strategies/tiny.yaml"]["current"].startswith(
        "sha256 " + hashlib.sha256(TINY.replace("2000", "3000").encode()).hexdigest())
    assert {r["item"] for r in out["code"]} >= {"commit"}
    # more Monte Carlo paths change the simulated statistics, not the policy inputs
    assert any(r["item"].startswith("risk.montecarlo.") for r in out["results"])
    assert "policy.version" not in params and "data.fingerprint" not in params
    # section 7 of v0002 shows the same input, code and results changes
    second = two_reports["second"]
    flat = pdf_cells(second.pdf)
    start = flat.index("7 Changes since the previous version Compared")
    sec7 = flat[start:flat.index("Appendix A: conventions", start)]
    assert "parameters.var.mc_simulations" in sec7 and a in sec7 and b in sec7
    assert re.search(r"Results \(verdict, rules, metrics\): \d+ change", sec7)
    shown = table_with(second.html, ["item", "previous", "current", "change"])
    row = next(r for r in shown if r["item"] == "parameters.var.mc_simulations")
    assert (float(row["previous"]), float(row["current"]), float(row["change"])) == (2000, 3000, 1000)
    assert {"item": "commit", "previous": a, "current": b, "change": "n/a"} in shown
    assert len([r for r in shown if r["item"].startswith("risk.montecarlo.")]) == \
        len([r for r in out["results"] if r["item"].startswith("risk.montecarlo.")])
    # an unknown version: exit 2, the known ones named
    bad = subprocess.run(base[:-1] + ["v0009"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "known versions: v0001, v0002" in bad.stderr


def test_user_text_is_rendered_literally(tmp_path):
    """An actor typed with ``--``, ``*`` and ``#`` reaches the PDF as typed (no en dash, no emphasis)."""
    import nbformat as nbf

    from qmtl_research.reporting import render
    from qmtl_research.reporting.sections import literal

    nb = nbf.v4.new_notebook()
    cell = nbf.v4.new_code_cell("x")
    cell.outputs = [nbf.v4.new_output("display_data", {"text/markdown": f"by {literal('A--B *x* #y')} on",
                                                       "text/plain": "x"})]
    nb.cells = [cell]
    path = tmp_path / "n.ipynb"
    nbf.write(nb, path)
    out = render.render_notebook(path, tmp_path / "out", {"title": "t"}, engine="pandoc", html=False)
    assert "by A--B *x* #y on" in pdf_text(out["pdf"])


def test_signed_report_shows_the_decisions_on_its_run(two_reports):
    """override -> approve on v0002's failing run -> ``report sign``: a new version of the same run
    whose Sign-off block holds the decision (role, name as typed, date, decision)."""
    cli = shutil.which("qmtl-research") or str(Path(os.sys.executable).parent / "qmtl-research")
    env = {**os.environ, **two_reports["env"]}
    run_id = two_reports["second"].run_id
    actor = "J. -- Kim"

    def call(*args, ok=True):
        proc = subprocess.run([cli, *args], capture_output=True, text=True, env=env)
        assert (proc.returncode == 0) == ok, proc.stderr
        return proc

    approve = ["approve", "--run", run_id, "--decision", "approve", "--actor", actor, "--role", "Risk",
               "--reason", "report v0002 read", "--report-version", "v0002"]
    refused = call(*approve, ok=False)          # a failing run without an approved override
    assert refused.returncode == 2
    call("override", "--world", "portfolios", "--strategy", "tiny", "--run", run_id, "--status", "approved",
         "--actor", actor, "--role", "Risk", "--reason", "targets are not limits for a demo portfolio")
    call(*approve)
    out = call("report", "sign", "--strategy", "tiny", "--world", "portfolios", "--run", run_id, "--engine", "pandoc")
    assert "v0003: signed report of run " + run_id in out.stdout
    folder = two_reports["home"] / "reports" / "tiny" / "portfolios" / "v0003"
    text = pdf_text(folder / "validation_report.pdf")
    sign = " ".join(text[text.rindex("Sign-off"):].split())
    assert f"Signed on run {run_id}" in sign and actor in sign and "approve" in sign and "Risk" in sign
    assert "–" not in sign                       # the actor's "--" is not an en dash
    rows = table_with(folder / "validation_report.html", ["role", "name", "date", "decision", "report"])
    assert rows and rows[-1]["name"] == actor and rows[-1]["report"] == "v0002"
    # the same run: nothing recomputed, so no input, code or result changed since v0002
    diff = json.loads(call("report", "diff", "tiny", "--world", "portfolios", "v0002", "v0003", "--output",
                           "json").stdout)
    assert diff["inputs"] == [] and diff["results"] == [] and diff["current"]["run_id"] == run_id
