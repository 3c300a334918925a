"""Report regression guard: render the demo report, read the PDF's text, and compare the
section titles, the verdict and key numbers with a stored baseline (with tolerances).

Update the baseline deliberately after an intended change:
    QMTL_UPDATE_BASELINE=1 .venv/bin/pytest tests/test_report_regression.py
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

BASELINE = Path(__file__).parent / "baselines" / "demo_report.json"
SECTIONS = ["0 Summary", "1 Scope & Objective", "2 Model description", "3 Validation method", "4 Results",
            "4.1 Rule outcomes", "4.2 Stage 1: volatility forecasting",
            "4.3 Stage 1: fund VaR and ES backtests (outcomes analysis)", "4.4 Stage 2: risk-grade classification",
            "4.5 Extended validation", "4.6 Metrics snapshot", "4.7 Override information",
            "4.8 Benchmark and challenger comparison", "5 Risks & limitations", "6 Recommendations",
            "6.1 Findings log", "7 Changes since the previous version", "Appendix A: conventions and recorded results"]
TOL = {"rmse": 0.15, "accuracy": 2.0}  # percentage points


def extract(text: str) -> dict:
    """Verdict, stage, RMSEs, accuracies and rule counts from the report's text."""
    flat = re.sub(r"(?<=\w)-\s+(?=\w)", "-", text)      # "GARCH-" at a line end + "LSTM"
    flat = flat.replace("GARCHLSTM", "GARCH-LSTM")      # typst breaks at the hyphen and pdftotext drops it
    flat = re.sub(r"\s+", " ", flat)
    out: dict = {"sections": [s for s in SECTIONS if s in text]}
    # the summary sentence (the title page is a two-column table whose cells pdftotext reads column by column)
    m = re.search(r"Verdict:? (PASS|WARN|FAIL) \S+ recommended stage (\w+)", flat)
    out["verdict"] = m and m.group(1)
    out["recommended_stage"] = m and m.group(2)
    m = re.search(r"RMSE order (.*?); best (\S+)\.", flat)
    out["rmse"] = {k: float(v) for k, v in re.findall(r"([\w-]+) \((\d+\.\d+)\)", m.group(1))} if m else {}
    out["best_volatility_model"] = m and m.group(2)
    m = re.search(r"best kernel (\w+) accuracy ([\d.]+) ?% vs regulatory rule ([\d.]+) ?% and persistence ([\d.]+) ?%"
                  r"; winner: (\w+)", flat)
    out["best_kernel"] = m and m.group(1)
    out["accuracy"] = ({"best kernel": float(m.group(2)), "regulatory rule": float(m.group(3)),
                        "persistence": float(m.group(4))} if m else {})
    out["winner"] = m and m.group(5)
    m = re.search(r"Rules: (\d+) pass, (\d+) warn, (\d+) fail", flat)
    out["rules"] = dict(zip(("pass", "warn", "fail"), map(int, m.groups()))) if m else {}
    return out


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (Debian poppler-utils) is needed: apt-get install poppler-utils")
    tmp = tmp_path_factory.mktemp("regression")
    old = {k: os.environ.get(k) for k in ("QMTL_STORE_URL", "QMTL_REPORTS_DIR", "QMTL_STAGE_CACHE_DIR")}
    os.environ["QMTL_STORE_URL"] = f"sqlite:///{tmp}/store.sqlite"
    os.environ["QMTL_REPORTS_DIR"] = str(tmp / "reports")
    os.environ["QMTL_STAGE_CACHE_DIR"] = str(tmp / "stages")     # an empty stage cache: every stage computed
    try:
        from qmtl_research.reporting.runner import run_report

        res = run_report("demo", progress=False, echo=lambda *_: None, engine="pandoc")
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    text = subprocess.run(["pdftotext", "-layout", str(res.pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    return res, text


def test_demo_report_matches_baseline(demo_report):
    res, text = demo_report
    got = extract(text)
    if os.environ.get("QMTL_UPDATE_BASELINE"):
        BASELINE.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    base = json.loads(BASELINE.read_text())
    assert got["sections"] == SECTIONS, "section titles missing from the PDF"
    for key in ("verdict", "recommended_stage", "best_volatility_model", "best_kernel", "winner", "rules"):
        assert got[key] == base[key], key
    assert got["rmse"].keys() == base["rmse"].keys()
    for model, value in base["rmse"].items():
        assert got["rmse"][model] == pytest.approx(value, abs=TOL["rmse"]), model
    for name, value in base["accuracy"].items():
        assert got["accuracy"][name] == pytest.approx(value, abs=TOL["accuracy"]), name


def test_report_has_tables_figures_and_synthetic_banner(demo_report):
    res, text = demo_report
    assert "SYNTHETIC DATA" in text and "Table 1." in text
    assert re.search(r"Table \d+\. Forecast error by model", text)
    media = list((res.folder / "_build" / "media").glob("*.png"))
    assert len(media) >= 4, "figures missing from the report"
    assert (res.folder / "validation_report.html").stat().st_size > 50_000


def test_demo_report_layout(demo_report):
    """The demo PDF as a validator reads it: each "Table N." caption once, with a table row after
    it on its page (not alone at a page foot); no count printed as a float in the challenger
    table; no zero-width space; no machine path; no page but the last left mostly blank."""
    res, text = demo_report
    pages = text.split("\f")[:-1]
    numbers = sorted({int(n) for n in re.findall(r"Table (\d+)\.", text)})
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) > 40
    for n in numbers:
        hits = [p for p in pages if re.search(rf"^\s*Table {n}\.", p, re.M)]
        assert len(hits) == 1, f"Table {n}: caption printed {len(hits)} times"
        after = hits[0][re.search(rf"^\s*Table {n}\.", hits[0], re.M).end():].splitlines()[1:-2]  # less the footer
        assert any(re.search(r"\S\s{2,}\S", line) for line in after), f"Table {n}: no table row after its caption"
    challengers = re.search(r"Table \d+\. Every stage-1 model against.*?(?=Table \d+\.)", text, re.S).group(0)
    assert re.search(r"\s\d+\s+\d+\s*$", challengers, re.M), "the challengers' fit counts are missing"
    assert not re.search(r"\b\d+\.0\s+\d+\.0\s*$", challengers, re.M), "fits/flagged_fits printed as floats"
    assert "\u200b" not in text
    flat = "".join(subprocess.run(["pdftotext", str(res.pdf), "-"], capture_output=True, text=True,
                                  check=True).stdout.split())
    assert "artifact=artifacts/" in flat
    for machine in (str(res.folder), str(Path.home()) + "/", "/tmp/", str(Path(__file__).resolve().parents[1])):
        assert machine not in flat, machine
    bbox = subprocess.run(["pdftotext", "-bbox-layout", str(res.pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    for i, (h, body) in enumerate(re.findall(r'<page width="[\d.]+" height="([\d.]+)">(.*?)</page>', bbox, re.S)[:-1]):
        h = float(h)
        top, bottom = h * 2.3 / 29.7, h - h * 2.0 / 29.7
        lowest = max(float(y) for y in re.findall(r'<line xMin="[\d.]+" yMin="[\d.]+" xMax="[\d.]+" yMax="([\d.]+)"', body)
                     if top < float(y) < bottom)
        assert (lowest - top) / (bottom - top) > 0.5, f"page {i + 1} is more than half blank"
