"""'Changes since the previous version': verdict and metric deltas between two runs."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd


def _scalars(prefix: str, obj: Any, out: dict) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _scalars(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(obj, (int, float, str, bool)) or obj is None:
        out[prefix] = obj


def flatten(rep) -> dict[str, Any]:
    """Comparable scalars of a report: verdict, stage, hashes, summaries and metric blocks."""
    out: dict[str, Any] = {}
    s = (rep.run or {}).get("summary") or {}
    for k in ("status", "recommended_stage", "profile"):
        out[f"verdict.{k}"] = s.get(k)
    for k in ("policy_version", "ruleset_hash", "model_card_version", "data_fingerprint"):
        out[f"run.{k}"] = (rep.run or {}).get(k)
    _scalars("metrics", (rep.run or {}).get("metrics") or {}, out)
    for (section, name), value in rep.results.items():
        if name == "summary" and isinstance(value, dict):
            _scalars(f"{section}", value, out)
        if name == "backtest" and isinstance(value, dict):
            _scalars(f"{section}.backtest", value, out)
    rules = rep.results.get(("validation", "rules"))
    if isinstance(rules, pd.DataFrame) and {"rule", "status"} <= set(rules.columns):
        for _, r in rules.iterrows():
            out[f"rule.{r['rule']}"] = r["status"]
    return out


def compare(previous, current, rel_tol: float = 1e-9) -> pd.DataFrame:
    """Rows for every scalar whose value differs (numbers beyond ``rel_tol``)."""
    a, b = flatten(previous), flatten(current)
    rows = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
            if math.isclose(x, y, rel_tol=rel_tol, abs_tol=1e-12):
                continue
            rows.append({"item": key, "previous": x, "current": y, "change": y - x})
        elif x != y:
            rows.append({"item": key, "previous": x, "current": y, "change": None})
    return pd.DataFrame(rows, columns=["item", "previous", "current", "change"])
