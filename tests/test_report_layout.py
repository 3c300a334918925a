"""Page layout of the rendered report, read back from the PDF (pdftotext): captions on the page
of what they caption, no caption left alone at a page foot, no half-blank page, nothing past
the right margin, counts printed as integers, no zero-width space in the text layer; and the
Lua filter's caption pass on the cell shape Quarto produces (run here with pandoc).

The notebook is built from the report's own display functions (``sections.table``,
``sections.md``), so the tables carry the same HTML, captions and number formatting as a
report; tables of 1 to 30 rows between headings and paragraphs put captions at every height
of a page."""
from __future__ import annotations

import re
import shutil
import subprocess
import textwrap

import nbformat
import numpy as np
import pandas as pd
import pytest

from qmtl_research.reporting import render, sections

pytestmark = pytest.mark.skipif(not shutil.which("pdftotext"),
                                reason="pdftotext (Debian poppler-utils) is needed: apt-get install poppler-utils")

A4_H, TOP, BOTTOM, X_MARGIN = 841.89, 2.3 / 29.7, 2.0 / 29.7, 2.0 / 21.0
LONG_METRIC = "models.rating.margin_vs_rule_of_the_validated_model"
DIGEST = "9f2c" * 16


def _outputs(calls) -> list:
    """The display calls of the report's section functions as notebook outputs."""
    out = []
    for obj in calls:
        if isinstance(obj, sections.Table):
            data = {"text/html": obj._repr_html_(), "text/plain": repr(obj)}
        else:
            data = {"text/markdown": obj.data, "text/plain": obj.data}
        out.append(nbformat.v4.new_output("display_data", data=data))
    return out


def _cell(calls) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("#| echo: false\n# shown by the report's section functions")
    cell.outputs = _outputs(calls)
    return cell


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("layout")
    calls: list = []
    original = sections.display
    sections.display = calls.append
    try:
        first = next(sections._TABLE_NUMBER)          # captions continue the process-wide numbering
        cells = [nbformat.v4.new_markdown_cell("# 0 Layout")]
        rng = np.random.default_rng(7)
        sizes = [1, 3, 30, 2, 8, 1, 12, 5, 25, 4, 1, 9, 2, 18, 6, 3, 1, 14, 7, 2, 22, 5, 1, 10]
        for k, n in enumerate(sizes):
            if k % 5 == 0:
                cells.append(nbformat.v4.new_markdown_cell(f"## {k // 5 + 1}.{k} Section {k}"))
            calls.clear()
            sections.md(textwrap.fill(" ".join(["Paragraph text of the layout check."] * int(rng.integers(1, 9))), 90))
            number = first + 1 + k
            frame = pd.DataFrame({f"h{number}": [f"r{number}x{i}" for i in range(n)],
                                  "fits": [np.nan] + [333.0] * (n - 1),
                                  "flagged_fits": [29.0] * n,
                                  "metric": [LONG_METRIC] * n,
                                  "value": rng.normal(size=n)})
            if k % 4 == 0:
                frame["digest"] = DIGEST
            sections.table(frame, f"layout check table with {n} row(s) and a caption long enough to "
                                  f"wrap on a second line of the page when the table is number {number}",
                           index=False)
            cells.append(_cell(list(calls)))
        numbers = [first + 1 + k for k in range(len(sizes))]
    finally:
        sections.display = original
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                        "display_name": "Python 3"}})
    path = tmp / "layout.ipynb"
    nbformat.write(nb, path)
    out = render.render_notebook(path, tmp / "out", {"title": "Layout check", "qmtl": {"strategy": "layout"}},
                                 engine="pandoc", html=False)
    pdf = out["pdf"]
    pages = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout.split("\f")[:-1]
    bbox = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    raw = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return {"pages": pages, "bbox": bbox, "raw": raw, "numbers": numbers, "sizes": sizes}


def test_every_caption_is_on_the_page_of_its_table_header_and_first_row(rendered):
    for number in rendered["numbers"]:
        hits = [i for i, p in enumerate(rendered["pages"]) if f"Table {number}." in p]
        assert len(hits) == 1, f"Table {number}: caption found on pages {hits} (once expected)"
        page = rendered["pages"][hits[0]]
        after = page[page.index(f"Table {number}."):]
        assert re.search(rf"\bh{number}\b", after), f"Table {number}: caption and header on different pages"
        assert f"r{number}x0" in after, f"Table {number}: caption and first row on different pages"


