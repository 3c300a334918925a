"""The findings log, as validators keep it (MathWorks Modelscape, ServiceNow MRM issues).

A finding is raised on one evaluated run (optionally naming the Validation Report version it
was read in) with a title, a severity (``high | medium | low``), an owner who remediates, a due
date, the remediation asked for, a status (``open | in_progress | closed``) and an evidence link
(an ``http(s)`` URL without credentials, or a path relative to the project). Every change is a
new revision (the store's ``findings`` table is insert-only, :mod:`qmtl_research.store.finding_tables`),
with who made it and why, and a ``finding_recorded`` event.

Rules (each violation raises :class:`~qmtl_research.errors.InputError` or
:class:`FindingRefused`, exit code 2 on the command line; nothing is written):

* ``add``: the run must exist and be evaluated; a ``report_version`` must be registered for
  that run; the due date may not lie before the day the finding is raised;
* ``update``: at least one field changes; a closed finding is final (raise a new one);
  ``status`` may move between ``open`` and ``in_progress`` (closing is ``close``);
* ``close``: needs a closing note and evidence (given now or recorded before);
* an **open** (``open`` or ``in_progress``) finding of severity ``high`` on a strategy in a
  world blocks ``approve`` / ``conditional`` decisions on that strategy in that world
  (:func:`blocking_findings`; ``qmtl-research approve`` names them).

Use::

    from qmtl_research.governance.findings import add_finding, close_finding, findings_frame
    f = add_finding(store, key, title="Grade 1 under-predicted", severity="high", owner="Quant lead",
                    due="2027-03-31", remediation="recalibrate the SVC", actor="Kim")
    close_finding(store, f.finding_id, actor="Kim", note="recalibrated in run ...", evidence="reports/...")
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from qmtl_research.errors import InputError, StoreError
from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.store.finding_tables import (SEVERITIES, STATE_COLUMNS, STATUSES, append_finding,
                                                finding_revisions)
from qmtl_research.store.repository import utcnow

OPEN_STATUSES = ("open", "in_progress")
BLOCKING_SEVERITY = "high"
LIST_COLUMNS = ["finding_id", "revision", "world_id", "strategy_id", "run_id", "report_version", "title", "severity",
                "owner", "due_date", "remediation", "status", "evidence", "overdue", "raised_at", "updated_at",
                "actor", "note"]


class FindingRefused(StoreError):
    """The findings rules do not allow this change; nothing was written."""


def check_evidence(link: str | None, where: str = "--evidence") -> str | None:
    """An evidence link: an ``http(s)`` URL without user name or password, or a path inside the
    project (relative, no ``..``). The link is stored, never opened."""
    if link is None or not link.strip():
        return None
    link = link.strip()
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", link):
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InputError(f"evidence link '{link}' is not an http(s) URL", where=where,
                             fix="give an https:// link or a path relative to the project (e.g. reports/...)")
        if parts.username or parts.password:
            raise InputError("the evidence link carries a user name or password; secrets never reach the store "
                             "or a report", where=where, fix="give the link without credentials")
        return link
    if link.startswith(("/", "~", "\\")) or re.match(r"^[A-Za-z]:", link) or ".." in re.split(r"[\\/]", link):
        raise InputError(f"evidence path '{link}' points outside the project", where=where,
                         fix="give a path relative to the project root (e.g. reports/demo/fund-rating/v0001/"
                             "validation_report.pdf) or an https:// link")
    return link


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = None
    severity: Literal["high", "medium", "low"] | None = None
    owner: str | None = None
    due_date: dt.date | None = None
    remediation: str | None = None
    status: Literal["open", "in_progress", "closed"] | None = None
    evidence: str | None = None

    @field_validator("title", "owner", "remediation", "evidence", mode="before")
    @classmethod
    def _strip(cls, v):
        return v.strip() if isinstance(v, str) and v.strip() else None


def _fields(**given) -> _Fields:
    try:
        return _Fields(**given)
    except ValidationError as exc:
        msgs = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        options = ", ".join(dict.fromkeys(f"--{str(e['loc'][0]).replace('_date', '').replace('_', '-')}"
                                          for e in exc.errors()))
        raise InputError(f"invalid finding: {msgs}", where=options,
                         fix=f"severity is one of {', '.join(SEVERITIES)}; status one of {', '.join(STATUSES)}; "
                             "dates YYYY-MM-DD") from None


def _text(value: str | None, option: str, what: str) -> str:
    if value is None or not str(value).strip():
        raise InputError(f"a finding needs {what}", where=option, fix=f"give {option} (non-empty)")
    return str(value).strip()


@dataclass
class RecordedFinding:
    """One stored revision; ``recorded`` is False when the same change was recorded before."""

    record: dict[str, Any]
    recorded: bool

    @property
    def finding_id(self) -> str:
        return self.record["finding_id"]

    @property
    def revision(self) -> int:
        return int(self.record["revision"])


def _key(*parts: Any) -> str:
    return "finding:" + hashlib.sha256(json.dumps(parts, default=str, sort_keys=True).encode()).hexdigest()[:40]


def add_finding(store: EvaluationStore, key: RunKey, *, title: str | None, severity: str | None, owner: str | None,
                due: dt.date | str | None, remediation: str | None, actor: str | None, evidence: str | None = None,
                report_version: str | None = None, note: str | None = None,
                now: dt.datetime | None = None) -> RecordedFinding:
    """Raise a finding on run ``key`` (status ``open``, revision 1); see the module rules."""
    now = now or utcnow()
    f = _fields(title=title, severity=severity, owner=owner, due_date=due, remediation=remediation,
                evidence=evidence)
    title_ = _text(f.title, "--title", "a title")
    if f.severity is None:
        raise InputError("a finding needs a severity", where="--severity", fix=f"give one of {', '.join(SEVERITIES)}")
    owner_ = _text(f.owner, "--owner", "an owner (who remediates)")
    remediation_ = _text(f.remediation, "--remediation", "the remediation asked for")
    actor_ = _text(actor, "--actor", "the actor who records it")
    if f.due_date is None:
        raise InputError("a finding needs a due date", where="--due", fix="give --due YYYY-MM-DD")
    if f.due_date < now.date():
        raise InputError(f"the due date {f.due_date} lies before today ({now.date()})", where="--due",
                         fix="give the date by which the remediation is due (today or later)")
    link = check_evidence(f.evidence)
    run = store.get_run(key)
    if run["status"] != "evaluated":
        raise FindingRefused(f"run {key} is '{run['status']}'; findings are raised on evaluated runs",
                             where=str(key), fix="let the validation step evaluate the run first")
    rv = report_version.strip() if report_version and report_version.strip() else None
    if rv is not None:
        versions = [r["version"] for r in store.list_reports(key.strategy_id, key.world_id) if r["run_id"] == key.run_id]
        if rv not in versions:
            raise FindingRefused(f"report version '{rv}' is not registered for run {key}", where="--report-version",
                                 fix=f"use one of: {', '.join(versions)}" if versions else
                                 "leave --report-version out (no report is registered for this run)")
    row = dict(world_id=key.world_id, strategy_id=key.strategy_id, run_id=key.run_id, report_version=rv,
               title=title_, severity=f.severity, owner=owner_, due_date=f.due_date, remediation=remediation_,
               status="open", evidence=link, actor=actor_, note=(note or "").strip() or "raised", created_at=now)
    content = {k: v for k, v in row.items() if k != "created_at"}
    for before in finding_revisions(store, key.world_id, key.strategy_id):   # the same finding submitted twice
        if before["revision"] == 1 and {k: before.get(k) for k in content} == content:
            return RecordedFinding(before, False)
    row["idempotency_key"] = _key("add", content, now.isoformat())
    stored, fresh = append_finding(store, row, finding_id=None, revision=1)
    return RecordedFinding(stored, fresh)


def current(store: EvaluationStore, finding_id: str) -> dict[str, Any]:
    """The latest revision of ``finding_id`` (StoreError naming the known ids when there is none)."""
    revs = finding_revisions(store, finding_id=finding_id)
    if not revs:
        known = sorted({r["finding_id"] for r in finding_revisions(store)})
        raise FindingRefused(f"no finding '{finding_id}'", where=store.url,
                             fix=f"known findings: {', '.join(known)}" if known else "no finding is recorded yet "
                                 "(`qmtl-research findings add`)")
    return revs[-1]


def _revise(store: EvaluationStore, finding_id: str, changes: dict[str, Any], actor: str | None, note: str | None,
            verb: str, now: dt.datetime) -> RecordedFinding:
    last = current(store, finding_id)
    actor_ = _text(actor, "--actor", "the actor who records the change")
    note_ = _text(note, "--note", f"a note (why it is {verb})")
    if last["status"] == "closed":
        raise FindingRefused(f"finding {finding_id} is closed (revision {last['revision']}, {last['created_at']:%Y-%m-%d});"
                             " a closed finding is final", where=finding_id,
                             fix="raise a new finding (`qmtl-research findings add`) that refers to it")
    state = {c: last[c] for c in STATE_COLUMNS}
    new = {**state, **{k: v for k, v in changes.items() if v is not None}}
    if new == state:
        raise InputError(f"nothing changes in finding {finding_id}", where="--status/--owner/--due/--remediation/"
                         "--evidence/--severity/--title", fix="give the field(s) that change")
    row = dict(world_id=last["world_id"], strategy_id=last["strategy_id"], run_id=last["run_id"],
               report_version=last["report_version"], **new, actor=actor_, note=note_, created_at=now)
    row["idempotency_key"] = _key(finding_id, last["revision"] + 1, {k: v for k, v in row.items() if k != "created_at"})
    stored, fresh = append_finding(store, row, finding_id=finding_id, revision=last["revision"] + 1)
    return RecordedFinding(stored, fresh)


def update_finding(store: EvaluationStore, finding_id: str, *, actor: str | None, note: str | None,
                   title: str | None = None, severity: str | None = None, owner: str | None = None,
                   due: dt.date | str | None = None, remediation: str | None = None, status: str | None = None,
                   evidence: str | None = None, now: dt.datetime | None = None) -> RecordedFinding:
    """A new revision of ``finding_id`` with the given fields changed (the others carried over)."""
    f = _fields(title=title, severity=severity, owner=owner, due_date=due, remediation=remediation, status=status,
                evidence=evidence)
    if f.status == "closed":
        raise InputError("a finding is closed with `findings close` (it needs evidence and a closing note)",
                         where="--status", fix=f"qmtl-research findings close {finding_id} --actor ... --note ... "
                                               "--evidence ...")
    changes = {**f.model_dump(), "evidence": check_evidence(f.evidence)}
    return _revise(store, finding_id, changes, actor, note, "updated", now or utcnow())


def close_finding(store: EvaluationStore, finding_id: str, *, actor: str | None, note: str | None,
                  evidence: str | None = None, now: dt.datetime | None = None) -> RecordedFinding:
    """Close ``finding_id`` (final): needs a closing note and evidence (given now or before)."""
    link = check_evidence(evidence)
    last = current(store, finding_id)
    if link is None and not last.get("evidence") and last["status"] != "closed":
        raise InputError(f"closing finding {finding_id} needs evidence of the remediation", where="--evidence",
                         fix="give --evidence (an https:// link or a path relative to the project)")
    return _revise(store, finding_id, {"status": "closed", "evidence": link}, actor, note, "closed", now or utcnow())


def findings_frame(store: EvaluationStore, world_id: str | None = None, strategy_id: str | None = None, *,
                   run_id: str | None = None, status: str | None = None, history: bool = False,
                   now: dt.datetime | None = None) -> pd.DataFrame:
    """The findings (latest revision each; every revision with ``history``), :data:`LIST_COLUMNS`.

    ``status``: ``open`` (open or in progress), ``closed``, or None (all). ``overdue``: not
    closed and the due date has passed at ``now``."""
    today = (now or utcnow()).date()
    revs = finding_revisions(store, world_id, strategy_id)
    raised = {r["finding_id"]: r["created_at"] for r in revs if r["revision"] == 1}
    if not history:
        latest: dict[str, dict] = {}
        for r in revs:
            latest[r["finding_id"]] = r
        revs = list(latest.values())
    rows = []
    for r in revs:
        if run_id and r["run_id"] != run_id:
            continue
        if status == "open" and r["status"] not in OPEN_STATUSES or status == "closed" and r["status"] != "closed":
            continue
        rows.append({**{c: r.get(c) for c in LIST_COLUMNS if c in r}, "raised_at": raised.get(r["finding_id"]),
                     "updated_at": r["created_at"],
                     "overdue": bool(r["status"] != "closed" and r["due_date"] is not None and today > r["due_date"])})
    return pd.DataFrame(rows, columns=LIST_COLUMNS)


def blocking_findings(store: EvaluationStore, world_id: str, strategy_id: str) -> pd.DataFrame:
    """Open (or in progress) findings of severity high on ``strategy_id`` in ``world_id``: each
    blocks an approve / conditional decision."""
    f = findings_frame(store, world_id, strategy_id, status="open")
    return f[f["severity"] == BLOCKING_SEVERITY].reset_index(drop=True)
