"""Shared fixtures and helpers of the test suite.

- store URLs: SQLite always, PostgreSQL when QMTL_TEST_PG_URL is set; under pytest-xdist each
  worker gets its own PostgreSQL database (``<database>_<worker id>``, created on first use), so
  two workers never drop each other's tables;
- ``home``: a throwaway project home (the real params and notebooks, its own SQLite store);
- :func:`run_main`: ``qmtl-research ARGS`` in-process through the CLI's ``main()``, the exit code
  as the shell sees it (tests that are about the console script itself spawn it).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

REPO = Path(__file__).resolve().parents[1]
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")   # "gw0", "gw1", ... under pytest-xdist; "" otherwise


def _worker_pg_url(url: str | None) -> str | None:
    """The PostgreSQL URL of this test process: the given one, or under xdist its per-worker database."""
    if not url or not WORKER:
        return url
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return u.set(database=f"{u.database or 'postgres'}_{WORKER}").render_as_string(hide_password=False)


PG_BASE_URL = os.environ.get("QMTL_TEST_PG_URL")
PG_URL = _worker_pg_url(PG_BASE_URL)
PG_SKIP = ("PostgreSQL store tests need a server: run `bash .ci/postgres.sh` (installs and starts one on "
           "loopback) and export QMTL_TEST_PG_URL=<the URL it prints>")
_pg_ready: set[str] = set()


def _ensure_pg_database(url: str) -> None:
    """Create the per-worker database of ``url`` on the server of QMTL_TEST_PG_URL when it is missing."""
    if url in _pg_ready or url == PG_BASE_URL:
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    base = make_url(PG_BASE_URL).set(drivername="postgresql+psycopg")
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar() is None:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    _pg_ready.add(url)


def _fresh_pg(url: str) -> str:
    """``url`` (this process's PostgreSQL database) emptied of every store table."""
    from qmtl_research.store.db import _import_extensions, make_engine
    from qmtl_research.store.tables import metadata

    _ensure_pg_database(url)
    _import_extensions()
    engine = make_engine(url)
    metadata.drop_all(engine)
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A fresh, empty Evaluation Store URL for each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.sqlite"
    if not PG_URL:
        pytest.skip(PG_SKIP)
    return _fresh_pg(PG_URL)


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path}/store.sqlite"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A throwaway project home: copies of the real params and notebooks, a SQLite store inside it,
    QMTL_RESEARCH_HOME and QMTL_STORE_URL pointing there (reports under it)."""
    shutil.copytree(REPO / "params", tmp_path / "params")
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    monkeypatch.setenv("QMTL_RESEARCH_HOME", str(tmp_path))
    monkeypatch.setenv("QMTL_STORE_URL", f"sqlite:///{tmp_path}/store.sqlite")
    monkeypatch.delenv("QMTL_REPORTS_DIR", raising=False)
    return tmp_path


def run_main(capsys, *args) -> tuple[int, str, str]:
    """``qmtl-research ARGS`` in this process through :func:`qmtl_research.cli.main`.

    Returns (exit code as the shell sees it, stdout, stderr); the environment and working folder
    are this process's (set them with ``monkeypatch``)."""
    from qmtl_research.cli import main

    with mock.patch.object(sys, "argv", ["qmtl-research", *map(str, args)]), pytest.raises(SystemExit) as exc:
        main()
    out = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else code), out.out, out.err


def invoke(*args, env: dict | None = None, cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """``qmtl-research ARGS`` in this process, shaped like ``subprocess.run(..., capture_output=True,
    text=True)``: returncode (as the shell sees it), stdout and stderr.

    ``env`` (when given) replaces the environment and ``cwd`` the working folder for the command
    only; both are put back afterwards. The console script itself, signals and exit codes at the
    shell are tested with real subprocesses (tests/test_cli_exit_codes.py, tests/test_killed_runs.py,
    tests/test_event_stream.py); everywhere else the command's own work is the point, and a fresh
    interpreter per call (seconds of imports) is not."""
    import contextlib
    import io

    from qmtl_research.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    argv = ["qmtl-research", *map(str, args)]
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update({k: str(v) for k, v in env.items()})
        if cwd is not None:
            os.chdir(cwd)
        with mock.patch.object(sys, "argv", argv), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    if code is None:
        code = 0
    elif not isinstance(code, int):            # sys.exit("message"): the shell sees 1 and the message
        err.write(f"{code}\n")
        code = 1
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def pytest_collection_modifyitems(config, items):
    """Longest test files first (``tests/file_seconds.json``; refresh it with tests/tools/file_seconds.py).

    ``make test`` hands whole files to the pytest-xdist workers (``--dist loadfile
    --no-loadscope-reorder``) in this order, so a long file never starts last and leaves one core
    idle: longest-processing-time-first. Files not in the table keep their collection order after
    the listed ones; the order within a file is untouched.
    """
    import json

    seconds = json.loads((Path(__file__).parent / "file_seconds.json").read_text())
    position = {}
    for item in items:
        position.setdefault(item.nodeid.split("::")[0], len(position))
    items.sort(key=lambda item: (-seconds.get(item.nodeid.split("::")[0], 0.0),
                                 position[item.nodeid.split("::")[0]]))
