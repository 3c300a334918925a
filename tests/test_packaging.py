"""The package as a user installs it: a wheel carries the typst template and the Lua filter, and a
report renders from the installed wheel (a fresh virtual environment, no source checkout on the path)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from test_reporting import tiny_strategy  # noqa: E402  (one home of the tiny strategy)

REPO = Path(__file__).resolve().parents[1]
TINY = tiny_strategy('Tiny strategy from a wheel')


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for item in ("pyproject.toml", "README.md", "qmtl_research"):
        (shutil.copytree if (REPO / item).is_dir() else shutil.copy)(
            REPO / item, src / item, **({"ignore": shutil.ignore_patterns("__pycache__")} if (REPO / item).is_dir() else {}))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(src),
                    "-w", str(out)], check=True, capture_output=True, text=True)
    return next(out.glob("qmtl_research-*.whl"))


def test_the_wheel_carries_the_report_template(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for part in ("qmtl_research/reporting/quarto/_extensions/qmtl/qmtl-cells.lua",
                 "qmtl_research/reporting/quarto/_extensions/qmtl/_extension.yml",
                 "qmtl_research/reporting/quarto/_extensions/qmtl/typst-template.typ",
                 "qmtl_research/reporting/quarto/_extensions/qmtl/typst-show.typ",
                 "qmtl_research/reporting/quarto/_extensions/qmtl/pandoc-template.typ",
                 "qmtl_research/py.typed"):
        assert part in names, part


@pytest.mark.slow
def test_a_report_renders_from_the_installed_wheel(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # the dependencies come from the project's environment (a plain path entry: its editable
    # finder for the source checkout is NOT activated); qmtl_research itself comes from the wheel
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], check=True)
    subprocess.run([str(py), "-m", "ipykernel", "install", "--sys-prefix", "--name", "qmtl-research"],
                   check=True, capture_output=True)
    home = tmp_path / "home"
    for sub in ("params", "notebooks"):
        shutil.copytree(REPO / sub, home / sub)
    (home / "params" / "strategies" / "tiny.yaml").write_text(TINY)
    card = (REPO / "params" / "model_cards" / "audit-demo.yaml").read_text()
    (home / "params" / "model_cards" / "tiny.yaml").write_text(card.replace("strategy_id: audit-demo", "strategy_id: tiny"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
    env.update(QMTL_RESEARCH_HOME=str(home), QMTL_STORE_URL=f"sqlite:///{tmp_path}/store.sqlite",
               PYTHONNOUSERSITE="1")
    where = subprocess.run([str(py), "-c", "import qmtl_research, sys; print(qmtl_research.__file__)"],
                           capture_output=True, text=True, check=True, env=env, cwd=tmp_path).stdout
    assert where.startswith(site), where          # the installed wheel, not the checkout
    proc = subprocess.run([str(venv / "bin" / "qmtl-research"), "report", "run", "--strategy", "tiny", "--quiet",
                           "--engine", "pandoc"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    pdf = home / "reports" / "tiny" / "portfolios" / "v0001" / "validation_report.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "0 Summary" in text and "Verdict:" in text
