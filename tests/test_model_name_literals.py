"""The stage-1 models' names are spelled in one place, :mod:`qmtl_research.volatility.names`
(issue #19): a string literal equal to one of them anywhere else in the package is a second home.

The scan reads the package source with :mod:`ast`: docstrings are prose and are skipped (comments
are not in the tree), and so is the value of a ``vol=`` keyword argument (arch's
``arch_model(..., vol="GARCH")`` names arch's volatility process, not one of ours). A test below
feeds the scanner a planted literal, so the scan cannot pass vacuously.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from qmtl_research.volatility import names

PKG = Path(__file__).resolve().parents[1] / "qmtl_research"
HOME = PKG / "volatility" / "names.py"
#: keyword arguments whose string value belongs to another library's vocabulary
FOREIGN_KEYWORDS = {"vol"}


def model_names() -> set[str]:
    """The names the names module declares (its upper-case string constants)."""
    found = {v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)}
    assert {"GARCH", "GARCH-LSTM", "LSTM", "EWMA", "HAR", "GJR-GARCH", "Naive"} <= found
    return found


def literals(source: str, spelled: set[str]) -> list[tuple[int, str]]:
    """(line, text) of each string literal of ``source`` equal to one of ``spelled``, docstrings
    and ``vol=`` keyword values excepted."""
    tree = ast.parse(source)
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first.value))
        elif isinstance(node, ast.keyword) and node.arg in FOREIGN_KEYWORDS:
            skip.add(id(node.value))
    return sorted((n.lineno, n.value) for n in ast.walk(tree)
                  if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in spelled
                  and id(n) not in skip)


def test_the_scanner_finds_a_planted_name():
    planted = ('"""GARCH-LSTM in a docstring is prose."""\n'
               'def f(model="GARCH-LSTM"):\n'
               '    """HAR here too."""\n'
               '    arch_model(x, vol="GARCH")\n'
               "    return {'HAR': 1}[model]\n")
    assert literals(planted, model_names()) == [(2, "GARCH-LSTM"), (5, "HAR")]


def test_no_model_name_is_spelled_outside_the_names_module():
    spelled = model_names()
    hits = [f"{path.relative_to(PKG.parent)}:{line}: {text!r}"
            for path in sorted(PKG.rglob("*.py")) if path != HOME
            for line, text in literals(path.read_text(encoding="utf-8"), spelled)]
    assert hits == [], "import the name from qmtl_research.volatility.names:\n" + "\n".join(hits)


def test_the_names_module_is_light():
    """Importing the names (as the rating, risk, reporting and validation modules do) loads neither
    the stage's estimators nor jax, keras, scipy or pandas: the package __init__ is lazy."""
    code = ("import sys, qmtl_research.volatility.names as n; "
            "heavy = [m for m in ('jax', 'keras', 'scipy', 'pandas', 'sklearn', 'qmtl_research.volatility.registry') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