def test_no_half_blank_page_and_nothing_past_the_right_margin(rendered):
    pages = re.findall(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', rendered["bbox"], re.S)
    assert len(pages) == len(rendered["pages"]) >= 3
    for i, (w, h, body) in enumerate(pages):
        w, h = float(w), float(h)
        top, bottom = TOP * h, h - BOTTOM * h
        words = [tuple(map(float, m)) for m in
                 re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)"', body)]
        assert max(x1 for _, _, x1, _ in words) <= w - X_MARGIN * w + 1.0, f"page {i + 1}: text past the margin"
        if i < len(pages) - 1:   # the last page may end anywhere
            lowest = max(y1 for _, _, _, y1 in words if top < y1 < bottom)
            fill = (lowest - top) / (bottom - top)
            assert fill > 0.8, f"page {i + 1} is filled to {fill:.0%} of its height only"


def test_counts_print_as_integers_and_no_zero_width_space(rendered):
    text = "\n".join(rendered["pages"])
    assert "\u200b" not in text
    assert "333" in text and "29" in text
    assert not re.search(r"\b(333|29)\.0\b", text), "a count printed as a float"
    assert text.count("n/a") >= len(rendered["numbers"])          # the missing count stays n/a
    flat = "".join(rendered["raw"].split())     # reading order: a cell's lines stay together
    assert "\u200b" not in flat
    assert flat.count(LONG_METRIC) == sum(rendered["sizes"])      # broken at its dots, nothing added
    assert flat.count(DIGEST) == sum(n for k, n in enumerate(rendered["sizes"]) if k % 4 == 0)


def test_whole_numbers_as_integers_keeps_values_and_missing():
    frame = pd.DataFrame({"fits": [np.nan, 333.0], "share": [0.5, 1.0], "mixed": ["a", 3360.0],
                          "whole": [1.0, 2.0], "n": [1, 2]})
    out = sections.whole_numbers_as_integers(frame)
    assert out["fits"].tolist()[1] == 333 and isinstance(out["fits"].tolist()[1], int) and pd.isna(out["fits"][0])
    assert out["share"].tolist() == [0.5, 1.0] and out["share"].dtype == float   # not all whole: unchanged
    assert out["mixed"].tolist() == ["a", 3360] and str(out["whole"].dtype) == "Int64"
    html = sections.Table(out)._repr_html_()
    assert "<td>n/a</td>" in html and "333.0" not in html and "3360.0" not in html


def _pandoc_typst(markdown: str, tmp_path, quarto: bool) -> str:
    """typst from ``markdown`` through the report's Lua filter; ``quarto``: with the global
    ``quarto`` defined, as Quarto runs its filters (only the caption and long-word pass)."""
    import pypandoc

    filt = render.LUA_FILTER
    if quarto:
        filt = tmp_path / "as_quarto.lua"
        filt.write_text(f"quarto = {{}}\nreturn dofile({str(render.LUA_FILTER)!r})\n")
    src = tmp_path / "doc.md"
    src.write_text(markdown)
    return subprocess.run([pypandoc.get_pandoc_path(), str(src), "-f", "markdown", "-t", "typst",
                           f"--lua-filter={filt}"], capture_output=True, text=True, check=True).stdout


QUARTO_CELL = """
::: {.cell}
::: {.cell-output .cell-output-display}
*Table 4. Challengers (fits per fund)*
:::

::: {.cell-output .cell-output-display}
| model | fits | metric |
|-------|------|--------|
| GARCH | 333 | models.rating.margin_vs_rule |
:::
:::

::: {.cell}
::: {.cell-output .cell-output-display}
![](fig.png)
:::

::: {.cell-output .cell-output-display}
*Figure 2. RMSE by regime.*
:::
:::
"""


@pytest.mark.parametrize("quarto", [False, True], ids=["pandoc", "quarto-shape"])
def test_lua_filter_makes_captions_part_of_their_table_and_figure(tmp_path, quarto):
    """Quarto keeps each display output in its own Div of the cell (caption and table are
    siblings); pandoc's ipynb reader, through the filter's Div pass, gives them flat. Both end as
    one typst figure per table/figure, the caption inside it, numbered as the notebook printed."""
    flat = QUARTO_CELL.replace("::: {.cell}\n", "").replace("::: {.cell-output .cell-output-display}\n", "")
    flat = flat.replace(":::\n", "")
    typ = _pandoc_typst(QUARTO_CELL if quarto else flat, tmp_path, quarto)
    table = re.search(r"#figure\((.*?)\n\s*, kind: table", typ, re.S)
    assert table and "caption: [Table 4. Challengers (fits per fund)]" in table.group(1)
    figure = re.search(r'#figure\(image\("fig.png"[^)]*\),\s*caption: \[\s*Figure 2\. RMSE by regime\.\s*\]', typ)
    assert figure, typ
    assert "#emph[Table 4" not in typ and "#emph[Figure 2" not in typ      # not left as loose paragraphs
    assert '#box[#"models."]#box[#"rating."]#box[#"margin_"]#box[#"vs_"]#box[#"rule"]' in typ
    assert "block(sticky" not in typ                                      # no sticky caption blocks


def test_the_quarto_extension_runs_the_filter_it_ships():
    import yaml

    spec = yaml.safe_load((render.EXTENSION_DIR / "_extension.yml").read_text())
    filters = spec["contributes"]["formats"]["typst"]["filters"]
    assert [f["path"] for f in filters] == [render.LUA_FILTER.name]
    assert (render.EXTENSION_DIR / render.LUA_FILTER.name).is_file()
