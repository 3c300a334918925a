"""The report run of a strategy that declares ``live:`` records its live run and the report shows
a "Live monitoring" part (30/60/90-day table against the backtest, the demotion decision, a
figure), cited by the regulatory mapping; a strategy without ``live:`` has neither and the
mapping names the evidence as a gap. ``tiny`` (a two-asset synthetic portfolio) live from
2020-07-01; numbers checked against empyrical and numpy."""
from __future__ import annotations

import shutil

import empyrical
import numpy as np
import pandas as pd
import pytest

from test_report_signoff import html_tables, pdf_cells, table_with
from test_reporting import REPO, TINY, _tiny_card

from qmtl_research.errors import ConfigError

LIVE_START = pd.Timestamp("2020-07-01")
LIVE_WHAT = "live run against this backtest"
HEADER = ["window", "Sharpe", "max drawdown", "ES 99 %", "Sharpe / backtest"]


def _home(tmp_path, strategy_yaml: str):
    shutil.copytree(REPO / "params", tmp_path / "params", ignore=shutil.ignore_patterns("strategies"))
    (tmp_path / "params" / "strategies").mkdir()
    (tmp_path / "params" / "strategies" / "tiny.yaml").write_text(strategy_yaml)
    _tiny_card(tmp_path)
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    return {"QMTL_RESEARCH_HOME": str(tmp_path), "QMTL_STORE_URL": f"sqlite:///{tmp_path}/store.sqlite"}


@pytest.fixture(scope="module")
def live_report(tmp_path_factory):
    env = _home(tmp_path_factory.mktemp("live"), TINY + f'live: {{start: "{LIVE_START.date()}"}}\n')
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.delenv("QMTL_REPORTS_DIR", raising=False)
        from qmtl_research.data.portfolio import load_portfolio
        from qmtl_research.reporting.runner import run_report

        res = run_report("tiny", progress=False, echo=lambda *_: None, engine="pandoc")
        returns = load_portfolio("tiny").portfolio_returns
    return {"env": env, "res": res, "returns": returns}


def _rep(env, res):
    """The report data of ``res`` (the project home and store of ``env``; None: the current ones)."""
    from qmtl_research.reporting.report_data import ReportData
    from qmtl_research.store.context import RunContext

    with pytest.MonkeyPatch.context() as mp:
        for k, v in (env or {}).items():
            mp.setenv(k, v)
        rep = ReportData.load(RunContext.from_params("tiny", res.world_id, res.run_id, None, None))
        rep.live  # read while the store is the run's
        return rep


def _same(cell: str, x: float) -> bool:
    """A table cell (the report rounds to 4 decimals; n/a for NaN) equals the reference ``x``."""
    if np.isnan(x):
        return cell == "n/a"
    return cell != "n/a" and abs(float(cell) - x) <= 5.1e-5


