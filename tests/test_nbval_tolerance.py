"""The nbval tolerance plugin (tests/nbval_tolerance.py): tokens, the tolerance rule, declarations,
the plugin inside a real nbval run, and the premise of make test's second nbval pass (another
OpenBLAS kernel really moves the GARCH numbers, and only within the declared tolerance).

Fixtures in tests/baselines/nbval_noise/ are stage-1 tables of the demo universe (60 funds, seed 42,
walk-forward) computed with ``run_stage1`` on this project's reference machine: ``*_skylakex`` with
its default OpenBLAS kernel, ``*_haswell`` with ``OPENBLAS_CORETYPE=Haswell`` (floating-point noise
only), ``*_seed43`` with the LSTM seed 43 instead of 42 (the smallest real change of the model).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from nbval_tolerance import (TOLERANCE_CLASSES, NumberToken, Tolerance, cell_tolerance, compare_text,
                             split_numbers)
from qmtl_research.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "baselines" / "nbval_noise"
TOL = TOLERANCE_CLASSES["garch-lstm"]


def fixture(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text()


# --- tokens -----------------------------------------------------------------------------------

def test_numbers_are_found_and_identifiers_dates_versions_stay_text():
    parts, numbers = split_numbers("SYN0033 on 2020-04-10: RMSE -6.1836 (v1.0.2, x2, 1.25e-05, 8,738) is 7.79.")
    assert [n.text for n in numbers] == ["2020", "04", "10", "-6.1836", "1.25e-05", "8", "738", "7.79"]
    assert parts[0] == "SYN0033 on " and "v1.0.2, x2, " in "".join(parts) and parts[-1] == "."


def test_whitespace_runs_collapse_in_text_parts():
    parts, _ = split_numbers("a  \n   1.5\t\tb")
    assert parts == ["a ", " b"]


@pytest.mark.parametrize("text, integer, quantum", [
    ("60.6689", False, 1e-4), ("7.789", False, 1e-3), ("-6.1836", False, 1e-4), ("0.0000", False, 1e-4),
    ("1.25e-05", False, 1e-7), ("3e2", False, 100.0), ("8738", True, 1.0)])
def test_token_kind_and_last_digit_unit(text, integer, quantum):
    token = NumberToken(text)
    assert token.is_integer is integer
    assert token.quantum == pytest.approx(quantum, rel=1e-12)


# --- the tolerance rule (hand-computed) ---------------------------------------------------------

def test_allowed_difference_is_atol_plus_rtol_times_reference_plus_one_last_digit():
    tol = Tolerance("t", rtol=1e-3, atol=1e-4, why="test")
    # 100.0000: allowed = 1e-4 + 1e-3 * 100 + 1e-4 = 0.1002
    assert tol.allowed(100.0, 1e-4) == pytest.approx(0.1002, rel=1e-12)
    assert compare_text("100.0000", "100.1001", tol) == []
    assert compare_text("100.0000", "99.8999", tol) == []
    assert compare_text("100.0000", "100.1004", tol) == ["100.0000 became 100.1004: |diff| 0.1 > allowed 0.1"]
    # the coarser display of the two does not widen the window: 7.789 (repr of round(x, 4)) vs 7.7905
    assert compare_text("7.789", "7.7900", tol) == []          # 1.0e-3 <= 1e-4 + 7.789e-3 + 1e-4
    assert compare_text("7.789", "7.7991", tol) != []          # 1.01e-2 > 7.989e-3


def test_near_zero_values_get_only_atol_and_the_last_digit():
    assert compare_text("p = 0.0000", "p = 0.0001", TOL) == []    # 1e-4 <= 1e-5 + 0 + 1e-4
    assert compare_text("p = 0.0000", "p = 0.0002", TOL) != []    # 2e-4 >  1e-5 + 0 + 1e-4


def test_integers_labels_and_verdict_words_stay_exact():
    assert compare_text("n_points 1464", "n_points 1465", TOL) == ["integer 1464 became 1465 (integers are exact)"]
    assert compare_text("best LSTM 7.4148", "best GARCH-LSTM 7.4148", TOL) == ["text 'best LSTM' became 'best GARCH-LSTM'"]
    assert compare_text("grade 3", "grade 3.0", TOL) == ["integer 3 became 3.0 (integers are exact)"]
    assert compare_text("RMSE 0.1", "RMSE nan", TOL) == ["1 numbers in the reference, 0 now"]


def test_a_column_that_widens_is_layout_not_content():
    ref = "model      MSE\nGARCH   9.9999\nLSTM    1.0000"
    test = "model       MSE\nGARCH   10.0000\nLSTM     1.0000"
    assert compare_text(ref, test, TOL) == []


# --- measured noise passes, a real change fails ---------------------------------------------------

@pytest.mark.parametrize("table", ["table3", "dm_tests"])
def test_measured_cross_kernel_noise_is_within_tolerance_but_not_exact(table):
    ref, noisy = fixture(f"{table}_skylakex"), fixture(f"{table}_haswell")
    assert ref != noisy                          # exact comparison fails: the failure
    assert compare_text(ref, noisy, TOL) == []   # the declared tolerance absorbs it


def test_noise_is_well_inside_the_tolerance():
    """Largest measured noise (8.7934 -> 8.7941 in table3, Haswell kernels) uses under 8 % of the window."""
    diff, allowed = abs(8.7941 - 8.7934), TOL.allowed(8.7934, 1e-4)
    assert diff / allowed < 0.08


@pytest.mark.parametrize("table, at_least", [("table3", 10), ("dm_tests", 4)])
def test_retraining_with_another_seed_is_caught(table, at_least):
    problems = compare_text(fixture(f"{table}_skylakex"), fixture(f"{table}_seed43"), TOL)
    assert len(problems) >= at_least
    assert any("> allowed" in p for p in problems)


def test_a_verdict_that_flips_is_caught_even_when_numbers_barely_move():
    problems = compare_text(fixture("dm_tests_skylakex"), fixture("dm_tests_seed43"), TOL)
    assert "text 'no significant difference' became 'GARCH-LSTM'" in problems


def test_a_half_percent_change_of_one_number_is_caught():
    ref = fixture("table3_skylakex")
    changed = ref.replace("11.8024", "11.8614", 1)      # one fund type's RMSE +0.5 %
    assert changed != ref
    assert compare_text(ref, changed, TOL) == ["11.8024 became 11.8614: |diff| 0.059 > allowed 0.0119"]


# --- declarations ----------------------------------------------------------------------------------

def _cell(*tags):
    return nbformat.v4.new_code_cell("x = 1", metadata={"tags": list(tags)})


def test_declaration_by_tag():
    assert cell_tolerance(_cell("parameters", "nbval-tolerance=garch-lstm"), "nb: Cell 1") is TOL
    assert cell_tolerance(_cell(), "nb: Cell 1") is None
    assert cell_tolerance(nbformat.v4.new_code_cell("x"), "nb: Cell 1") is None


def test_unknown_class_names_the_cell_and_the_known_classes():
    with pytest.raises(ConfigError) as err:
        cell_tolerance(_cell("nbval-tolerance=lstm"), "notebooks/x.ipynb: Cell 4")
    msg = str(err.value)
    assert "unknown tolerance class 'lstm'" in msg and "notebooks/x.ipynb: Cell 4" in msg and "garch-lstm" in msg


def test_two_declarations_are_an_error():
    with pytest.raises(ConfigError, match="declares 2 tolerance classes"):
        cell_tolerance(_cell("nbval-tolerance=garch-lstm", "nbval-tolerance=other"), "nb: Cell 2")


def test_every_class_documents_its_noise():
    text = (Path(__file__).resolve().parent / "NOTEBOOKS.md").read_text()
    for name, tol in TOLERANCE_CLASSES.items():
        assert tol.why and 0 <= tol.rtol < 0.01 and 0 <= tol.atol < 0.01 and (tol.rtol > 0 or tol.atol > 0)
        assert f"nbval-tolerance={name}" in text


# --- the plugin in a real nbval run ----------------------------------------------------------------

CELLS = [
    # (source, committed stdout, tags)
    ("import os\nnoise = float(os.environ['NBVAL_TEST_NOISE'])", None, []),
    ("print(f'MSE {60.6689 + noise:.4f} over 8738 points')", "MSE 60.6689 over 8738 points\n",
     ["nbval-tolerance=garch-lstm"]),
    ("print(f'MSE {60.6689 + noise:.4f} over 8738 points')", "MSE 60.6689 over 8738 points\n", []),
    ("print(f'{8738 + round(noise * 1e4)} points')", "8738 points\n", ["nbval-tolerance=garch-lstm"]),
]


def _write_notebook(path: Path, cells, kernel: str = "python3") -> None:
    nb = nbformat.v4.new_notebook()
    for n, (source, stdout, tags) in enumerate(cells):
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": tags}, execution_count=n + 1)
        if stdout is not None:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stdout)]
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    nbformat.write(nb, path)


def _nbval(tmp_path: Path, target: Path, noise: str, *extra: str):
    junit = tmp_path / f"junit-{noise}.xml"
    env = dict(os.environ, NBVAL_TEST_NOISE=noise, IPYTHONDIR=str(tmp_path / "ipython"))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.nbval_tolerance",
                           "--nbval", "--nbval-current-env", f"--junitxml={junit}", *extra, str(target)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    outcomes = {}
    if junit.exists():
        for case in ET.parse(junit).iter("testcase"):
            outcomes[case.get("name")] = "failed" if case.find("failure") is not None or case.find(
                "error") is not None else "skipped" if case.find("skipped") is not None else "passed"
    return proc, outcomes


def test_plugin_in_nbval_noise_passes_only_where_declared(tmp_path):
    _write_notebook(tmp_path / "noisy.ipynb", CELLS)
    proc, outcomes = _nbval(tmp_path, tmp_path / "noisy.ipynb", "1e-4")
    assert outcomes == {"Cell 0": "passed", "Cell 1": "passed", "Cell 2": "failed", "Cell 3": "failed"}, proc.stdout
    assert proc.returncode == 1
    assert "nbval-tolerance: 1 cells passed within their declared tolerance" in proc.stdout
    assert "integer 8738 became 8739 (integers are exact)" in proc.stdout


def test_plugin_in_nbval_real_change_fails_and_says_why(tmp_path):
    _write_notebook(tmp_path / "noisy.ipynb", CELLS)
    proc, outcomes = _nbval(tmp_path, tmp_path / "noisy.ipynb", "0.5")
    assert outcomes["Cell 1"] == "failed", proc.stdout
    assert "tolerance 'garch-lstm' (rtol=0.001, atol=1e-05, + one unit in the last shown digit) exceeded" in proc.stdout
    assert "60.6689 became 61.1689" in proc.stdout


def test_plugin_tolerance_only_skips_notebooks_without_declarations_and_rejects_unknown_classes(tmp_path):
    (tmp_path / "nbs").mkdir()
    _write_notebook(tmp_path / "nbs" / "declared.ipynb", CELLS[:2])
    _write_notebook(tmp_path / "nbs" / "plain.ipynb", [CELLS[0], CELLS[2]])
    proc, outcomes = _nbval(tmp_path, tmp_path / "nbs", "0", "--nbval-tolerance-only")
    assert proc.returncode == 0, proc.stdout
    assert sorted(outcomes) == ["Cell 0", "Cell 1"]
    assert "declared.ipynb" in proc.stdout and "plain.ipynb" not in proc.stdout

    _write_notebook(tmp_path / "bad.ipynb", [("print(1.5)", "1.5\n", ["nbval-tolerance=lstm"])])
    proc, _ = _nbval(tmp_path, tmp_path / "bad.ipynb", "0")
    assert proc.returncode != 0
    assert "unknown tolerance class 'lstm'" in proc.stdout and "bad.ipynb: Cell 0" in proc.stdout


# --- the premise of make test's second pass ----------------------------------------------------

GARCH_ONE_FUND = """
import json, sys
import pandas as pd
from threadpoolctl import threadpool_info
from qmtl_research.data import make_synthetic_universe
from qmtl_research.volatility.config import GarchConfig
from qmtl_research.volatility.garch_panel import fit_garch_panel
r = make_synthetic_universe(n_funds=60, seed=20230831).returns[["SYN0034"]]
res = fit_garch_panel(r, pd.Series(r.index < pd.Timestamp("2020-01-03"), index=r.index), GarchConfig(n_jobs=1),
                      progress=False)
