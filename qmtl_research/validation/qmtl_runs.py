"""QMTL evaluation-run exports (JSON) in and out.

A file holds a list of EvaluationRun-like records (or ``{"runs": [...]}``):
``{world_id, strategy_id, run_id, [stage], metrics{returns, sample, risk,
robustness, [diagnostics, pnl, stress, benchmark, ...]}}``. The four core
blocks are required; metric values must be numbers or null. Problems are
reported with the file, line, run index/id and field.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qmtl_research.errors import InputError
from qmtl_research.yamlio import line_of

REQUIRED_BLOCKS = ("returns", "sample", "risk", "robustness")
Number = float | None


class _Blocks(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    returns: dict[str, Number]
    sample: dict[str, Number]
    risk: dict[str, Number | dict[str, Number]]
    robustness: dict[str, Number]
    diagnostics: dict[str, Any] = Field(default_factory=dict)


class _RunRecord(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    world_id: str | None = None
    strategy_id: str
    run_id: str
    stage: str | None = None
    metrics: _Blocks


class _RunFile(BaseModel):
    model_config = ConfigDict(strict=True)
    runs: list[_RunRecord]


@dataclass
class RunRecord:
    """One run to judge: identity, stage and metric blocks (+ optional return series for
    batch correlation)."""

    strategy_id: str
    run_id: str
    metrics: dict[str, Any]
    world_id: str | None = None
    stage: str | None = None
    returns: pd.Series | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_runs(data: Any, path: str | Path | None = None) -> list[RunRecord]:
    """Validate exported runs (a list or ``{"runs": [...]}``)."""
    where = str(path) if path else "<runs>"
    if isinstance(data, dict) and "runs" in data:
        data = data["runs"]
    if not isinstance(data, list):
        raise InputError("a QMTL run export must be a JSON list of runs (or {\"runs\": [...]})", where=where,
                         fix="export the EvaluationRuns as a list")
    for i, rec in enumerate(data):
        if isinstance(rec, dict) and isinstance(rec.get("metrics"), dict):
            lacking = [b for b in REQUIRED_BLOCKS if b not in rec["metrics"]]
            if lacking:
                raise InputError(f"run {rec.get('run_id', '?')} lacks metric block(s) {', '.join(lacking)}",
                                 where=f"{where} runs[{i}].metrics",
                                 fix=f"every run needs the blocks {', '.join(REQUIRED_BLOCKS)} (values may be null)")
    try:
        parsed = _RunFile.model_validate({"runs": data})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])[1:]
            ln = line_of(path, loc) if path else None
            run = data[loc[0]].get("run_id", "?") if loc and isinstance(data[loc[0]], dict) else "?"
            dotted = ".".join(map(str, loc[1:]))
            problems.append(f"{where}{':' + str(ln) if ln else ''} run {run} (runs[{loc[0] if loc else '?'}]) "
                            f"field '{dotted}': {err['msg']}")
        raise InputError(f"QMTL run export {where} is not valid ({len(problems)} problem(s))",
                         where="\n         ".join(problems),
                         fix="metric values must be numbers or null; identity fields strings") from None
    seen: set[tuple] = set()
    out = []
    for i, rec in enumerate(parsed.runs):
        key = (rec.world_id, rec.strategy_id, rec.run_id)
        if key in seen:
            raise InputError(f"duplicate run {rec.strategy_id}/{rec.run_id}", where=f"{where} runs[{i}]",
                             fix="run ids must be unique within a world and strategy")
        seen.add(key)
        metrics = rec.metrics.model_dump()
        extra = {k: v for k, v in rec.model_dump().items() if k not in {"world_id", "strategy_id", "run_id",
                                                                          "stage", "metrics"}}
        out.append(RunRecord(rec.strategy_id, rec.run_id, metrics, rec.world_id, rec.stage, None, extra))
    return out


def load_runs(path: str | Path) -> list[RunRecord]:
    """Read a QMTL run export file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"run export not found: {path}", fix="check the --runs path")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}", where=f"{path}:{exc.lineno}:{exc.colno}",
                         fix="fix the JSON syntax at that line") from None
    return parse_runs(data, path)


def run_files(path: str | Path) -> list[Path]:
    """A run export file, or every ``*.json`` in a folder (sorted): each is one batch."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise InputError(f"no *.json run exports in {path}", fix="point at a file or a folder of exports")
        return files
    return [path]
