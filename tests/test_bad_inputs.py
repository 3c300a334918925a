"""The bad-input suite (tests/BAD_INPUTS.md): each case runs the CLI's ``main()`` in this process
on a throwaway project home whose Evaluation Store already holds evaluated runs, and asserts

* exit code 2, no traceback;
* a message that says what is wrong (``expect``), where (``where:``) and what to do (``fix:``);
* nothing written or changed: every file of the home (reports/, data, params) and every row of
  the store (a full SQL dump) are the same before and after.

A case is ``Case(id, args, expect, setup)``: ``setup(home, ctx)`` writes the bad file(s) into the
home before the snapshot is taken; ``args`` may hold ``{home}``, ``{run}``, ``{port}`` ...
placeholders filled from ``ctx``."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from unittest import mock

import pytest
import yaml

from conftest import run_main

REPO = Path(__file__).resolve().parents[1]
FUNDS = REPO / "tests" / "fixtures" / "three_funds"
PG_URL = os.environ.get("QMTL_TEST_PG_URL")


# ----------------------------------------------------------------------------- harness
cli = run_main          # ``qmtl-research ARGS`` through :func:`qmtl_research.cli.main` (conftest)


def snapshot(home: Path) -> dict:
    """Every file of ``home`` (sha256; lock/WAL side files left out) and a full SQL dump of the store."""
    files = {}
    for p in sorted(home.rglob("*")):
        if p.is_file() and not p.name.endswith((".lock", "-wal", "-shm")) and p.name != "store.sqlite":
            files[str(p.relative_to(home))] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.is_dir():
            files[str(p.relative_to(home)) + "/"] = "dir"
    con = sqlite3.connect(home / "store.sqlite")
    try:
        dump = list(con.iterdump())
    finally:
        con.close()
    return {"files": files, "store": dump}


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def template(tmp_path_factory):
    """A project home (params, notebooks, the three-fund fixture) and a store holding QMTL's good
    runs recorded as evaluated live runs of world qmtl-sample; read-only (each case copies it), made
    once per test process so that the cases can spread over the xdist workers."""
    from qmtl_research.store import EvaluationStore

    home = tmp_path_factory.mktemp("template")
    shutil.copytree(REPO / "params", home / "params")
    shutil.copytree(REPO / "notebooks", home / "notebooks")
    shutil.copytree(FUNDS, home / "funds")
    url = f"sqlite:///{home}/store.sqlite"
    env = {"QMTL_RESEARCH_HOME": str(home), "QMTL_STORE_URL": url}
    with mock.patch.dict(os.environ, env):
        os.environ.pop("QMTL_REPORTS_DIR", None)
        from qmtl_research.cli import main

        argv = ["qmtl-research", "validate", "--world", "qmtl-sample", "--runs",
                str(home / "params" / "qmtl" / "good_strategies_runs.json"), "--stage", "live", "--record"]
        with mock.patch.object(sys, "argv", argv), pytest.raises(SystemExit) as exc:
            main()
        assert exc.value.code in (0, None)
        runs = EvaluationStore.open(url).list_runs("qmtl-sample")
    assert runs, "the template store holds no run"
    (home / "ctx.json").write_text(json.dumps({"run": runs[0]["run_id"], "strategy": runs[0]["strategy_id"]}))
    return home


@pytest.fixture
def home(template, tmp_path, monkeypatch):
    h = tmp_path / "home"
    shutil.copytree(template, h)
    monkeypatch.setenv("QMTL_RESEARCH_HOME", str(h))
    monkeypatch.setenv("QMTL_STORE_URL", f"sqlite:///{h}/store.sqlite")
    monkeypatch.delenv("QMTL_REPORTS_DIR", raising=False)
    return h


# ----------------------------------------------------------------------------- setups
def write(rel: str, text: str | bytes) -> Callable:
    def setup(home: Path, ctx: dict) -> None:
        p = home / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        (p.write_bytes if isinstance(text, bytes) else p.write_text)(text)
    return setup


def strategy(**changes) -> Callable:
    """params/strategies/bad.yaml: demo's strategy with ``changes`` (None deletes a key) and a card of its own."""
    def setup(home: Path, ctx: dict) -> None:
        cfg = yaml.safe_load((REPO / "params" / "strategies" / "demo.yaml").read_text())
        cfg.update(strategy_id="bad", model_card="bad")
        for k, v in changes.items():
            if v is None:
                cfg.pop(k, None)
            else:
                cfg[k] = v
        (home / "params" / "strategies" / "bad.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
        card(home, ctx)
    return setup


def card(home: Path, ctx: dict, **changes) -> None:
    c = yaml.safe_load((REPO / "params" / "model_cards" / "demo.yaml").read_text())
    c.update({"strategy_id": "bad", **changes})
    (home / "params" / "model_cards" / "bad.yaml").write_text(yaml.safe_dump(c, allow_unicode=True))


def card_with(**changes) -> Callable:
    def setup(home: Path, ctx: dict) -> None:
        strategy()(home, ctx)
        card(home, ctx, **changes)
    return setup


def cp949(rel: str, source: Path, **changes) -> Callable:
    """``source`` (YAML) with a Korean title, written in CP949 (not UTF-8) at ``rel``."""
    def setup(home: Path, ctx: dict) -> None:
        data = yaml.safe_load(source.read_text())
        data.update(changes)
        if "title" in data or rel.startswith("params/strategies"):
            data["title"] = "한글 전략 제목"
        text = yaml.safe_dump(data, allow_unicode=True)
        if "한" not in text:
            text = "# 한글 설명\n" + text
        p = home / rel
        p.write_bytes(text.encode("cp949"))
        if rel.startswith("params/strategies/"):
            card(home, ctx)
    return setup


def returns_csv(rows: list[str], name: str = "r.csv", header: str = "date,A") -> Callable:
    return write(name, "\n".join([header, *rows]) + "\n")


def funds_with(**cells) -> Callable:
    """funds/returns.csv of the fixture with one cell of its second data row replaced."""
    def setup(home: Path, ctx: dict) -> None:
        lines = (FUNDS / "returns.csv").read_text().splitlines()
        head = lines[0].split(",")
        row = lines[2].split(",")
        for k, v in cells.items():
            row[head.index(k)] = v
        lines[2] = ",".join(row)
        (home / "funds" / "returns.csv").write_text("\n".join(lines) + "\n")
    return setup


def runs_export(mutate: Callable | None = None, raw: str | None = None) -> Callable:
    def setup(home: Path, ctx: dict) -> None:
        if raw is not None:
            (home / "runs.json").write_text(raw)
            return
        runs = json.loads((REPO / "params" / "qmtl" / "good_strategies_runs.json").read_text())
        mutate(runs)
        (home / "runs.json").write_text(json.dumps(runs))
    return setup


def _set(path: str, value) -> Callable:
    def mutate(runs):
        node = runs[0]
        *head, last = path.split(".")
        for k in head:
            node = node[k]
        node[last] = value
    return mutate


def _days(n: int = 60, start: str = "2022-01-03") -> list[str]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(5)
    return [f"{d.date()},{x:.6f}" for d, x in zip(pd.bdate_range(start, periods=n), rng.normal(0, 0.01, n))]


def returns_with(i: int, date: str | None = None, value: str | None = None) -> Callable:
    """60 daily returns with row ``i`` given another date and/or value."""
    rows = _days()
    d, v = rows[i].split(",")
    rows[i] = f"{date or d},{value or v}"
    return returns_csv(rows)


def world(**changes) -> Callable:
    def setup(home: Path, ctx: dict) -> None:
        w = yaml.safe_load((REPO / "params" / "worlds" / "qmtl-sample.yaml").read_text())
        w.update(world_id="badworld", **changes)
        (home / "params" / "worlds" / "badworld.yaml").write_text(yaml.safe_dump(w))
    return setup


def policy_with(**perf) -> Callable:
    def setup(home: Path, ctx: dict) -> None:
        pol = yaml.safe_load((REPO / "params" / "policies" / "qmtl_sample_policy.yml").read_text())
        pol["validation_profiles"]["backtest"]["performance"].update(perf)
        (home / "policy.yml").write_text(yaml.safe_dump(pol))
    return setup


def both(*setups) -> Callable:
    def setup(home: Path, ctx: dict) -> None:
        for s in setups:
            s(home, ctx)
    return setup


def mkdir(rel: str) -> Callable:
    def setup(home: Path, ctx: dict) -> None:
        (home / rel).mkdir(parents=True, exist_ok=True)
    return setup


@dataclass
class Case:
    id: str
    args: list[str]
    expect: str
    setup: Callable | None = None
    env: dict = field(default_factory=dict)
    needs_pg: bool = False


POLICY = "{home}/params/policies/qmtl_sample_policy.yml"
GOOD = "{home}/params/qmtl/good_strategies_runs.json"
VALIDATE = ["validate", "--policy", POLICY, "--runs"]
VALIDATE_W = ["validate", "--runs", GOOD]
REPORT = ["report", "run", "--strategy"]
RISK_VAR = ["risk", "var", "--returns", "{home}/r.csv"]
MC = ["audit", "montecarlo", "--demo"]
VOL = ["volatility", "forecast", "--returns", "{home}/funds/returns.csv", "--output", "csv"]
RATING = ["rating", "predict", "--returns", "{home}/funds/returns.csv", "--funds", "{home}/funds/funds.csv",
          "--benchmarks", "{home}/funds/benchmarks.csv"]
DATA = ["data", "validate", "--returns", "{home}/funds/returns.csv", "--funds", "{home}/funds/funds.csv",
        "--benchmarks", "{home}/funds/benchmarks.csv"]
RUNS = ["runs", "list", "--store-url"]
SAMPLE = ["--world", "qmtl-sample"]

CASES = [
    # ------------------------------------------------------------------ store URLs (item 8)
    Case("store-url-garbage", [*RUNS, "garbage"], "cannot be parsed"),
    Case("store-url-mysql", [*RUNS, "mysql://user:hunter2@127.0.0.1/db"], "unsupported Evaluation Store engine 'mysql'"),
    Case("store-url-closed-port", [*RUNS, "postgresql://user:hunter2@127.0.0.1:{port}/db"], "Connection refused"),
    Case("store-url-directory", [*RUNS, "sqlite:///{home}/params"], "is a directory"),
    Case("store-url-missing-folder", [*RUNS, "sqlite:///{home}/nowhere/store.sqlite"], "does not exist"),
    Case("store-url-unknown-role", [*RUNS, "{pg_role}"], "does not exist", needs_pg=True),
    Case("store-url-missing-database", [*RUNS, "{pg_nodb}"], "does not exist", needs_pg=True),
    # .ci/postgres.sh makes the role qmtl_pw log in with a password (scram); the others trust loopback
    Case("store-url-wrong-password", [*RUNS, "{pg_badpw}"], "password", needs_pg=True),
    Case("store-read-only-report", [*REPORT, "demo"], "read-only",
         env={"QMTL_STORE_URL": "sqlite:///file:{home}/store.sqlite?mode=ro&uri=true"}),
    Case("store-read-only-record", [*VALIDATE_W, "--world", "qmtl-sample", "--record", "--stage", "paper",
                                    "--store-url", "sqlite:///file:{home}/store.sqlite?mode=ro&uri=true"], "read-only"),
    Case("store-read-only-audit-save", [*MC, "--simulations", "1000", "--save", "--store-url",
                                        "sqlite:///file:{home}/store.sqlite?mode=ro&uri=true"], "read-only"),
    Case("store-save-missing-folder", [*MC, "--simulations", "1000", "--save", "--store-url",
                                       "sqlite:///{home}/nowhere/s.sqlite"], "does not exist"),
    Case("store-closed-port-report", [*REPORT, "demo"], "Connection refused",
         env={"QMTL_STORE_URL": "postgresql://u:hunter2@127.0.0.1:{port}/x"}),
    # ------------------------------------------------------------------ encodings (item 8)
    Case("cp949-strategy-yaml", [*REPORT, "bad"], "not UTF-8",
         cp949("params/strategies/bad.yaml", REPO / "params" / "strategies" / "demo.yaml", strategy_id="bad",
               model_card="bad")),
    Case("cp949-policy-yaml", ["validate", "--policy", "{home}/pol.yml", "--runs", GOOD], "not UTF-8",
         cp949("pol.yml", REPO / "params" / "policies" / "qmtl_sample_policy.yml")),
    Case("cp949-world-yaml", [*VALIDATE_W, "--world", "badworld"], "not UTF-8",
         cp949("params/worlds/badworld.yaml", REPO / "params" / "worlds" / "qmtl-sample.yaml", world_id="badworld")),
    Case("cp949-model-card", [*REPORT, "bad"], "not UTF-8",
         both(strategy(), cp949("params/model_cards/bad.yaml", REPO / "params" / "model_cards" / "demo.yaml",
                                strategy_id="bad"))),
    Case("cp949-run-export", [*VALIDATE, "{home}/runs.json"], "not UTF-8",
         write("runs.json", '[{"strategy_id": "전략"}]'.encode("cp949"))),
    # ------------------------------------------------------------------ run exports
    Case("runs-empty-list", [*VALIDATE, "{home}/runs.json"], "no runs", runs_export(raw="[]")),
    Case("runs-empty-wrapped", [*VALIDATE, "{home}/runs.json"], "no runs", runs_export(raw='{"runs": []}')),
    Case("runs-invalid-json", [*VALIDATE, "{home}/runs.json"], "invalid JSON", runs_export(raw="[{")),
    Case("runs-not-a-list", [*VALIDATE, "{home}/runs.json"], "JSON list", runs_export(raw="42")),
    Case("runs-missing-block", [*VALIDATE, "{home}/runs.json"], "lacks metric block",
         runs_export(lambda r: r[0]["metrics"].pop("risk"))),
    Case("runs-negative-drawdown", [*VALIDATE, "{home}/runs.json"], "max_drawdown",
         runs_export(_set("metrics.returns.max_drawdown", -0.2))),
    Case("runs-duplicate-id", [*VALIDATE, "{home}/runs.json"], "unique",
         runs_export(lambda r: r.append(dict(r[0])))),
    Case("runs-missing-file", [*VALIDATE, "{home}/none.json"], "not found"),
    # ------------------------------------------------------------------ fund data files
    Case("funds-time-of-day", DATA, "time of day", funds_with(date="2022-07-08T10:30:00")),
    Case("funds-zone-offset", DATA, "zone offset", funds_with(date="2022-07-08+09:00")),
    Case("funds-zulu", DATA, "zone offset", funds_with(date="2022-07-08T00:00:00Z")),
    Case("funds-1e300", DATA, "not a return", funds_with(**{"return": "1e300"})),
    Case("funds-percent", DATA, "loss of 100 %", funds_with(**{"return": "-150"})),
    Case("funds-non-numeric", DATA, "non-numeric", funds_with(**{"return": "abc"})),
    Case("funds-bad-date", DATA, "unparseable date", funds_with(date="2022-13-45")),
    Case("funds-missing-file", [*DATA[:3], "{home}/none.csv", *DATA[4:]], "not found"),
    # ------------------------------------------------------------------ risk files (item 9: same checks)
    Case("risk-percent-units", RISK_VAR, "loss of 100 %", returns_with(10, value="-150.0")),
    Case("risk-minus-one", RISK_VAR, "loss of 100 %", returns_with(10, value="-1.0")),
    Case("risk-1e300", RISK_VAR, "not a return", returns_with(10, value="1e300")),
    Case("risk-time-of-day", RISK_VAR, "time of day", returns_with(3, date="2022-01-06 12:00")),
    Case("risk-zone-offset", RISK_VAR, "zone offset", returns_with(3, date="2022-01-06T00:00+09:00")),
    Case("risk-unparsable-date", RISK_VAR, "unparsable date", returns_with(3, date="someday")),
    Case("risk-duplicate-date", RISK_VAR, "duplicate date", returns_with(3, date="2022-01-03")),
    Case("risk-unknown-column", [*RISK_VAR, "--column", "Z"], "unknown column", returns_with(3)),
    Case("risk-empty-file", RISK_VAR, "empty", write("r.csv", "")),
    # ------------------------------------------------------------------ Monte Carlo / audit arguments
    Case("mc-1e10-simulations", [*MC, "--simulations", "10000000000"], "GiB of memory"),
    Case("mc-zero-simulations", [*MC, "--simulations", "0"], "num_simulations"),
    Case("mc-zero-holding", [*MC, "--holding", "0"], "holding_period"),
    Case("mc-confidence-above-one", [*MC, "--confidence", "1.5"], "confidence"),
    Case("mc-unknown-method", [*MC, "--method", "magic"], "method"),
    Case("mc-no-source", ["audit", "montecarlo"], "exactly one portfolio source"),
    Case("mc-two-sources", [*MC, "--real-demo"], "exactly one portfolio source"),
    Case("mc-bad-weights", ["audit", "montecarlo", "--returns", "{home}/r.csv", "--weights", "A=half"], "weight",
         returns_with(3)),
    Case("audit-output-format", [*MC, "--output", "xml"], "unknown output format"),
    Case("audit-date-with-time", ["audit", "risk-report", "--demo", "--date", "2020-03-06T10:00"], "time of day"),
    Case("audit-date-unparsable", ["audit", "risk-report", "--demo", "--date", "2020-31-31"], "unparsable date"),
    # ------------------------------------------------------------------ volatility / rating / data CLI
    Case("vol-negative-seed", [*VOL, "--seed", "-1"], "greater than or equal to 0"),
    Case("vol-seed-too-large", [*VOL, "--seed", str(2**32)], "less than"),
    Case("vol-out-missing-folder", [*VOL, "--out", "{home}/nowhere/f.csv"], "does not exist"),
    Case("vol-out-directory", [*VOL, "--out", "{home}/funds"], "is a directory"),
    Case("vol-out-exists", [*VOL, "--out", "{home}/funds/funds.csv"], "exists"),
    Case("vol-unknown-model", [*VOL, "--models", "ARIMA"], "unknown model"),
    Case("vol-output-format", [*VOL[:-1], "xml"], "unknown output format"),
    Case("rating-out-missing-folder", [*RATING, "--out", "{home}/nowhere/p.csv"], "does not exist"),
    Case("rating-out-directory", [*RATING, "--out", "{home}/funds"], "is a directory"),
    Case("rating-output-format", [*RATING, "--output", "xml"], "unknown output format"),
    Case("resample-out-directory", ["data", "resample", "--input", "{home}/funds/navs.csv", "--out", "{home}/funds"],
         "is a directory"),
    Case("resample-out-is-input", ["data", "resample", "--input", "{home}/funds/navs.csv", "--out",
                                   "{home}/funds/navs.csv", "--force"], "is the --input file"),
    # ------------------------------------------------------------------ strategy / model-card YAML
    Case("strategy-without-universe", [*REPORT, "bad"], "universe", strategy(universe=None)),
    Case("strategy-synthetic-unlabelled", [*REPORT, "bad"], "set synthetic: true", strategy(synthetic=False)),
    Case("strategy-unknown-key", [*REPORT, "bad"], "Extra inputs", strategy(colour="blue")),
    Case("strategy-id-mismatch", [*REPORT, "bad"], "does not match the file name", strategy(strategy_id="other")),
    Case("strategy-id-traversal", [*REPORT, "../../escape/evil"], "identifier"),
    Case("strategy-unknown", [*REPORT, "nosuch"], "unknown strategy"),
    Case("strategy-no-notebooks", [*REPORT, "bad"], "notebooks", strategy(notebooks=[])),
    Case("strategy-bad-yaml", [*REPORT, "bad"], "invalid YAML", write("params/strategies/bad.yaml", "a: [1,\n")),
    Case("strategy-unknown-world", [*REPORT, "demo", "--world", "portfolios"], "not registered in world"),
    Case("strategy-unknown-stage-param", [*REPORT, "bad"], "notebooks",
         strategy(notebooks=[{"notebook": "volatility", "parameters": {"no_such_parameter": 1}}])),
    Case("card-of-another-strategy", [*REPORT, "bad"], "belongs to strategy",
         both(strategy(), lambda h, c: card(h, c, strategy_id="demo"))),
    Case("card-invalid-lifecycle", [*REPORT, "bad"], "unknown lifecycle_stage", card_with(lifecycle_stage="heaven")),
    Case("card-missing", [*REPORT, "bad"], "unknown model card",
         both(strategy(), lambda h, c: (h / "params" / "model_cards" / "bad.yaml").unlink())),
    # ------------------------------------------------------------------ world / policy YAML
    Case("world-two-policies", [*VALIDATE_W, "--world", "badworld"], "exactly one of",
         world(policy={"validation_profiles": {}})),
    Case("world-policy-file-escapes", [*VALIDATE_W, "--world", "badworld"], "policy_file",
         world(policy_file="../../etc/passwd")),
    Case("world-unknown", [*VALIDATE_W, "--world", "nosuch"], "unknown world"),
    Case("policy-missing-file", ["validate", "--policy", "{home}/none.yml", "--runs", GOOD], "not found"),
    Case("policy-unsatisfiable", ["policy", "check", "{home}/policy.yml"], "max_dd_max",
         policy_with(max_dd_max=-0.25)),
    # ------------------------------------------------------------------ CLI arguments
    Case("validate-fail-on-value", [*VALIDATE, GOOD, "--fail-on", "sometimes"], "--fail-on"),
    Case("validate-output-format", [*VALIDATE, GOOD, "-o", "xml"], "unknown output format"),
    Case("monitor-without-live-start", ["runs", "monitor", "--returns", "{home}/r.csv"], "live-start",
         returns_with(3)),
    # ------------------------------------------------------------------ approvals / overrides
    Case("approve-unknown-run", ["approve", "--run", "nope", "--decision", "approve", "--actor", "a", "--role",
                                 "Validator", "--reason", "r"], "nope"),
    Case("approve-unknown-decision", ["approve", "--run", "{run}", "--decision", "maybe", "--actor", "a", "--role",
                                      "Validator", "--reason", "r"], "decision"),
    Case("approve-without-actor", ["approve", "--run", "{run}", "--decision", "approve", "--role", "Validator",
                                   "--reason", "r"], "actor"),
    Case("override-unknown-status", ["override", *SAMPLE, "--strategy", "{strategy}", "--run", "{run}", "--status",
                                     "maybe", "--actor", "a", "--role", "Risk", "--reason", "r"], "status"),
    Case("override-unknown-run", ["override", *SAMPLE, "--strategy", "{strategy}", "--run", "nope", "--status",
                                  "approved", "--actor", "a", "--role", "Risk", "--reason", "r"], "nope"),
    Case("reevaluate-unknown-run", ["runs", "reevaluate", *SAMPLE, "--strategy", "{strategy}", "--run", "nope"],
         "nope"),
]


def _fill(s: str, ctx: dict) -> str:
    return s.format(**ctx) if "{" in s else s


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_a_message_and_writes_nothing(case, home, capsys, monkeypatch):
    if case.needs_pg and not PG_URL:
        pytest.skip("needs QMTL_TEST_PG_URL (a PostgreSQL server)")
    from sqlalchemy.engine import make_url

    ctx = {"home": str(home), "port": closed_port(), **json.loads((home / "ctx.json").read_text())}
    if PG_URL:
        pg = make_url(PG_URL)
        ctx["pg_role"] = pg.set(username="no_such_role_x", password="hunter2").render_as_string(hide_password=False)
        ctx["pg_nodb"] = pg.set(password="hunter2", database="no_such_db_x").render_as_string(hide_password=False)
        ctx["pg_badpw"] = pg.set(username="qmtl_pw", password="hunter2").render_as_string(hide_password=False)
    if case.setup:
        case.setup(home, ctx)
    for k, v in case.env.items():
        monkeypatch.setenv(k, _fill(v, ctx))
    before = snapshot(home)
    rc, out, err = cli(capsys, *[_fill(a, ctx) for a in case.args])
    assert rc == 2, (rc, out[-1500:], err[-3000:])
    assert "Traceback" not in err
    assert case.expect.lower() in err.lower(), err
    if not any(w in err for w in ("No such option", "Invalid value", "Missing option")):
        assert "where:" in err and "fix:" in err, err      # our errors name where and what to do
    assert "hunter2" not in err + out, "a password reached the output"
    assert snapshot(home) == before, "a refused command wrote or changed something"


def test_the_case_table_lists_every_case_and_only_real_tests():
    """tests/BAD_INPUTS.md: every case of this file is a row, and every row names a test that exists
    (file, function and, for this file, a case id of CASES)."""
    import ast
    import re

    table = (REPO / "tests" / "BAD_INPUTS.md").read_text(encoding="utf-8")
    node_ids = re.findall(r"`(tests/test_\w+\.py::\w+(?:\[[^\]]+\])?)`", table)
    rows = [line for line in table.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) == len(node_ids) >= 80
    ids = {c.id for c in CASES}
    assert len(ids) == len(CASES), "case ids must be unique"
    listed = set()
    for node in node_ids:
        path, _, rest = node.partition("::")
        func, _, param = rest.partition("[")
        source = (REPO / path).read_text(encoding="utf-8")
        names = {n.name for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef)}
        assert func in names, f"{node}: no such test"
        if path.endswith("test_bad_inputs.py"):
            assert param.rstrip("]") in ids, f"{node}: no such case"
            listed.add(param.rstrip("]"))
    assert listed == ids, f"cases missing from BAD_INPUTS.md: {sorted(ids - listed)}"
