"""The store's one filtered-select helper against hand-written SQL, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, text

from qmtl_research.errors import InputError
from qmtl_research.store.db import make_engine
from qmtl_research.store.query import filtered_select, select_rows

META = MetaData()
PROBE = Table("filter_probe", META, Column("id", Integer, primary_key=True), Column("world_id", String(20)),
              Column("strategy_id", String(20)), Column("status", String(20)), Column("at", DateTime))

T0 = dt.datetime(2024, 1, 1)
ROWS = [dict(id=i, world_id=w, strategy_id=s, status=st, at=T0 + dt.timedelta(days=d))
        for i, (w, s, st, d) in enumerate([("w1", "a", "evaluated", 5), ("w1", "b", "created", 1),
                                           ("w2", "a", "evaluated", 3), ("w1", "a", "created", 9),
                                           ("w2", "b", "evaluated", 0), ("w1", "b", "evaluated", 7)], start=1)]


@pytest.fixture
def engine(store_url):
    eng = make_engine(store_url)
    META.drop_all(eng)
    META.create_all(eng)
    with eng.begin() as conn:
        conn.execute(PROBE.insert(), ROWS)
    yield eng
    META.drop_all(eng)
    eng.dispose()


def _sql(engine, sql: str, **params) -> list[int]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text(sql), params)]


def _ids(rows) -> list[int]:
    return [r["id"] for r in rows]


CASES = [
    # (helper keywords, hand-written SQL, its parameters)
    (dict(order_by="id"), "SELECT id FROM filter_probe ORDER BY id", {}),
    (dict(order_by="id", world_id="w1"), "SELECT id FROM filter_probe WHERE world_id = :w ORDER BY id", {"w": "w1"}),
    (dict(order_by="id", world_id="w1", strategy_id="a", status=None),
     "SELECT id FROM filter_probe WHERE world_id = :w AND strategy_id = :s ORDER BY id", {"w": "w1", "s": "a"}),
    (dict(order_by=("world_id", "strategy_id", "id"), world_id="", status="evaluated"),
     "SELECT id FROM filter_probe WHERE status = :st ORDER BY world_id, strategy_id, id", {"st": "evaluated"}),
    (dict(order_by="at", at_least={"at": T0 + dt.timedelta(days=3)}, world_id="w1"),
     "SELECT id FROM filter_probe WHERE world_id = :w AND at >= :t ORDER BY at", {"w": "w1", "t": T0 + dt.timedelta(days=3)}),
    (dict(order_by="at", below={"at": T0 + dt.timedelta(days=5)}, at_least={"at": None}),
     "SELECT id FROM filter_probe WHERE at < :t ORDER BY at", {"t": T0 + dt.timedelta(days=5)}),
    (dict(order_by="id", world_id="nowhere"), "SELECT id FROM filter_probe WHERE world_id = :w ORDER BY id",
     {"w": "nowhere"}),
]


@pytest.mark.parametrize("kwargs, sql, params", CASES)
def test_the_helper_returns_what_the_hand_written_sql_returns(engine, kwargs, sql, params):
    expected = _sql(engine, sql, **params)
    assert _ids(select_rows(engine, PROBE, **kwargs)) == expected
    with engine.connect() as conn:          # the query object itself, run by the caller
        assert [r.id for r in conn.execute(filtered_select(PROBE, **kwargs))] == expected


def test_the_hand_written_cases_hold_what_python_filters_give(engine):
    """The SQL references themselves, checked against the inserted rows."""
    assert _sql(engine, CASES[2][1], **CASES[2][2]) == [r["id"] for r in ROWS
                                                         if r["world_id"] == "w1" and r["strategy_id"] == "a"]
    assert _sql(engine, CASES[4][1], **CASES[4][2]) == [1, 6, 4]        # w1 at day >= 3: days 5, 7, 9
    assert _sql(engine, CASES[5][1], **CASES[5][2]) == [5, 2, 3]        # day < 5: days 0, 1, 3
    assert _sql(engine, CASES[6][1], **CASES[6][2]) == []


def test_columns_select_only_those_columns(engine):
    rows = select_rows(engine, PROBE, columns=("id", "status"), order_by="id", strategy_id="b")
    assert rows == [{"id": 2, "status": "created"}, {"id": 5, "status": "evaluated"}, {"id": 6, "status": "evaluated"}]


@pytest.mark.parametrize("kwargs", [dict(worldid="w1"), dict(order_by="when"), dict(columns=("id", "nope")),
                                    dict(at_least={"time": T0})])
def test_an_unknown_column_is_refused_with_the_columns_there_are(kwargs):
    with pytest.raises(InputError) as e:
        filtered_select(PROBE, **kwargs)
    assert "filter_probe" in str(e.value) and "world_id" in str(e.value)
