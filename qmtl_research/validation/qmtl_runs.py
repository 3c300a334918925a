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
from qmtl_research.yamlio import line_of, read_utf8

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
    wrapped = isinstance(data, dict) and "runs" in data
    if wrapped:
        data = data["runs"]
    if not isinstance(data, list):
        raise InputError("a QMTL run export must be a JSON list of runs (or {\"runs\": [...]})", where=where,
                         fix="export the EvaluationRuns as a list")
    if not data:
        raise InputError("the QMTL run export holds no runs (an empty list)", where=where,
                         fix="export at least one EvaluationRun, or leave the file out of --runs")
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
    _check_domains(parsed.runs, path, where, wrapped)
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
        raise InputError(f"run export not found: {path}", where="--runs",
                         fix="check the --runs path (a run export JSON file or a folder of them)")
    try:
        data = json.loads(read_utf8(path, "run export", InputError))
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}", where=f"{path}:{exc.lineno}:{exc.colno}",
                         fix="fix the JSON syntax at that line") from None
    return parse_runs(data, path)


def _check_domains(runs: list[_RunRecord], path: str | Path | None, where: str, wrapped: bool) -> None:
    """Refuse finite metric values outside their domain (:data:`metrics.METRIC_DOMAINS`): a
    negative drawdown, a probability above 1 ... are impossible under this project's conventions,
    so the export was written under another convention (or is corrupt). Every such value is
    listed with file:line, run and field."""
    from qmtl_research.validation.metrics import domain_violation

    problems = []
    for i, rec in enumerate(runs):
        for block, values in rec.metrics.model_dump().items():
            if not isinstance(values, dict):
                continue
            for name, value in values.items():
                why = domain_violation(f"{block}.{name}", value)
                if why is None:
                    continue
                loc = (("runs",) if wrapped else ()) + (i, "metrics", block, name)
                ln = line_of(path, loc) if path else None
                problems.append(f"{where}{':' + str(ln) if ln else ''} run {rec.run_id} (runs[{i}]) "
                                f"field 'metrics.{block}.{name}': {why}")
    if problems:
        raise InputError(f"QMTL run export {where} holds {len(problems)} impossible metric value(s)",
                         where="\n         ".join(problems),
                         fix="export drawdowns, VaR and ES as positive loss fractions (0.2 = a 20 % loss), "
                             "probabilities and shares as fractions in [0, 1]; see SHARPE_CONVENTION in "
                             "qmtl_research.validation.metrics")


def run_files(path: str | Path) -> list[Path]:
    """A run export file, or every ``*.json`` in a folder (sorted): each is one batch."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise InputError(f"no *.json run exports in {path}", fix="point at a file or a folder of exports")
        return files
    return [path]