arch = sorted({i.get("architecture") for i in threadpool_info() if i["internal_api"] == "openblas"})
print(json.dumps({"arch": arch, "forecast": res.forecast["SYN0034"].dropna().tolist()}))
"""


def _garch_under(coretype: str) -> dict:
    env = dict(os.environ, OPENBLAS_CORETYPE=coretype)
    proc = subprocess.run([sys.executable, "-c", GARCH_ONE_FUND], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_another_openblas_kernel_moves_garch_forecasts_within_the_tolerance():
    """make test re-runs the notebooks with OPENBLAS_CORETYPE=Haswell. That setting must really change
    raw numbers (else the second pass proves nothing) and only by noise the tolerance covers; through
    stage 2 it flips one fund-settlement's grade (the grade-flips class). Prescott
    (SSE3) and Haswell (AVX2) kernels run on any x86-64 machine with AVX2 and give kernel-determined bits."""
    runs = {ct: _garch_under(ct) for ct in ("Prescott", "Haswell")}
    expected = {"Prescott": ["Katmai", "Prescott"], "Haswell": ["Haswell"]}
    for ct, run in runs.items():
        if not set(run["arch"]) <= set(expected[ct]):
            pytest.skip(f"OpenBLAS here does not honour OPENBLAS_CORETYPE={ct} (reports {run['arch']})")
    a, b = runs["Prescott"]["forecast"], runs["Haswell"]["forecast"]
    assert len(a) == len(b) > 100
    rel = [abs(x - y) / abs(x) for x, y in zip(a, b)]
    assert max(rel) > 0.0                  # the kernels change the raw GARCH numbers ...
    assert max(rel) < TOL.rtol             # ... by less than the declared tolerance (measured 1.5e-14 with the
                                           # vectorised estimator, 6.1e-4 with arch's SLSQP before it)


# --- the measurement tool (tests/nbval_noise.py) ----------------------------------------------

def test_noise_tool_reports_moved_decimals_and_exact_changes():
    from nbval_noise import cell_changes

    def cell(*texts):
        c = nbformat.v4.new_code_cell("x")
        c.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": t}) for t in texts]
        return c

    ch = cell_changes(cell("MSE 8.7934 n 616", "LSTM"), cell("MSE 8.7941 n 616", "LSTM"))
    assert ch["exact_changes"] == []
    [m] = ch["moved"]
    assert (m["ref"], m["test"]) == ("8.7934", "8.7941")
    assert m["abs"] == pytest.approx(7e-4, rel=1e-9) and m["rel"] == pytest.approx(7e-4 / 8.7934, rel=1e-9)
    assert m["quanta"] == pytest.approx(7.0, rel=1e-9)
    ch = cell_changes(cell("MSE 8.7934 n 616", "LSTM"), cell("MSE 8.7934 n 617", "GARCH"))
    assert ch["moved"] == [] and ch["exact_changes"] == ["text/plain: integer 616 became 617 (integers are exact)",
                                                          "text/plain: text 'LSTM' became 'GARCH'"]
