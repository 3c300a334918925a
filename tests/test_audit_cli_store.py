"""The audit commands through the CLI's ``main()`` (`qmtl-research audit ...`, in-process: the
console script itself is tests/test_cli_exit_codes.py's): exit codes, stdout/stderr, rows in the
store; reruns unchanged or refused with nothing written. Store tests run on SQLite and (marked
``postgres``) PostgreSQL."""
import json

import pytest

from _audit_support import CLI, cli, count, counts, url  # noqa: F401  (fixture)
from qmtl_research.store.audit_repository import AuditRepository

pytestmark = pytest.mark.skipif(not CLI.exists(), reason=f"console command {CLI} not installed (make setup)")

# 100 shares of A, no cash: values 10,000 / 9,600 / 8,900 (hand computed below)
POSITIONS = "date,asset,quantity,price\n2024-01-02,A,100,100\n2024-01-03,A,100,96\n2024-01-04,A,100,89\n"


def ok(res):
    assert res.returncode == 0, res.stderr + res.stdout
    return res


def refused(res, *needles):
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "error:" in res.stderr and "fix:" in res.stderr and "Traceback" not in res.stderr, res.stderr
    for n in needles:
        assert n in res.stderr, (n, res.stderr)
    return res


def test_snapshot_file_save_rerun_append_and_alerts(tmp_path, url):  # noqa: F811
    pos = tmp_path / "pos.csv"
    pos.write_text(POSITIONS)
    d = json.loads(ok(cli("audit", "snapshot", "--positions", str(pos), "--save", "--output", "json", url=url)).stdout)
    snaps = d["snapshots"]
    assert [s["total_value"] for s in snaps] == [10_000, 9_600, 8_900]
    assert snaps[1]["daily_return"] == pytest.approx(-0.04) and snaps[2]["daily_return"] == pytest.approx(89 / 96 - 1)
    assert snaps[2]["cum_return"] == pytest.approx(-0.11)
    assert snaps[2]["positions"][0]["daily_pnl"] == pytest.approx(100 * (89 - 96))
    # alerts: daily losses -4 % and -7.29 % (limit -3 %), drawdown -11 % crosses -10 % on 2024-01-04
    assert [(a["date"], a["alert"]) for a in d["alerts"]] == [("2024-01-03", "daily_loss"), ("2024-01-04", "daily_loss"),
                                                               ("2024-01-04", "max_drawdown")]
    assert d["store"]["rows_written"] == 3 and d["store"]["events_emitted"] == 3
    assert counts(url)["daily_snapshots"] == 3 and counts(url)["audit_alert"] == 3

    again = ok(cli("audit", "snapshot", "--positions", str(pos), "--save", url=url))
    assert "already stored, unchanged: daily_snapshots portfolio main, 2024-01-02..2024-01-04 (3 rows)" in again.stdout
    assert "0 emitted, 3 already emitted" in again.stdout
    assert counts(url)["daily_snapshots"] == 3 and counts(url)["audit_alert"] == 3

    changed = tmp_path / "changed.csv"
    changed.write_text(POSITIONS.replace("2024-01-04,A,100,89", "2024-01-04,A,100,88"))
    refused(cli("audit", "snapshot", "--positions", str(changed), "--save", url=url), "different content",
            "date=2024-01-04")
    assert counts(url)["daily_snapshots"] == 3

    # the next days: returns against the stored 2024-01-04; the drawdown episode that began on
    # 2024-01-04 raises no second drawdown alert, the -5.56 % day is a daily-loss alert
    nxt = tmp_path / "next.csv"
    nxt.write_text("date,asset,quantity,price\n2024-01-05,A,100,90\n2024-01-08,A,100,85\n")
    d = json.loads(ok(cli("audit", "snapshot", "--positions", str(nxt), "--save", "--output", "json", url=url)).stdout)
    assert d["previous"] == "2024-01-04"
    assert d["snapshots"][0]["daily_return"] == pytest.approx(90 / 89 - 1)
    assert d["snapshots"][1]["cum_return"] == pytest.approx(-0.15)
    assert [(a["date"], a["alert"]) for a in d["alerts"]] == [("2024-01-08", "daily_loss")]
    assert counts(url)["daily_snapshots"] == 5 and counts(url)["audit_alert"] == 4

    early = tmp_path / "early.csv"
    early.write_text("date,asset,quantity,price\n2023-12-29,A,100,100\n")
    refused(cli("audit", "snapshot", "--positions", str(early), "--save", url=url), "comes before the last stored one")
    assert counts(url)["daily_snapshots"] == 5
    stored = AuditRepository.open(url).snapshots("main")
    assert stored["total_value"].tolist() == [10_000, 9_600, 8_900, 9_000, 8_500]


