"""CLI: outputs, determinism and exit codes on bad input (nothing written)."""
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from qmtl_research.cli import app
from qmtl_research.errors import InputError

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    idx = pd.bdate_range("2021-01-01", periods=400)
    df = pd.DataFrame({"date": idx.strftime("%Y-%m-%d"), "A": rng.standard_normal(400) * 0.01,
                       "B": rng.standard_normal(400) * 0.012})
    df.to_csv(tmp_path / "r.csv", index=False)
    df[["date", "A"]].to_parquet(tmp_path / "a.parquet")
    df[["date", "B"]].rename(columns={"B": "bench"}).to_csv(tmp_path / "b.csv", index=False)
    return tmp_path


def test_montecarlo_demo_json_deterministic():
    a = run("audit", "montecarlo", "--demo", "--method", "t", "--seed", "42", "--output", "json")
    b = run("audit", "montecarlo", "--demo", "--method", "t", "--seed", "42", "--output", "json")
    assert a.exit_code == 0, a.output
    ja, jb = json.loads(a.output), json.loads(b.output)
    assert ja["var_95"] == jb["var_95"] and ja["percentiles"] == jb["percentiles"] and ja["synthetic"] is True
    c = json.loads(run("audit", "montecarlo", "--demo", "--seed", "0", "--output", "json").output)
    d = json.loads(run("audit", "montecarlo", "--demo", "--seed", "0", "--output", "json").output)
    assert c["var_95"] != d["var_95"]
    text = run("audit", "montecarlo", "--demo", "--seed", "42").output
    assert "Monte Carlo Simulation Results" in text and "VaR 95%" in text and "Percentiles" in text


def test_montecarlo_save_writes_only_on_success(tmp_path):
    url = f"sqlite:///{tmp_path}/s.sqlite"
    bad = run("audit", "montecarlo", "--demo", "--min-samples", "500", "--save", "--store-url", url)
    assert bad.exit_code != 0 and isinstance(bad.exception, InputError)
    assert not (tmp_path / "s.sqlite").exists()
    ok = run("audit", "montecarlo", "--demo", "--seed", "3", "--save", "--store-url", url, "--output", "json")
    assert ok.exit_code == 0
    from qmtl_research.store.audit_repository import AuditRepository
    assert AuditRepository.open(url).montecarlo(json.loads(ok.output)["run_id"])["config"]["seed"] == 3


@pytest.mark.parametrize("args, message", [
    (("--method", "cauchy"), "method"),
    (("--mode", "both"), "mode"),
    (("--confidence", "1.5"), "confidence"),
    (("--confidence", "0"), "confidence"),
    (("--lookback", "20"), "min_samples"),
])
def test_montecarlo_bad_options(args, message):
    res = run("audit", "montecarlo", "--demo", *args)
    assert res.exit_code != 0 and message in str(res.exception)


def test_montecarlo_weights(files):
    r = files / "r.csv"
    ok = run("audit", "montecarlo", "--returns", str(r), "--weights", "A=0.6,B=0.4", "--seed", "1", "--output", "json")
    assert ok.exit_code == 0, ok.output
    for w, msg in (("A=0.6,B=0.3", "sum to"), ("A=0.5,C=0.5", "unknown asset"), ("A:1", "cannot read")):
        res = run("audit", "montecarlo", "--returns", str(r), "--weights", w)
        assert res.exit_code != 0 and msg in str(res.exception)
    res = run("audit", "montecarlo", "--demo", "--real-demo")
    assert res.exit_code != 0 and "exactly one" in str(res.exception)


def test_risk_report_demo():
    res = run("audit", "risk-report", "--demo", "--date", "2020-03-31", "--output", "json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["as_of"] == "2020-03-31" and d["synthetic"] is True
    assert {"GFC 2008-09 to 2009-03", "Equity crash -30 %"} <= {s["scenario"] for s in d["stress"]}
    assert run("audit", "risk-report", "--demo", "--date", "1990-01-01").exit_code != 0
    assert "Risk Report" in run("audit", "risk-report", "--demo").output


def test_var_and_backtest(files):
    res = run("risk", "var", "--returns", str(files / "r.csv"), "--column", "A", "--confidence", "0.99",
              "--method", "historical", "--output", "json")
    assert res.exit_code == 0, res.output
    row = json.loads(res.output)[0]
    a = pd.read_csv(files / "r.csv")["A"].to_numpy()
    assert row["var"] == pytest.approx(-np.sort(a)[int(0.01 * 400)])
    pq = json.loads(run("risk", "var", "--returns", str(files / "a.parquet"), "--method", "t", "--output", "json").output)
    assert len(pq) == 2 and pq[0]["method"] == "t"
    bt = run("risk", "backtest", "--returns", str(files / "r.csv"), "--column", "B", "--confidence", "0.99",
             "--window", "250", "--output", "json")
    assert bt.exit_code == 0, bt.output
    d = json.loads(bt.output)
    assert d["n"] == 150 and d["zone"] in ("green", "yellow", "red") and len(d["exception_dates"]) == d["exceptions"]
    assert "Kupiec" in run("risk", "backtest", "--returns", str(files / "r.csv"), "--column", "B").output


def test_performance_cli(files):
    res = run("audit", "performance", "--returns", str(files / "a.parquet"), "--benchmark", str(files / "b.csv"),
              "--period", "ALL", "--output", "json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["beta"] is not None and "periods/year 252" in d["conventions"]
    text = run("audit", "performance", "--returns", str(files / "a.parquet"), "--period", "YTD").output
    assert "Sharpe" in text and "Conventions" in text


def test_bad_files(files):
    (files / "empty.csv").write_text("")
    (files / "nan.csv").write_text("date,A\n2024-01-02,0.01\n2024-01-03,\n2024-01-04,0.02\n")
    (files / "dup.csv").write_text("date,A\n2024-01-02,0.01\n2024-01-02,0.02\n")
    (files / "nodate.csv").write_text("day,A\n2024-01-02,0.01\n")
    cases = [("empty.csv", "empty"), ("nan.csv", "nan.csv:3"), ("dup.csv", "duplicate date"),
             ("nodate.csv", "no date column"), ("missing.csv", "not found")]
    for name, msg in cases:
        res = run("risk", "var", "--returns", str(files / name))
        assert res.exit_code != 0 and msg in str(res.exception), (name, res.exception)
    res = run("risk", "var", "--returns", str(files / "r.csv"), "--method", "magic")
    assert res.exit_code != 0 and "unknown VaR method" in str(res.exception)
    res = run("risk", "backtest", "--returns", str(files / "r.csv"))
    assert res.exit_code != 0 and "--column" in str(res.exception)


def test_console_exit_code_and_message(files):
    env = {**os.environ, "QMTL_RESEARCH_HOME": os.environ.get("QMTL_RESEARCH_HOME", os.getcwd())}
    proc = subprocess.run([sys.executable, "-c", "from qmtl_research.cli import main; main()", "risk", "var",
                           "--returns", str(files / "r.csv"), "--confidence", "95"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "outside (0, 1)" in proc.stderr and "fix:" in proc.stderr