def test_report_run_records_the_live_run_and_the_section_shows_it(live_report):
    from qmtl_research.store import EvaluationStore

    res, r = live_report["res"], live_report["returns"]
    store = EvaluationStore.open(live_report["env"]["QMTL_STORE_URL"])
    live_runs = [x for x in store.list_runs(res.world_id, "tiny") if x["stage"] == "live"]
    assert len(live_runs) == 1 and live_runs[0]["status"] == "evaluated"
    p = live_runs[0]["params"]
    assert p["backtest_run"] == res.run_id and p["live_start"] == "2020-07-01"
    assert p["live_end"] == str(r.index[-1].date())

    # independent numbers: empyrical (Sharpe, drawdown) and numpy (ES 99 % = mean of the returns
    # at or below the 1 % quantile, as a positive loss)
    live, bt = r[r.index >= LIVE_START], r[r.index < LIVE_START]
    expected = {}
    for w in (30, 60, 90):
        win = live[live.index > live.index[-1] - pd.Timedelta(days=w)]
        q = np.quantile(win.to_numpy(), 0.01)
        expected[f"last {w} days"] = (empyrical.sharpe_ratio(win), -empyrical.max_drawdown(win),
                                      -win[win <= q].mean())
    expected["whole live period"] = (empyrical.sharpe_ratio(live), -empyrical.max_drawdown(live), np.nan)
    expected["backtest"] = (empyrical.sharpe_ratio(bt), -empyrical.max_drawdown(bt), np.nan)
    bt_sharpe = expected["backtest"][0]
    # the ratio to the backtest's Sharpe is undefined (n/a) when the backtest's Sharpe is not positive
    ratio_of = (lambda x: x / bt_sharpe) if bt_sharpe > 0 else (lambda x: np.nan)
    rows = {row["window"]: row for row in table_with(res.html, HEADER)}
    assert list(rows) == list(expected)
    for window, (sharpe, mdd, es) in expected.items():
        row = rows[window]
        assert _same(row["Sharpe"], sharpe) and _same(row["max drawdown"], mdd), (window, row)
        assert _same(row["ES 99 %"], es) and _same(row["Sharpe / backtest"], ratio_of(sharpe)), (window, row)

    # the demotion decision in words, following the limits (live/backtest Sharpe >= 0.5, 90-day
    # Sharpe >= 0, live drawdown <= 1.5 x backtest)
    ratio = ratio_of(expected["whole live period"][0])
    demote = bool(ratio < 0.5) or expected["last 90 days"][0] < 0 or \
        expected["whole live period"][1] / expected["backtest"][1] > 1.5
    assert p["demotion_candidate"] is bool(demote)
    flat = pdf_cells(res.pdf)
    assert ("Demotion candidate: the live period breaches" in flat) is demote
    assert ("Not a demotion candidate" in flat) is (not demote)

    # the section heading, numbered by the outline, in the PDF; the figure with its caption
    rep = _rep(live_report["env"], res)
    from qmtl_research.reporting.outline import section_numbers

    number, title = section_numbers(rep)["results.live"]
    assert title == "Live monitoring" and f"{number} Live monitoring" in flat
    assert "Rolling 63-day annualised Sharpe ratio from a year before the live start" in flat
    html = res.html.read_text(encoding="utf-8")
    cap = html.index("Rolling 63-day annualised Sharpe")
    assert "<img" in html[html.rindex("Live monitoring", 0, cap):cap]
    # the mapping cites the part by its number under ongoing monitoring
    assert f"{number} Live monitoring: {LIVE_WHAT}" in flat
    mapping = [t for t in html_tables(res.html) if t and t[0][0] == "element"][0]
    ongoing = [row for row in mapping if row[0] == "Ongoing monitoring"][0]
    assert f"{number} Live monitoring: {LIVE_WHAT}" in ongoing[1] and LIVE_WHAT not in ongoing[2]


def test_a_strategy_without_live_has_no_section_and_the_mapping_names_a_gap(tmp_path, monkeypatch):
    for k, v in _home(tmp_path, TINY).items():
        monkeypatch.setenv(k, v)
    from qmtl_research.reporting.governance import mapping_table
    from qmtl_research.reporting.outline import EVIDENCE, section_numbers
    from qmtl_research.reporting.runner import run_report

    res = run_report("tiny", progress=False, echo=lambda *_: None, no_notebooks=True)
    rep = _rep(None, res)
    assert rep.live is None and "results.live" not in section_numbers(rep)
    assert not EVIDENCE["live_run"].present(rep)
    _, frame = mapping_table(rep)
    row = frame.set_index("element").loc["Ongoing monitoring"]
    assert LIVE_WHAT in row["not in this report (gap)"] and LIVE_WHAT not in row["evidence in this report (section)"]
    assert not [r for r in rep.store.list_runs(res.world_id, "tiny") if r["stage"] == "live"]