def test_snapshot_text_errors_and_nothing_created(tmp_path):
    store = tmp_path / "s.sqlite"
    u = f"sqlite:///{store}"
    pos = tmp_path / "pos.csv"
    pos.write_text(POSITIONS)
    out = ok(cli("audit", "snapshot", "--positions", str(pos), "--date", "2024-01-03", url=u)).stdout
    assert "Daily Snapshot: portfolio main" in out and "2024-01-03" in out and "9,600" in out
    assert "daily loss -3.00%" in out and "Schedule: daily at 16:00 Asia/Seoul" in out
    assert not store.exists()                          # reading history without --save creates no store
    bad = tmp_path / "bad.csv"
    bad.write_text("date,asset,quantity,price\n2024-01-02,A,100,100\n2024-01-03,A,lots,96\n")
    refused(cli("audit", "snapshot", "--positions", str(bad), "--save", url=u),
            f"{bad}, line 3, field 'quantity', asset A", "non-numeric quantity")
    refused(cli("audit", "snapshot", "--positions", str(pos), "--date", "2024-02-01", url=u), "no positions dated")
    refused(cli("audit", "snapshot", "--positions", str(pos), "--demo", url=u), "exactly one source")
    off = tmp_path / "audit.yaml"
    off.write_text("audit:\n  snapshot:\n    enabled: false\n")
    refused(cli("audit", "snapshot", "--positions", str(pos), "--save", "--settings", str(off), url=u),
            f"{off}:3 field 'audit.snapshot.enabled'")
    assert not store.exists()


def test_snapshot_demo_reruns(url):  # noqa: F811
    first = ok(cli("audit", "snapshot", "--demo", "--save", url=url)).stdout
    assert "SYNTHETIC" in first and "stored: daily_snapshots portfolio demo, 2024-12-04..2024-12-31 (20 rows)" in first
    assert "already stored, unchanged" in ok(cli("audit", "snapshot", "--demo", "--save", url=url)).stdout
    refused(cli("audit", "snapshot", "--demo", "--date", "2024-06-03", "--save", url=url), "before the last stored")
    assert count(url, "daily_snapshots") == 20


def test_risk_report_rerun_is_unchanged_and_other_numbers_refused(url):  # noqa: F811
    args = ("audit", "risk-report", "--demo", "--simulations", "2000", "--save")
    d = json.loads(ok(cli(*args, "--output", "json", url=url)).stdout)
    assert d["store"]["rows_written"] == 2 + len(d["stress"])
    stored = counts(url)
    again = ok(cli(*args, url=url))                              # the issue: used to fail, leaving an orphan row
    assert "already stored, unchanged" in again.stdout and d["montecarlo"]["run_id"] in again.stdout
    assert counts(url) == stored
    refused(cli(*args, "--seed", "7", url=url), "with different content", "portfolio_id=demo")
    assert counts(url) == stored
    ok(cli(*args, "--date", "2024-12-30", url=url))
    assert counts(url)["var_daily_snapshots"] == 2 and counts(url)["montecarlo_results"] == 2


