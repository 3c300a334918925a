"""`qmtl-research risk backtest --var [--es]` on a user's own long files."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from qmtl_research.cli import app
from qmtl_research.risk.backtests import LocationScale, run_suite

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(1)
    dates = pd.bdate_range("2022-01-03", periods=300)
    rows = []
    for sid, sig in (("F1", 0.01), ("F2", 0.02)):
        r = rng.standard_normal(300) * sig * 1.1
        q = stats.norm.ppf(0.975)
        var = np.full(300, sig * q)
        es = np.full(300, sig * stats.norm.pdf(q) / 0.025)
        rows.append(pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "series": sid, "return": r, "var": var, "es": es}))
    df = pd.concat(rows)
    df[["date", "series", "return"]].to_csv(tmp_path / "r.csv", index=False)
    df[["date", "series", "var"]].to_csv(tmp_path / "v.csv", index=False)
    df[["date", "series", "es"]].to_parquet(tmp_path / "e.parquet")
    return tmp_path, df


def test_user_files_json_equals_the_suite(files):
    path, df = files
    res = run("risk", "backtest", "--returns", path / "r.csv", "--var", path / "v.csv", "--es", path / "e.parquet",
              "--level", "0.975", "--sims", "300", "--output", "json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["level"] == 0.975 and out["dist"] == "normal" and out["not_tested"] == []
    f1 = df[df["series"] == "F1"]
    law = LocationScale.from_var_es(f1["var"].to_numpy(), f1["es"].to_numpy(), 0.975)
    assert law.mu == pytest.approx(np.zeros(300), abs=1e-12) and law.sigma == pytest.approx(np.full(300, 0.01))
    ref = run_suite(f1["return"].to_numpy(), f1["var"].to_numpy(), f1["es"].to_numpy(), 0.975, law, n_sims=300, seed=0)
    got = next(r for r in out["per_series"] if r["series"] == "F1")
    for k in ("exceptions", "pof_p", "cc_p", "dur_p", "dq_p", "z1", "z2", "mf_p", "de_u_p", "de_c_p"):
        assert got[k] == pytest.approx(ref[k], nan_ok=True), k
    for k in ("z1_p", "z2_p"):         # the panel's own null draws: equal within Monte Carlo error
        assert abs(got[k] - ref[k]) < 4 * math.sqrt(ref[k] * (1 - ref[k]) / 300) + 2 / 300, k
    assert out["pooled"]["n"] == 600
    again = run("risk", "backtest", "--returns", path / "r.csv", "--var", path / "v.csv", "--es", path / "e.parquet",
                "--level", "0.975", "--sims", "300", "--output", "json")
    assert json.loads(again.output) == out                                       # seeded
    text = run("risk", "backtest", "--returns", path / "r.csv", "--var", path / "v.csv", "--level", "0.975")
    assert text.exit_code == 0 and "Kupiec POF p" in text.output and "Acerbi" not in text.output


def test_unmatched_rows_are_listed(files):
    path, df = files
    v = df[["date", "series", "var"]].iloc[5:]
    v.to_csv(path / "v2.csv", index=False)
    out = json.loads(run("risk", "backtest", "--returns", path / "r.csv", "--var", path / "v2.csv",
                         "--level", "0.975", "--output", "json").output)
    assert len(out["not_tested"]) == 5 and out["not_tested"][0]["reason"] == "return without a VaR forecast"
    assert out["pooled"]["n"] == 595


@pytest.mark.parametrize("mutate, msg, where", [
    (lambda d: d.assign(var=d["var"].astype(object).where(d.index != 3, "abc")), "non-numeric var", "v.csv:5 field var"),
    (lambda d: d.assign(date=d["date"].where(d.index != 0, "2022-13-45")), "unparsable date", "v.csv:2 field date"),
    (lambda d: pd.concat([d, d.iloc[[7]]]), "twice", "v.csv:"),
    (lambda d: d.drop(columns="var"), "no 'var' column", "v.csv"),
])
def test_bad_var_file_exit_2_with_file_line_field(files, mutate, msg, where):
    path, df = files
    mutate(df[["date", "series", "var"]].reset_index(drop=True)).to_csv(path / "v.csv", index=False)
    res = run("risk", "backtest", "--returns", path / "r.csv", "--var", path / "v.csv", "--level", "0.975")
    assert res.exit_code != 0 and msg in str(res.exception) and where in str(res.exception), str(res.exception)


def test_es_below_var_and_missing_es_refused(files):
    path, df = files
    bad = df[["date", "series", "es"]].copy()
    bad.iloc[10, 2] = 0.001
    bad.to_csv(path / "e.csv", index=False)
    res = run("risk", "backtest", "--returns", path / "r.csv", "--var", path / "v.csv", "--es", path / "e.csv")
    assert res.exit_code != 0 and "not above VaR" in str(res.exception)
    bad.iloc[20:].assign(es=lambda d: d["es"].clip(lower=0.5)).to_csv(path / "e.csv", index=False)
    res = run("risk", "backtest", "--returns", path / "r.csv", "--var", path / "v.csv", "--es", path / "e.csv")
    assert res.exit_code != 0 and "no ES forecast" in str(res.exception)
    res = run("risk", "backtest", "--returns", path / "r.csv", "--es", path / "e.csv")
    assert res.exit_code != 0 and "--es needs --var" in str(res.exception)


def test_console_exit_code_2(files):
    path, _ = files
    env = {**os.environ, "QMTL_RESEARCH_HOME": os.environ.get("QMTL_RESEARCH_HOME", os.getcwd())}
    proc = subprocess.run([sys.executable, "-c", "from qmtl_research.cli import main; main()", "risk", "backtest",
                           "--returns", str(path / "r.csv"), "--var", str(path / "nope.csv")],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "file not found" in proc.stderr and "nope.csv" in proc.stderr