@pytest.mark.parametrize("extra, message", [
    ('live: {start: "2030-01-02"}\n', "must cover dates before and from the live start"),
    ('stage: paper\nlive: {start: "2020-07-01"}\n', "its stage is 'paper'"),
])
def test_a_bad_live_period_is_refused_before_anything_is_written(tmp_path, monkeypatch, extra, message):
    from qmtl_research.errors import InputError

    for k, v in _home(tmp_path, TINY + extra).items():
        monkeypatch.setenv(k, v)
    from qmtl_research.reporting.runner import run_report

    with pytest.raises((InputError, ConfigError), match=message):
        run_report("tiny", progress=False, echo=lambda *_: None, no_notebooks=True)
    assert not (tmp_path / "store.sqlite").exists() or not _store_runs(tmp_path)


def _store_runs(home):
    from qmtl_research.store import EvaluationStore

    return EvaluationStore.open(f"sqlite:///{home}/store.sqlite").list_runs()


def test_override_tables_fit_the_page_and_keep_every_column(live_report):
    """An override on the live report's run, rendered again (``report sign``): section 4's override
    revisions come as two tables of at most 9 columns, keyed by revision, holding every column of
    the history (reason and governance hash included, the hash breakable)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from qmtl_research.reporting.sections import history_of, override_tables

    cli = str(Path(sys.executable).with_name("qmtl-research"))
    env = {**os.environ, **live_report["env"]}
    env.pop("QMTL_REPORTS_DIR", None)
    res = live_report["res"]
    reason = "targets are not limits for a demo portfolio"
    for args in (["override", "--world", "portfolios", "--strategy", "tiny", "--run", res.run_id, "--status",
                  "approved", "--actor", "A. Reviewer", "--role", "Risk", "--reason", reason],
                 ["report", "sign", "--strategy", "tiny", "--world", "portfolios", "--run", res.run_id,
                  "--engine", "pandoc"]):
        proc = subprocess.run([cli, *args], capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr
    rep = _rep(live_report["env"], res)
    hist = history_of(rep, "override")
    assert len(hist.columns) >= 12
    decision, detail = override_tables(hist.rename(columns={"actor": "recorded_by", "created_at": "recorded_at"}))
    assert len(decision.columns) <= 9 and len(detail.columns) <= 9
    assert decision.columns[0] == detail.columns[0] == "revision"
    assert len(decision.columns) + len(detail.columns) - 1 == len(hist.columns)   # nothing dropped
    html = Path(live_report["env"]["QMTL_RESEARCH_HOME"]) / "reports" / "tiny" / "portfolios" / "v0002" / \
        "validation_report.html"
    tables = [t for t in html_tables(html) if t and t[0][0] == "revision"]
    assert len(tables) == 2 and all(len(t[0]) <= 9 for t in tables)
    first = dict(zip(tables[0][0], tables[0][1]))
    assert first["status"] == "approved" and first["actor"] == "A. Reviewer" and first["role"] == "Risk"
    second = dict(zip(tables[1][0], tables[1][1]))
    assert second["reason"] == reason
    assert second["governance hash"] == hist["governance_hash"].iloc[0]     # whole (zero-width breaks removed)
    flat = pdf_cells(html.with_suffix(".pdf"))
    assert reason in flat


def test_override_tables_format_only_whole_timestamps_and_keep_text():
    from qmtl_research.reporting.sections import override_tables

    frame = pd.DataFrame([{"revision": 1, "override_status": "approved", "override_actor": "x",
                           "override_reason": "2024-01-01T00:00:00 see memo", "governance_hash": "sha256:" + "a" * 64,
                           "override_timestamp": "2026-12-06T22:22:55.5+09:00", "extra": 3}])
    decision, detail = override_tables(frame)
    assert list(decision.columns) == ["revision", "status", "actor", "timestamp"]
    assert list(detail.columns) == ["revision", "reason", "governance hash", "extra"]
    assert decision["timestamp"].iloc[0] == "2026-12-06 13:22:55 UTC"
    assert detail["reason"].iloc[0] == "2024-01-01T00:00:00 see memo"
    assert detail["governance hash"].iloc[0].replace("\u200b", "") == "sha256:" + "a" * 64
