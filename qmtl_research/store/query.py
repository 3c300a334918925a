"""The one filtered-select helper of the store: optional filters -> a WHERE clause.

Every listing of the store (runs, events, reports, approvals, findings, the state view, stored
snapshot returns) takes optional filters such as ``world_id=None``; a filter that is not given
(``None`` or an empty string) leaves its column unconstrained, every given one is ANDed in::

    filtered_select(events, order_by="id", event_type="override", world_id=None,
                    at_least={"created_at": since})
    # SELECT events.* FROM events WHERE events.event_type = :p AND events.created_at >= :q ORDER BY events.id

:func:`select_rows` runs such a query and returns the rows as dicts.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from sqlalchemy import Column, Select, Table, select

from qmtl_research.errors import InputError


def _given(value: Any) -> bool:
    return not (value is None or (isinstance(value, str) and value == ""))


def _column(table: Table, name: str) -> Column:
    if name not in table.c:
        raise InputError(f"table {table.name!r} has no column {name!r}", where=f"filter on {table.name}",
                         fix=f"filter on one of: {', '.join(table.c.keys())}")
    return table.c[name]


def filtered_select(table: Table, *, columns: Sequence[str] = (), order_by: str | Sequence[str] = (),
                    at_least: Mapping[str, Any] | None = None, below: Mapping[str, Any] | None = None,
                    **equal: Any) -> Select:
    """``SELECT`` from ``table`` constrained by the filters that are given.

    Parameters
    ----------
    table : sqlalchemy.Table
        The table to read.
    columns : sequence of str, optional
        The columns to select, in order; all columns of ``table`` when empty.
    order_by : str or sequence of str, optional
        Column(s) of the ORDER BY clause, ascending, in order.
    at_least : mapping of str to value, optional
        ``column >= value`` for each entry whose value is given.
    below : mapping of str to value, optional
        ``column < value`` for each entry whose value is given.
    **equal
        ``column = value`` for each keyword whose value is given.

    Returns
    -------
    sqlalchemy.Select
        The query; a filter whose value is ``None`` or ``""`` is left out.

    Raises
    ------
    InputError
        When a filter, column or ordering names a column ``table`` does not have.
    """
    q = select(*[_column(table, c) for c in columns]) if columns else select(table)
    for name, value in equal.items():
        if _given(value):
            q = q.where(_column(table, name) == value)
    for name, value in (at_least or {}).items():
        if _given(value):
            q = q.where(_column(table, name) >= value)
    for name, value in (below or {}).items():
        if _given(value):
            q = q.where(_column(table, name) < value)
    order = [order_by] if isinstance(order_by, str) else list(order_by)
    return q.order_by(*[_column(table, c) for c in order]) if order else q


def select_rows(engine, table: Table, *, columns: Sequence[str] = (), order_by: str | Sequence[str] = (),
                at_least: Mapping[str, Any] | None = None, below: Mapping[str, Any] | None = None,
                **equal: Any) -> list[dict[str, Any]]:
    """Run :func:`filtered_select` on ``engine`` and return the rows as dicts (column -> value).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store's engine.
    table, columns, order_by, at_least, below, **equal
        As for :func:`filtered_select`.

    Returns
    -------
    list of dict
        One dict per row, in the query's order.
    """
    q = filtered_select(table, columns=columns, order_by=order_by, at_least=at_least, below=below, **equal)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]
