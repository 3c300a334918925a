"""Helpers of the audit tests: store URLs for both backends, the audit commands run in-process."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from conftest import PG_SKIP, PG_URL, _fresh_pg, invoke

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).with_name("qmtl-research")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    """A fresh, empty store URL: SQLite always, PostgreSQL (marked ``postgres``) with QMTL_TEST_PG_URL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.sqlite"
    if not PG_URL:
        pytest.skip(PG_SKIP)
    return _fresh_pg(PG_URL)


def engine_of(url: str):
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def count(url: str, table: str, where: str | None = None) -> int:
    eng = engine_of(url)
    try:
        with eng.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}" + (f" WHERE {where}" if where else "")))
                       .scalar())
    finally:
        eng.dispose()


def counts(url: str) -> dict[str, int]:
    """Rows per audit table and alert events."""
    tables = ["daily_snapshots", "performance_reports", "attributions", "montecarlo_results",
              "var_daily_snapshots", "stress_test_results"]
    out = {t: count(url, t) for t in tables}
    out["audit_alert"] = count(url, "events", "event_type = 'audit_alert'")
    return out


def cli(*args: str, url: str | None = None) -> subprocess.CompletedProcess:
    """``qmtl-research ARGS`` through the CLI's ``main()`` in this process (conftest.invoke: exit code,
    stdout, stderr as the shell sees them), the project home this checkout, the store ``url``."""
    env = {**os.environ, "QMTL_RESEARCH_HOME": str(ROOT)}
    env.pop("QMTL_STORE_URL", None)
    if url:
        env["QMTL_STORE_URL"] = url
    return invoke(*args, env=env, cwd=ROOT)
