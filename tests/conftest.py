"""Shared fixtures: store URLs (SQLite always, PostgreSQL when QMTL_TEST_PG_URL is set)."""
from __future__ import annotations

import os

import pytest

PG_URL = os.environ.get("QMTL_TEST_PG_URL")
PG_SKIP = ("PostgreSQL store tests need a server: run `bash .ci/postgres.sh` (installs and starts one on "
           "loopback) and export QMTL_TEST_PG_URL=<the URL it prints>")


def _fresh_pg(url: str) -> str:
    from qmtl_research.store.db import _import_extensions, make_engine
    from qmtl_research.store.tables import metadata

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
