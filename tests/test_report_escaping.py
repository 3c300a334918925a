"""User text (strategy title and description, model-card items, decision reasons) reaches the
report as text: never as HTML that runs in a browser, never as typst/Markdown markup. The report
sections are called for real, their displayed objects become the outputs of a notebook, and that
notebook is rendered by pandoc + typst like every report."""
from __future__ import annotations

import re
import shutil
import subprocess
from types import SimpleNamespace
from unittest import mock

import nbformat as nbf
import pytest

from qmtl_research.reporting import render, sections
from qmtl_research.reporting.render import markdown_literal

XSS = "<img src=x onerror=alert(1)>"
TYPST = r"#set text(red) $x^2$ @ref <label> [link](http://x) \ *bold* _it_ `code`"
TITLE = f"Title {XSS} {TYPST}"
ITEM = f"limitation {XSS} # $ @ < [ \\"


def _displayed(fn, *args) -> list:
    shown = []
    with mock.patch.object(sections, "display", side_effect=lambda obj: shown.append(obj)):
        fn(*args)
    return shown


def _notebook(objs: list) -> nbf.NotebookNode:
    outputs = []
    for obj in objs:
        if hasattr(obj, "_repr_html_"):
            data = {"text/html": obj._repr_html_(), "text/plain": repr(obj)}
        else:
            data = {"text/markdown": obj.data, "text/plain": obj.data}
        outputs.append(nbf.v4.new_output("display_data", data=data))
    cell = nbf.v4.new_code_cell("sections(...)")
    cell.outputs = outputs
    nb = nbf.v4.new_notebook()
    nb.cells = [nbf.v4.new_markdown_cell("# Scope"), cell]
    return nb


@pytest.fixture
def rep():
    strategy = SimpleNamespace(title=TITLE, description=f"Description {XSS}\n\n{TYPST}", stage="backtest",
                               synthetic=False, universe=SimpleNamespace(source="file"))
    card = SimpleNamespace(objective=f"objective {XSS}", target_market=None, asset_class=None, hypothesis=None,
                           strategy_id="s", model_card_version="1", model_type=None, data_frequency=None,
                           owner=None, validator=None, risk_tier=None, model_structure=[ITEM], data_overview=[],
                           data_sources=[], preprocessing=[], key_assumptions=[ITEM], key_limitations=[ITEM])
    world = SimpleNamespace(world_id="w", title=f"world {XSS}", risk_tier="low", client_critical=False)
    return SimpleNamespace(strategy=strategy, model_card=card, world=world, lifecycle_stage="validation",
                           validation=None, volatility=None, rating=None)


def test_markdown_literal_escapes_every_markup_character():
    assert markdown_literal(XSS) == r"\<img src\=x onerror\=alert\(1\)\>"
    assert markdown_literal("a\nb", one_line=True) == "a b"
    # every ASCII punctuation character escaped, nothing else touched
    for ch in "#$@<>[]\\*_`{}()!|~^&%":
        assert markdown_literal(ch) == "\\" + ch
    assert markdown_literal("한글 ok 1") == "한글 ok 1"


def test_user_text_is_shown_not_executed_in_html_and_pdf(rep, tmp_path):
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is needed to read the PDF")
    objs = _displayed(sections.scope, rep) + _displayed(sections.model_description, rep) \
        + _displayed(sections.risks_and_limitations, rep)
    nb_path = tmp_path / "report.ipynb"
    nbf.write(_notebook(objs), nb_path)
    meta = {"title": "Validation Report", "subtitle": markdown_literal(TITLE, one_line=True),
            "qmtl": {"strategy": "s", "world": "w", "version": "v0001", "verdict": "PASS", "stage": "backtest",
                     "generated": "2026-01-01 00:00 UTC", "synthetic": False, "synthetic_note": ""}}
    out = render.render_notebook(nb_path, tmp_path / "_build", meta, engine="pandoc")
    html = out["html"].read_text(encoding="utf-8")
    # no live element or handler from user text: the tag is escaped text
    assert not re.search(r"<img[^>]*onerror", html), "user text became an <img onerror> element"
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<strong>bold</strong>" not in html and "<code>code</code>" not in html
    typ = out["typst"].read_text(encoding="utf-8")
    assert "#set text(red)" not in typ.replace("\\#set text(red)", "")    # escaped for typst
    pdf = subprocess.run(["pdftotext", str(out["pdf"]), "-"], capture_output=True, text=True, check=True).stdout
    flat = " ".join(pdf.split())
    for literal in ("<img src=x onerror=alert(1)>", "#set text(red)", "$x^2$", "@ref", "<label>",
                    "[link](http://x)", "*bold*", "_it_", "# $ @ < [ \\"):
        assert literal in flat, f"{literal!r} not shown literally in the PDF"


def test_without_escaping_the_same_text_would_be_markup(tmp_path):
    """The check above can fail: raw Markdown of the same title does produce an <img onerror> element."""
    nb = nbf.v4.new_notebook()
    nb.cells = [nbf.v4.new_markdown_cell(f"**{XSS}**")]
    nb_path = tmp_path / "raw.ipynb"
    nbf.write(nb, nb_path)
    out = render.render_notebook(nb_path, tmp_path / "_build", {"title": "t"}, engine="pandoc")
    assert re.search(r"<img[^>]*onerror", out["html"].read_text(encoding="utf-8"))
