"""Universe resolution, file round trips and the `qmtl-research data` commands."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from qmtl_research.cli import app
from qmtl_research.config import UniverseConfig
from qmtl_research.data.loaders import load_panel
from qmtl_research.data.synthetic import make_synthetic_universe
from qmtl_research.data.universe import _real_built, load_universe
from qmtl_research.data.writers import frames_for_files, write_frame, write_panel
from qmtl_research.errors import ConfigError, InputError

ROOT = Path(__file__).resolve().parents[1]


def _assert_same_panel(a, b):
    pd.testing.assert_frame_equal(a.returns, b.returns)
    pd.testing.assert_frame_equal(a.metadata, b.metadata)
    pd.testing.assert_frame_equal(a.benchmarks, b.benchmarks)
    assert a.fingerprint() == b.fingerprint()


@pytest.mark.parametrize("make", [lambda: make_synthetic_universe(120, seed=3), _real_built],
                         ids=["synthetic", "real"])
def test_round_trip_panel_files_panel(tmp_path, make):
    panel = make()
    paths = write_panel(panel, tmp_path)
    assert sorted(p.name for p in paths.values()) == ["benchmarks.parquet", "funds.csv", "returns.parquet"]
    _assert_same_panel(panel, load_panel(paths["returns"], paths["funds"], paths["benchmarks"]))


def test_round_trip_through_csv_files(tmp_path):
    panel = make_synthetic_universe(30, seed=5)
    for name, frame in frames_for_files(panel).items():
        write_frame(frame, tmp_path / name.replace(".parquet", ".csv"))
    back = load_panel(tmp_path / "returns.csv", tmp_path / "funds.csv", tmp_path / "benchmarks.csv")
    _assert_same_panel(panel, back)   # floats survive CSV exactly (shortest repr)


def test_synthetic_source_returns_independent_copies():
    cfg = UniverseConfig(source="synthetic", n_funds=20, seed=11)
    a = load_universe(cfg)
    a.returns.iloc[:, 0] = 0.5
    a.metadata.loc[a.fund_ids[0], "fund_type"] = "changed"
    b = load_universe(cfg)
    _assert_same_panel(b, make_synthetic_universe(20, seed=11))


def test_default_synthetic_size_is_60():
    assert load_universe(UniverseConfig(source="synthetic")).returns.shape == (341, 60)


def test_file_source_relative_to_project_root(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "data" / "sample", tmp_path / "data" / "sample")
    monkeypatch.setenv("QMTL_RESEARCH_HOME", str(tmp_path))
    monkeypatch.chdir("/")
    cfg = UniverseConfig(source="file", returns_path="data/sample/returns.csv", funds_path="data/sample/funds.csv",
                         benchmarks_path="data/sample/benchmarks.csv")
    panel = load_universe(cfg)
    assert panel.fund_ids == [f"SYN{i:04d}" for i in range(1, 13)] and not panel.synthetic
    absolute = cfg.model_copy(update={"returns_path": str(tmp_path / "data/sample/navs.csv")})
    from_navs = load_universe(absolute)
    assert from_navs.fund_ids == panel.fund_ids
    np.testing.assert_allclose(from_navs.returns.to_numpy(), panel.returns.to_numpy(), rtol=0, atol=1e-12)


def test_the_shipped_sample_is_the_documented_synthetic_universe():
    """data/sample/ is make_synthetic_universe(12, seed 20230831) written in the user schema (data/README.md)."""
    sample = ROOT / "data" / "sample"
    panel = load_panel(sample / "returns.csv", sample / "funds.csv", sample / "benchmarks.csv")
    _assert_same_panel(panel, make_synthetic_universe(12, seed=20230831))
    assert sorted(panel.metadata["disclosed_grade"].dropna().astype(int).unique()) == [1, 2, 3, 4, 5, 6]


def test_file_source_needs_paths():
    with pytest.raises(ConfigError, match="needs 'returns_path'"):
        load_universe(UniverseConfig(source="file", funds_path="x.csv"))


@pytest.mark.parametrize("source,notebook", [("audit_demo", "var.ipynb"), ("qmtl_runs", "validation.ipynb")])
def test_other_sources_point_to_their_notebook(source, notebook):
    with pytest.raises(ConfigError) as info:
        load_universe(UniverseConfig(source=source))
    assert notebook in info.value.fix


def test_real_source_reads_materialised_files(tmp_path, monkeypatch):
    monkeypatch.setenv("QMTL_RESEARCH_HOME", str(tmp_path))
    built = load_universe(UniverseConfig(source="real"))             # nothing on disk: built in memory
    assert "read from data/real" not in built.source
    write_panel(built, tmp_path / "data" / "real")
    from_files = load_universe(UniverseConfig(source="real"))
    assert "read from data/real" in from_files.source and from_files.synthetic is False
    _assert_same_panel(built, from_files)


def test_cli_build_writes_loadable_files_and_refuses_to_overwrite(tmp_path, monkeypatch):
    # the synthetic universe's disclosed grades use the project's grade table (the kr-2016 scheme, params/grading)
    shutil.copytree(Path(__file__).resolve().parents[1] / "params" / "grading", tmp_path / "params" / "grading")
    monkeypatch.setenv("QMTL_RESEARCH_HOME", str(tmp_path))
    runner = CliRunner()
    result = runner.invoke(app, ["data", "build", "--n-funds", "25", "--seed", "9"])
    assert result.exit_code == 0, result.output
    syn = tmp_path / "data" / "synthetic"
    panel = load_panel(syn / "returns.parquet", syn / "funds.csv", syn / "benchmarks.parquet")
    _assert_same_panel(panel, make_synthetic_universe(25, seed=9))
    assert (tmp_path / "data" / "real" / "returns.parquet").is_file()
    again = runner.invoke(app, ["data", "build", "--n-funds", "25", "--seed", "9"])
    assert again.exit_code == 0 and "unchanged" in again.output and "replaced" not in again.output
    other = runner.invoke(app, ["data", "build", "--n-funds", "26", "--seed", "9"])
    assert isinstance(other.exception, InputError) and "--force" in other.exception.fix
    _assert_same_panel(load_panel(syn / "returns.parquet", syn / "funds.csv", syn / "benchmarks.parquet"), panel)
    forced = runner.invoke(app, ["data", "build", "--n-funds", "26", "--seed", "9", "--force"])
    assert forced.exit_code == 0 and "replaced" in forced.output
    assert pd.read_parquet(syn / "returns.parquet")["fund_id"].nunique() == 26


def test_cli_validate_summary():
    result = CliRunner().invoke(app, ["data", "validate", "--returns", str(ROOT / "data/sample/returns.csv"),
                                      "--funds", str(ROOT / "data/sample/funds.csv"),
                                      "--benchmarks", str(ROOT / "data/sample/benchmarks.csv")])
    assert result.exit_code == 0, result.output
    assert "funds:      12" in result.output and "2016-06-24 .. 2022-12-30" in result.output
    assert "disclosed grades: 1: 1, 2: 5, 3: 1, 4: 3, 5: 1, 6: 1" in result.output


def test_cli_validate_error_exits_non_zero(tmp_path):
    bad = tmp_path / "returns.csv"
    lines = (ROOT / "data/sample/returns.csv").read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",abc"          # the 3rd data row: SYN0001, 2016-07-08
    bad.write_text("\n".join(lines) + "\n")
    proc = subprocess.run([sys.executable, "-c", "from qmtl_research.cli import main; main()", "data", "validate",
                           "--returns", str(bad), "--funds", str(ROOT / "data/sample/funds.csv"),
                           "--benchmarks", str(ROOT / "data/sample/benchmarks.csv")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "non-numeric return 'abc'" in proc.stderr and "line 4" in proc.stderr and "fund SYN0001" in proc.stderr
