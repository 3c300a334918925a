"""`qmtl-research volatility forecast` through the CLI's ``main()`` (in-process; the console script
itself is tests/test_cli_exit_codes.py's): exit codes, stdout, stderr, files."""
import json

import numpy as np
import pandas as pd
import pytest

from conftest import invoke

from qmtl_research.data import load_panel, make_synthetic_universe, write_panel
from qmtl_research.volatility import Stage1Config
from qmtl_research.volatility.pipeline import forecast_panel

MODELS = ["--models", "GARCH", "--models", "Naive"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fund_files")
    panel = make_synthetic_universe(n_funds=6, seed=11)
    paths = write_panel(panel, folder)
    return paths


def _run(*args):
    """``qmtl-research volatility forecast ARGS`` through the CLI's ``main()`` in this process."""
    return invoke("volatility", "forecast", *args)


def test_csv_to_a_file_matches_the_package(files, tmp_path):
    out = tmp_path / "fc.csv"
    proc = _run("--returns", str(files["returns"]), "--funds", str(files["funds"]), *MODELS, "--output", "csv",
                "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "GARCH walk-forward" in proc.stderr and "forecast rows" in proc.stderr     # tqdm + summary on stderr
    got = pd.read_csv(out)
    assert list(got.columns[:8]) == ["fund_id", "fund_type", "origin", "info_date", "date", "fit_date",
                                     "garch_fit_date", "realised_vol_pct"]
    panel = load_panel(files["returns"], files["funds"], files.get("benchmarks"))
    ref, _, schedule = forecast_panel(panel, Stage1Config(models=("GARCH", "Naive"), cv=False), progress=False)
    assert len(got) == len(ref) and got["origin"].iloc[0] == str(schedule.test_start.date())
    np.testing.assert_allclose(got["GARCH"].to_numpy(), ref["GARCH"].to_numpy(), rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(got["Naive"].to_numpy(), ref["Naive"].to_numpy(), rtol=1e-9)
    again = _run("--returns", str(files["returns"]), *MODELS, "--output", "csv", "--out", str(out))
    assert again.returncode == 2 and "exists" in again.stderr and "--force" in again.stderr


def test_json_latest_on_stdout_without_funds_file(files):
    proc = _run("--returns", str(files["returns"]), *MODELS, "--output", "json", "--latest", "--quiet")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    rows = pd.DataFrame(data["forecasts"])
    assert rows["origin"].nunique() == 1 and len(rows) == 6 and (rows["fund_type"] == "unknown").all()
    assert rows["realised_vol_pct"].isna().all() and rows["GARCH"].notna().all()
    assert data["refit"] == "yearly" and data["units"].startswith("annualised std")
    assert pd.Timestamp(rows["origin"].iloc[0]) == pd.Timestamp(rows["info_date"].iloc[0]) + pd.Timedelta(weeks=1)


def test_bad_inputs_exit_2_with_a_clear_message(files, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("date,fund_id,return\n2020-01-03,F1,0.01\n2020-01-03,F1,0.02\n")
    proc = _run("--returns", str(bad), "--output", "csv")
    assert proc.returncode == 2 and "duplicate date" in proc.stderr and "where:" in proc.stderr
    proc = _run("--returns", str(tmp_path / "missing.csv"), "--output", "csv")
    assert proc.returncode == 2 and "not found" in proc.stderr
    proc = _run("--returns", str(files["returns"]), "--output", "xml")
    assert proc.returncode == 2 and "unknown output format" in proc.stderr
    proc = _run("--returns", str(files["returns"]), "--models", "ARIMA", "--output", "csv")
    assert proc.returncode == 2 and "unknown model" in proc.stderr
    proc = _run("--returns", str(files["returns"]), *MODELS, "--refit", "monthly", "--output", "csv")
    assert proc.returncode == 2 and "--refit" in proc.stderr
    short = tmp_path / "short.csv"
    dates = pd.date_range("2022-01-07", periods=30, freq="W-FRI")
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "fund_id": "F1",
                  "return": np.random.default_rng(1).normal(0, 0.01, 30)}).to_csv(short, index=False)
    proc = _run("--returns", str(short), "--output", "csv")
    assert proc.returncode == 2 and "104 weekly returns" in proc.stderr and "fix:" in proc.stderr
    # funds file without two of the funds: the loaders' check (one home), with the CLI's fix
    funds = pd.read_csv(files["funds"])
    partial = tmp_path / "funds.csv"
    funds.iloc[2:].to_csv(partial, index=False)
    proc = _run("--returns", str(files["returns"]), "--funds", str(partial), *MODELS, "--output", "csv")
    first, second = funds["fund_id"].iloc[0], funds["fund_id"].iloc[1]
    assert proc.returncode == 2 and f"fund {first} has returns but no row in the funds file (also: {second})" \
        in proc.stderr and "leave out --funds" in proc.stderr and not (tmp_path / "fc.csv").exists()
