"""What changed between two runs of a strategy, in three kinds: **inputs** (strategy,
parameters, policy, model card, data, input files), **code** (commit, dirty flag, packages) and
**results** (verdict, rules, metrics).

One home for the diff: section 7 "Changes since the previous version" of the report and
``qmtl-research report diff`` both call :func:`diff_runs`. A run is read as a
:class:`Snapshot` (its stored row, its recorded results and, when there is one, its report's
manifest, which supplies the provenance of runs made before runs recorded their own).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

KINDS = ("inputs", "code", "results")
COLUMNS = ["kind", "item", "previous", "current", "change"]


@dataclass
class Snapshot:
    """What a diff reads of one run: its stored row, its results and its report's manifest."""

    run: dict
    results: dict = field(default_factory=dict)
    manifest: dict | None = None
    version: str | None = None


def _scalars(prefix: str, obj: Any, out: dict) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _scalars(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(obj, (int, float, str, bool)) or obj is None:
        out[prefix] = obj


def flatten(rep) -> dict[str, Any]:
    """Comparable results of a run: verdict, stage, summaries, metric blocks and rule statuses
    (its inputs, hashes included, are :func:`input_items`)."""
    out: dict[str, Any] = {}
    s = (rep.run or {}).get("summary") or {}
    for k in ("status", "recommended_stage", "profile"):
        out[f"verdict.{k}"] = s.get(k)
    _scalars("metrics", (rep.run or {}).get("metrics") or {}, out)
    for (section, name), value in rep.results.items():
        # every recorded mapping of results (a stage's config is an input, not a result)
        if isinstance(value, dict) and name != "config":
            _scalars(section if name == "summary" else f"{section}.{name}", value, out)
    rules = rep.results.get(("validation", "rules"))
    if isinstance(rules, pd.DataFrame) and {"rule", "status"} <= set(rules.columns):
        for _, r in rules.iterrows():
            out[f"rule.{r['rule']}"] = r["status"]
    return out


def provenance_of(snap) -> dict:
    """The run's recorded provenance, else the one its report manifest holds, else {}."""
    prov = ((snap.run or {}).get("params") or {}).get("provenance")
    if prov:
        return prov
    m = getattr(snap, "manifest", None) or {}
    if not m:
        return {}
    return {"commit": (m.get("git") or {}).get("commit"), "dirty": (m.get("git") or {}).get("dirty"),
            "inputs": (m.get("inputs") or {}).get("files") or [], "packages": m.get("packages") or {},
            "model_card_sha256": m.get("model_card_sha256")}


def _plain(prefix: str, obj: Any, out: dict) -> None:
    """Scalars of a nested structure, lists of scalars kept whole (as JSON), list items by index."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _plain(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(obj, list) and any(isinstance(x, (dict, list)) for x in obj):
        for i, v in enumerate(obj):
            _plain(f"{prefix}[{i}]", v, out)
    elif isinstance(obj, list):
        out[prefix] = json.dumps(obj)
    else:
        out[prefix] = obj


def input_items(snap) -> dict[str, Any]:
    """The inputs of a run, flattened: strategy configuration, each step's parameters, world,
    policy, model card, data fingerprint and each input file's sha256."""
    run = snap.run or {}
    params = run.get("params") or {}
    out: dict[str, Any] = {}
    strategy = dict(params.get("strategy") or {})
    steps = strategy.pop("notebooks", None) or []
    _plain("strategy", strategy, out)
    for i, step in enumerate(steps):
        name = step.get("notebook", str(i)) if isinstance(step, dict) else str(i)
        _plain(f"parameters.{name}", step.get("parameters") or {} if isinstance(step, dict) else step, out)
    for step, stage in zip(steps, params.get("stages") or []):
        name = step.get("notebook") if isinstance(step, dict) else None
        # a stage's settings as validated (defaults filled); unset (null) settings are not inputs
        for k, v in (stage or {}).items():
            if v is not None and f"parameters.{name}.{k}" not in out:
                out[f"parameters.{name}.{k}"] = json.dumps(v) if isinstance(v, list) else v
    out["world"] = run.get("world_id")
    out["policy.version"] = run.get("policy_version")
    out["policy.ruleset_hash"] = run.get("ruleset_hash")
    prov = provenance_of(snap)
    out["model_card.version"] = run.get("model_card_version")
    out["model_card.sha256"] = prov.get("model_card_sha256")
    out["data.fingerprint"] = run.get("data_fingerprint")
    for f in prov.get("inputs") or []:
        out[f"file {f['path']}"] = f"sha256 {f['sha256']} ({f.get('git')})"
    return out


def code_items(snap) -> dict[str, Any]:
    """The code of a run: commit, dirty flag and package versions."""
    prov = provenance_of(snap)
    out: dict[str, Any] = {"commit": prov.get("commit"), "dirty": prov.get("dirty")}
    out.update({f"package {k}": v for k, v in (prov.get("packages") or {}).items()})
    return out


def _rows(kind: str, a: dict, b: dict, rel_tol: float) -> list[dict]:
    rows = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if (isinstance(x, (int, float)) and isinstance(y, (int, float))
                and not isinstance(x, bool) and not isinstance(y, bool)):
            if math.isclose(x, y, rel_tol=rel_tol, abs_tol=1e-12):
                continue
            rows.append({"kind": kind, "item": key, "previous": x, "current": y, "change": y - x})
        elif x != y:
            rows.append({"kind": kind, "item": key, "previous": x, "current": y, "change": None})
    return rows


def diff_runs(previous, current, rel_tol: float = 1e-9) -> pd.DataFrame:
    """Every difference between two runs, inputs first, then code, then results.

    Parameters
    ----------
    previous, current : Snapshot or ReportData
        Anything with ``run`` (the stored row) and ``results``; a ``manifest`` is used for the
        provenance of runs that recorded none.
    rel_tol : float
        Relative tolerance under which two numbers count as equal.

    Returns
    -------
    pandas.DataFrame
        Columns kind (inputs | code | results), item, previous, current, change (numbers only).
    """
    rows = (_rows("inputs", input_items(previous), input_items(current), rel_tol)
            + _rows("code", code_items(previous), code_items(current), rel_tol)
            + _rows("results", flatten(previous), flatten(current), rel_tol))
    return pd.DataFrame(rows, columns=COLUMNS)


def diff_json(previous, current, frame: pd.DataFrame) -> dict:
    """The diff as JSON: the two runs named, and the changes grouped by kind."""
    def ident(s):
        run = s.run or {}
        return {"run_id": run.get("run_id"), "version": getattr(s, "version", None),
                "commit": provenance_of(s).get("commit")}

    return {"previous": ident(previous), "current": ident(current),
            **{k: frame[frame["kind"] == k].drop(columns="kind").to_dict(orient="records") for k in KINDS}}


def load_version(store, strategy_id: str, world_id: str, version: str) -> Snapshot:
    """The run behind report ``version`` of a strategy in a world, as a :class:`Snapshot`.

    Raises
    ------
    InputError
        No such report version in the store (the known versions are named).
    """
    from qmtl_research.errors import InputError
    from qmtl_research.store import RunKey

    reports = store.list_reports(strategy_id, world_id)
    found = [r for r in reports if r["version"] == version]
    if not found:
        known = ", ".join(r["version"] for r in reports) or "none"
        raise InputError(f"no report {version} of strategy '{strategy_id}' in world '{world_id}'",
                         where="qmtl-research report diff", fix=f"known versions: {known}")
    rec = found[-1]
    key = RunKey(world_id, strategy_id, rec["run_id"])
    return Snapshot(store.get_run(key), store.get_results(key), rec["manifest"], version)


def diff_text(previous: Snapshot, current: Snapshot, frame: pd.DataFrame) -> str:
    """The diff for a terminal: one block per kind, one line per change."""
    def name(s):
        return f"{s.version} (run {s.run['run_id']}, commit {(provenance_of(s).get('commit') or 'unknown')[:12]})"

    lines = [f"{name(previous)} -> {name(current)}"]
    for kind in KINDS:
        part = frame[frame["kind"] == kind]
        lines.append(f"{kind}: " + (f"{len(part)} change(s)" if len(part) else "no change"))
        for r in part.itertuples():
            delta = f" ({r.change:+.6g})" if isinstance(r.change, (int, float)) and not pd.isna(r.change) else ""
            lines.append(f"  {r.item}: {r.previous} -> {r.current}{delta}")
    return "\n".join(lines)
