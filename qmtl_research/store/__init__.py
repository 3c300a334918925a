"""The Evaluation Store: runs, results, history, events and reports (SQLAlchemy).

SQLite file ``data/evaluation_store.sqlite`` by default; PostgreSQL (or any
SQLAlchemy URL) when ``QMTL_STORE_URL`` is set. See :class:`EvaluationStore`.
"""
from qmtl_research.store.db import SCHEMA_VERSION, make_engine, resolve_url
from qmtl_research.store.repository import EvaluationStore, RunKey

__all__ = ["EvaluationStore", "RunKey", "SCHEMA_VERSION", "make_engine", "resolve_url"]
