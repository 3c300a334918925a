"""JSON encoding of result payloads (DataFrames, Series, numpy scalars)."""
from __future__ import annotations

import datetime as dt
import json
import math
from io import StringIO
from typing import Any

import numpy as np
import pandas as pd


def to_jsonable(obj: Any) -> Any:
    """Plain-JSON form of ``obj``: numpy scalars -> Python, NaN/inf -> None,
    timestamps -> ISO strings, tuples -> lists; DataFrames/Series are not
    accepted here (use :func:`encode`)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (pd.Timestamp, dt.datetime, dt.date)):
        return obj.isoformat()
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        raise TypeError("encode DataFrames with qmtl_research.store.codec.encode")
    return obj


def encode(value: Any) -> tuple[str, Any]:
    """(kind, payload) for storage: ``frame`` for DataFrame/Series, else ``value``."""
    if isinstance(value, pd.Series):
        value = value.to_frame(name=value.name if value.name is not None else "value")
    if isinstance(value, pd.DataFrame):
        frame = value.copy()
        if isinstance(frame.columns, pd.MultiIndex):
            frame.columns = [" / ".join(map(str, c)) for c in frame.columns]
        frame.columns = [str(c) for c in frame.columns]
        return "frame", json.loads(frame.to_json(orient="table", date_format="iso", double_precision=15))
    return "value", to_jsonable(value)


def decode(kind: str, payload: Any) -> Any:
    if kind == "frame":
        frame = pd.read_json(StringIO(json.dumps(payload)), orient="table", precise_float=True)
        return frame
    return payload