def test_performance_save_reruns_and_alerts(url, tmp_path):  # noqa: F811
    args = ("audit", "performance", "--demo", "--period", "1Y", "--save")
    d = json.loads(ok(cli(*args, "--output", "json", url=url)).stdout)
    assert d["portfolio_id"] == "demo" and d["benchmark_name"] == "KOSPI (synthetic)" and d["beta"] is not None
    n_alerts = len(d["alerts"])
    assert n_alerts > 0 and d["store"]["events_emitted"] == n_alerts
    row = AuditRepository.open(url).performance_reports("demo")[0]
    assert row["sharpe"] == pytest.approx(d["sharpe"]) and row["max_drawdown"] == pytest.approx(d["max_drawdown"])
    again = ok(cli(*args, url=url)).stdout
    assert "already stored, unchanged: performance_reports portfolio demo, 1Y" in again and "🚨 Alerts" in again
    refused(cli(*args, "--benchmark-index", "none", url=url), "different content", "--portfolio-id")
    assert counts(url)["performance_reports"] == 1 and counts(url)["audit_alert"] == n_alerts


def test_performance_benchmark_choice_and_files(tmp_path):
    u = f"sqlite:///{tmp_path}/s.sqlite"
    res = refused(cli("audit", "performance", "--real-demo", url=u), "params/audit.yaml:", "field 'audit.benchmark'")
    assert "--benchmark-index SP500" in res.stderr
    assert "Benchmark:         S&P 500" in ok(cli("audit", "performance", "--real-demo", "--benchmark-index", "SP500",
                                                  url=u)).stdout
    f = tmp_path / "r.csv"
    f.write_text("date,A\n" + "".join(f"2024-01-{d:02d},{r}\n" for d, r in
                                      zip(range(2, 12), [0.01, -0.04, 0.0, 0.02, -0.08, 0.01, 0.0, 0.0, 0.01, 0.0])))
    d = json.loads(ok(cli("audit", "performance", "--returns", str(f), "--save", "--output", "json", url=u)).stdout)
    assert d["portfolio_id"] == "main" and d["total_return"] == pytest.approx(
        1.01 * 0.96 * 1.02 * 0.92 * 1.01 * 1.01 - 1)
    # the -4 % and -8 % days are daily-loss alerts; the deepest drawdown, 0.96 * 1.02 * 0.92 - 1 = -9.91 %,
    # stays above the -10 % limit
    assert d["max_drawdown"] == pytest.approx(0.96 * 1.02 * 0.92 - 1)
    assert [(a["date"], a["alert"]) for a in d["alerts"]] == [("2024-01-03", "daily_loss"), ("2024-01-06", "daily_loss")]
    assert count(u, "performance_reports") == 1
    refused(cli("audit", "performance", "--returns", str(f), "--benchmark-index", "KOSPI", url=u), "--benchmark FILE")


def test_attribution_save_and_reruns(url, tmp_path):  # noqa: F811
    args = ("audit", "attribution", "--demo", "--period", "3Y", "--save")
    d = json.loads(ok(cli(*args, "--output", "json", url=url)).stdout)
    assert sum(r["contribution"] for r in d["table"]) == pytest.approx(d["total"], abs=1e-10)
    assert d["store"]["rows_written"] == len(d["table"]) == 6
    assert "already stored, unchanged: attributions portfolio demo, 3Y" in ok(cli(*args, url=url)).stdout
    back = AuditRepository.open(url).attributions("demo")
    assert sorted(back["factor"]) == sorted(r["factor"] for r in d["table"])
    assert str(back["end_date"].iloc[0]) == d["end_date"] == "2024-12-31"
    ok(cli("audit", "attribution", "--demo", "--period", "1Y", "--save", url=url))
    assert count(url, "attributions") == 12


def test_montecarlo_save_reports_the_store(tmp_path):
    u = f"sqlite:///{tmp_path}/s.sqlite"
    d = json.loads(ok(cli("audit", "montecarlo", "--demo", "--seed", "3", "--simulations", "2000", "--save",
                          "--output", "json", url=u)).stdout)
    assert d["store"]["rows_written"] == 1
    assert AuditRepository.open(u).montecarlo(d["run_id"])["var_95"] == pytest.approx(d["var_95"])
