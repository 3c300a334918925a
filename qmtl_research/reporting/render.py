"""Executed notebook -> PDF (and HTML), through Quarto when available, else pandoc + typst.

Both branches use the one typst template kept as a Quarto custom-format extension
in ``qmtl_research/reporting/quarto/_extensions/qmtl`` (format ``qmtl-typst``):

* **Quarto** (``quarto`` >= 1.7 on PATH): ``quarto render report.ipynb --to qmtl-typst``
  renders from the stored outputs (no re-execution);
* **pandoc + typst** (always available: ``pypandoc-binary`` and ``typst`` from PyPI):
  pandoc's ipynb reader, the ``qmtl-cells.lua`` filter (Quarto cell options and tags,
  one output representation, HTML tables parsed into real tables), the same template
  partials, then ``typst.compile``.

Hangul renders through NanumGothic shipped by ``koreanize-matplotlib`` (font path
passed to typst and to Quarto via ``TYPST_FONT_PATHS``).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from qmtl_research.errors import QMTLResearchError

HERE = Path(__file__).resolve().parent
EXTENSION_DIR = HERE / "quarto" / "_extensions" / "qmtl"
LUA_FILTER = EXTENSION_DIR / "qmtl-cells.lua"   # also the extension's Quarto filter (_extension.yml)
PANDOC_TEMPLATE = EXTENSION_DIR / "pandoc-template.typ"
IPYNB_READER = "ipynb+fenced_divs+bracketed_spans+header_attributes+implicit_figures+tex_math_dollars+pipe_tables"
MIN_QUARTO = (1, 7)


class RenderError(QMTLResearchError):
    """Rendering failed (pandoc, typst or Quarto said why)."""

    exit_code = 1


def font_paths() -> list[str]:
    """Folders holding NanumGothic (for Hangul)."""
    import koreanize_matplotlib

    return [str(Path(koreanize_matplotlib.__file__).parent / "fonts")]


def quarto_version() -> tuple[int, ...] | None:
    """Version of the ``quarto`` on PATH, or None when there is none."""
    exe = shutil.which("quarto")
    if not exe:
        return None
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", out)
    return tuple(int(x) for x in m.groups() if x is not None) if m else None


def choose_engine(engine: str = "auto") -> str:
    if engine not in ("auto", "quarto", "pandoc"):
        raise RenderError(f"unknown render engine '{engine}'", fix="use auto, quarto or pandoc")
    if engine == "pandoc":
        return "pandoc"
    version = quarto_version()
    ok = version is not None and version[:2] >= MIN_QUARTO
    if engine == "quarto" and not ok:
        raise RenderError(f"Quarto >= {'.'.join(map(str, MIN_QUARTO))} is not on PATH (found {version})",
                          fix="install Quarto from https://quarto.org or use --engine pandoc")
    return "quarto" if ok else "pandoc"


#: ASCII punctuation: pandoc's Markdown reader takes each of these literally after a backslash
_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")


def markdown_literal(text: object, *, one_line: bool = False) -> str:
    """``text`` (user text: titles, descriptions, reasons) as Markdown that pandoc reads back as
    that literal text: every ASCII punctuation character backslash-escaped, so that raw HTML
    (``<img onerror=...>``), math (``$``), citations (``@``), emphasis, links and list markers are
    shown, never interpreted; the writers then escape it for HTML and typst (``#``, ``$``, ``@``,
    ``<``, ``[``, ``\\``). ``one_line``: newlines become spaces (titles)."""
    s = "" if text is None else str(text)
    if one_line:
        s = " ".join(s.split())
    return _MD_SPECIAL.sub(r"\\\1", s)


def write_metadata(path: Path, metadata: dict) -> Path:
    path.write_text(yaml.safe_dump(metadata, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _pandoc() -> str:
    import pypandoc

    return pypandoc.get_pandoc_path()


def _run(cmd: list[str], what: str, env: dict | None = None, cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    if proc.returncode != 0:
        raise RenderError(f"{what} failed (exit {proc.returncode})", where=" ".join(map(str, cmd[:3])) + " ...",
                          fix=(proc.stderr or proc.stdout).strip()[-2000:] or "see the command output")


def render_pandoc(notebook: Path, out_dir: Path, metadata_file: Path, stem: str = "validation_report",
                  html: bool = True) -> dict[str, Path]:
    """pandoc (ipynb -> typst, html) + typst (typst -> pdf).

    The HTML page is written by its own pandoc process, started first and running beside the
    typst branch (the two share no file: the page extracts its images into ``media-html``, which
    ``--embed-resources`` then embeds)."""
    import typst

    out_dir.mkdir(parents=True, exist_ok=True)

    def pandoc_cmd(media: Path) -> list[str]:
        return [_pandoc(), "-f", IPYNB_READER, str(notebook), "--ipynb-output=all",
                f"--lua-filter={LUA_FILTER}", f"--metadata-file={metadata_file}",
                f"--extract-media={media}", "--resource-path", str(notebook.parent)]

    page = out_dir / f"{stem}.html"
    html_proc = subprocess.Popen(
        pandoc_cmd(out_dir / "media-html") + ["-t", "html5", "--standalone", "--embed-resources", "--toc",
                                              "--toc-depth=2", "--metadata=lang:en", "-o", str(page)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=out_dir) if html else None
    try:
        typ = out_dir / f"{stem}.typ"
        _run(pandoc_cmd(out_dir / "media") + ["-t", "typst", f"--template={PANDOC_TEMPLATE}", "--toc",
                                              "--toc-depth=2", "-o", str(typ)], "pandoc (ipynb -> typst)")
        # pandoc writes absolute media paths; typst wants them relative to its root
        text = typ.read_text(encoding="utf-8").replace(str(out_dir) + "/", "")
        typ.write_text(text, encoding="utf-8")
        pdf = out_dir / f"{stem}.pdf"
        try:
            typst.compile(str(typ), output=str(pdf), root=str(out_dir), font_paths=font_paths())
        except Exception as exc:  # typst raises its own error types; re-raise with context
            raise RenderError("typst could not compile the report", where=str(typ), fix=str(exc)[:2000]) from exc
    except BaseException:
        if html_proc is not None:          # the report failed: its page is not wanted
            html_proc.kill()
            html_proc.communicate()
        raise
    outputs = {"pdf": pdf, "typst": typ}
    if html_proc is not None:
        stdout, stderr = html_proc.communicate()
        if html_proc.returncode != 0:
            raise RenderError(f"pandoc (ipynb -> html) failed (exit {html_proc.returncode})",
                              where=" ".join(map(str, html_proc.args[:3])) + " ...",
                              fix=(stderr or stdout).strip()[-2000:] or "see the command output")
        outputs["html"] = page
    return outputs


def render_quarto(notebook: Path, out_dir: Path, metadata_file: Path, stem: str = "validation_report",
                  html: bool = True) -> dict[str, Path]:  # pragma: no cover - needs Quarto
    """``quarto render`` with the qmtl-typst extension copied beside the notebook."""
    work = notebook.parent
    target = work / "_extensions" / "qmtl"
    if not target.exists():
        shutil.copytree(EXTENSION_DIR, target)
    env = dict(os.environ, TYPST_FONT_PATHS=os.pathsep.join(font_paths()))
    exe = shutil.which("quarto")
    outputs = {}
    _run([exe, "render", notebook.name, "--to", "qmtl-typst", "--metadata-file", str(metadata_file),
          "--output", f"{stem}.pdf"], "quarto render (pdf)", env=env, cwd=work)
    outputs["pdf"] = work / f"{stem}.pdf"
    if html:
        _run([exe, "render", notebook.name, "--to", "html", "--metadata-file", str(metadata_file),
              "--output", f"{stem}.html", "-M", "embed-resources:true"], "quarto render (html)", env=env, cwd=work)
        outputs["html"] = work / f"{stem}.html"
    for key, path in list(outputs.items()):
        if path.parent != out_dir:
            dest = out_dir / path.name
            shutil.move(str(path), dest)
            outputs[key] = dest
    return outputs


def render_notebook(notebook: str | Path, out_dir: str | Path, metadata: dict, *, engine: str = "auto",
                    stem: str = "validation_report", html: bool = True) -> dict[str, Path]:
    """Render an executed notebook into ``out_dir``; returns {"pdf": ..., "html": ..., "engine": ...}."""
    notebook, out_dir = Path(notebook).resolve(), Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = choose_engine(engine)
    meta_file = write_metadata(out_dir / "_metadata.yml", metadata)
    render = render_quarto if chosen == "quarto" else render_pandoc
    outputs = render(notebook, out_dir, meta_file, stem=stem, html=html)
    outputs["engine"] = chosen
    return outputs
