"""Approval decisions on evaluated runs, and the lifecycle stage they derive.

A decision (``approve | reject | conditional``) is signed by an actor in a RACI role about
one evaluated run, and moves the strategy's lifecycle stage **in that run's world** along
one transition of ``params/governance/lifecycle.yaml``. It is appended to the store's
``approvals`` table (never updated or deleted) with an ``approval_recorded`` event.

The lifecycle stage of a (world, strategy) is **derived**: the ``stage_after`` of its latest
decision; before any decision, the model card's ``lifecycle_stage`` (or the lifecycle's
``start_without_model_card`` when the strategy has no model card). Nothing else moves it.

Rules for recording a decision (each refusal raises :class:`DecisionRefused`, exit code 2 on
the command line, and writes nothing):

1. input: actor, role and a non-empty reason are required; ``conditional`` needs conditions
   and a review date (``review_by``, after the decision date; default: the override review
   window of the world, 30 days for live runs or high-tier client-critical worlds, else 90);
   ``review_by`` is refused on approve / reject (an :class:`~qmtl_research.errors.InputError`);
2. transition: the lifecycle must have a ``decision`` transition from the current stage
   (``decommissioned`` has none);
3. RACI: the role must be ``A``, ``R`` or ``A/R`` for the transition's activity; for the
   activities listed under ``independent_review`` in the RACI file the actor must not be the
   model's owner or developer (model card; :mod:`qmtl_research.governance.signoff`);
4. the run: it must be ``evaluated``; judged for one of the transition's ``run_stages``; the
   latest evaluated run of the strategy in the world for those stages (a newer run, e.g. a
   re-evaluation under a new policy, supersedes it);
5. verdict: ``approve`` / ``conditional`` on a run whose verdict (history applied, so an
   ex-post failure counts) is ``fail`` needs a current approved override: the run's latest
   override-or-ex-post-failure revision is an approved override whose review is not overdue.
   A ``warn`` verdict may be approved (QMTL's warnings are soft); the verdict is recorded with
   the decision. ``reject`` is allowed on any verdict;
6. findings: ``approve`` / ``conditional`` are refused while a finding of severity ``high`` on the
   strategy in the world is open or in progress (:mod:`qmtl_research.governance.findings`);
7. report: a transition with ``requires_report`` (signing the Validation Report) needs the
   version of a report registered for this run; any ``report_version`` given must be one.

Idempotency: the same decision (same run, decision, actor, role, reason, conditions, review
date and report version) submitted again while it is still the latest decision returns the
recorded one and writes nothing; so does a repeated ``idempotency_key``.

Use::

    from qmtl_research.governance.approvals import approval_block, record_decision
    rec = record_decision(store, key, decision="approve", actor="Kim", role="Risk",
                          reason="report v0001 reviewed", report_version="v0001")
    block = approval_block(store, key)   # history, current stage, who may sign next

Over 400 lines because a decision's checks (RACI role, independence, overrides, findings, lifecycle
transition) must be read together with the one function that records it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from qmtl_research.config import WorldConfig, list_strategies
from qmtl_research.errors import ConfigError, InputError, StoreError
from qmtl_research.paths import params_dir
from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.store.approval_tables import append_approval, approval_by_key, list_approvals
from qmtl_research.store.repository import utcnow
from qmtl_research.governance.raci import Decision, Governance, Transition, load_governance
from qmtl_research.governance.overrides import review_window_days
from qmtl_research.governance.runs import effective_summary, latest_runs
from qmtl_research.governance.signoff import SignOffRefused, check_independence, check_role, model_card_of
from qmtl_research.yamlio import line_of

HISTORY_COLUMNS = ["seq", "timestamp", "run_id", "decision", "actor", "role", "role_letter", "activity",
                   "reason", "conditions", "review_by", "stage_before", "stage_after", "transition", "verdict",
                   "report_version"]
SIGNER_COLUMNS = ["decision", "to_stage", "activity", "role", "letter", "run_stages", "requires_report"]


class DecisionRefused(SignOffRefused):
    """The governance rules do not allow this decision; nothing was written."""


class DecisionInput(BaseModel):
    """What a signer submits (validated before anything is read or written)."""

    model_config = ConfigDict(extra="forbid")
    decision: Decision
    actor: str | None = None
    role: str | None = None
    reason: str | None = None
    conditions: str | None = None
    review_by: dt.date | None = None
    report_version: str | None = None

    @field_validator("actor", "role", "reason", "conditions", "report_version")
    @classmethod
    def _strip(cls, v: str | None) -> str | None:
        return v.strip() if isinstance(v, str) and v.strip() else None

    @model_validator(mode="after")
    def _complete(self) -> "DecisionInput":
        missing = [f for f in ("actor", "role", "reason") if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a decision needs {', '.join(missing)} (non-empty)")
        if self.decision == "conditional" and self.conditions is None:
            raise ValueError("a conditional decision needs its conditions")
        if self.decision != "conditional" and (self.conditions is not None or self.review_by is not None):
            raise ValueError(f"conditions and a review date belong to conditional decisions, not to '{self.decision}'")
        return self


@dataclass
class RecordedDecision:
    """A decision in the store; ``recorded`` is False when it had been recorded before
    (same decision submitted again) and nothing was written."""

    record: dict[str, Any]
    recorded: bool

    @property
    def seq(self) -> int:
        return int(self.record["seq"])

    @property
    def stage_before(self) -> str:
        return self.record["stage_before"]

    @property
    def stage_after(self) -> str:
        return self.record["stage_after"]


@dataclass
class ApprovalBlock:
    """What the Validation Report prints about approval of one run's strategy in its world.

    * ``history``: the decisions (columns :data:`HISTORY_COLUMNS`), oldest first;
    * ``current_stage`` (derived), its ``phase`` and ``cleared_for`` (QMTL stage it may run in);
    * ``starting_stage`` and ``starting_source``: where the stage came from before any decision;
    * ``signers``: who may sign the next decision (columns :data:`SIGNER_COLUMNS`, RACI letters);
    * ``run_refusals``: per possible decision, why it would be refused on *this* run whoever
      signs (None: allowed for the roles in ``signers``);
    * ``conditions_in_force``: the latest decision when it is conditional (with ``overdue``)."""

    world_id: str
    strategy_id: str
    run_id: str | None
    current_stage: str
    phase: str
    cleared_for: str | None
    starting_stage: str
    starting_source: str
    history: pd.DataFrame
    signers: pd.DataFrame
    run_refusals: dict[str, str | None] = field(default_factory=dict)
    conditions_in_force: dict[str, Any] | None = None
    governance_hash: str = ""

    @property
    def this_run(self) -> pd.DataFrame:
        """The decisions recorded on this block's run (all decisions without a run)."""
        if self.run_id is None:
            return self.history
        return self.history[self.history["run_id"] == self.run_id].reset_index(drop=True)

    @property
    def other_runs(self) -> pd.DataFrame:
        """The decisions recorded on other runs of the strategy in the world (history)."""
        if self.run_id is None:
            return self.history.iloc[0:0]
        return self.history[self.history["run_id"] != self.run_id].reset_index(drop=True)

    @property
    def stage_source(self) -> str:
        """Where the current stage comes from, in words: this run's decision, another run's
        decision (named: it does not approve this run) or the starting stage."""
        if not len(self.history):
            return f"no decision recorded yet; the starting stage ({self.starting_source})"
        last = self.history.iloc[-1]
        on = "this run" if self.run_id is not None and last["run_id"] == self.run_id else f"run {last['run_id']}"
        text = (f"decision #{last['seq']} ({last['decision']}, {last['transition']}) recorded on {on}"
                + (f", report {last['report_version']}" if last.get("report_version") else ""))
        if self.run_id is not None and last["run_id"] != self.run_id:
            text += "; another run's decision, not a decision on this run"
        return text

    @property
    def stage_wording(self) -> str:
        """``current_stage`` with its source (for the report's identity tables)."""
        return f"{self.current_stage} ({self.stage_source})"

    def to_dict(self) -> dict[str, Any]:
        from qmtl_research.store.codec import to_jsonable

        d = {k: getattr(self, k) for k in ("world_id", "strategy_id", "run_id", "current_stage", "phase",
                                            "cleared_for", "starting_stage", "starting_source", "run_refusals",
                                            "conditions_in_force", "governance_hash")}
        d["history"] = self.history.to_dict(orient="records")
        d["signers"] = self.signers.to_dict(orient="records")
        return to_jsonable(d)


# --------------------------------------------------------------------------- stages
def starting_stage(strategy_id: str, governance: Governance | None = None) -> tuple[str, str]:
    """(stage, where it comes from) of a strategy before any decision: the model card's
    ``lifecycle_stage``, else the lifecycle's ``start_without_model_card``."""
    gov = governance or load_governance()
    lc = gov.lifecycle
    path, card = model_card_of(strategy_id)
    if card is None or path is None:
        return lc.start_without_model_card, f"no model card for '{strategy_id}': lifecycle default"
    if card.lifecycle_stage is None:
        return lc.start_without_model_card, f"model card {path.name} has no lifecycle_stage: lifecycle default"
    if card.lifecycle_stage not in lc.stage_names:
        raise ConfigError(f"model card {path.name} has an unknown lifecycle_stage '{card.lifecycle_stage}'",
                          where=f"{path}:{line_of(path, ('lifecycle_stage',))} field 'lifecycle_stage'",
                          fix=f"use one of: {', '.join(lc.stage_names)} ({gov.lifecycle_file})")
    return card.lifecycle_stage, f"model card {path.name} (lifecycle_stage)"


def _checked_chain(records: list[dict[str, Any]], where: str) -> None:
    for i, (prev, cur) in enumerate(zip(records, records[1:]), start=1):
        if cur["seq"] != prev["seq"] + 1 or cur["stage_before"] != prev["stage_after"]:
            raise StoreError(f"the decision chain of {where} is broken at #{cur['seq']} "
                             f"(#{prev['seq']} ended at '{prev['stage_after']}', #{cur['seq']} starts at "
                             f"'{cur['stage_before']}')", fix="the approvals table was changed outside qmtl-research; "
                             "restore it from a backup")


def current_stage(store: EvaluationStore, world_id: str, strategy_id: str,
                  governance: Governance | None = None) -> str:
    """The lifecycle stage of ``strategy_id`` in ``world_id``, derived from the recorded
    decisions (the model card's stage before the first one)."""
    records = list_approvals(store, world_id, strategy_id)
    _checked_chain(records, f"{world_id}/{strategy_id}")
    if records:
        return records[-1]["stage_after"]
    return starting_stage(strategy_id, governance)[0]


# ------------------------------------------------------------------------ the rules
def _content_hash(key: RunKey, inp: DecisionInput) -> str:
    doc = {"run": [key.world_id, key.strategy_id, key.run_id], "decision": inp.decision, "actor": inp.actor,
           "role": (inp.role or "").casefold(), "reason": inp.reason, "conditions": inp.conditions,
           "review_by": inp.review_by.isoformat() if inp.review_by else None, "report_version": inp.report_version}
    return "sha256:" + hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _refused(what: str, where: str, fix: str) -> DecisionRefused:
    return DecisionRefused(what, where=where, fix=fix)


def _override_problem(store: EvaluationStore, key: RunKey, now: dt.datetime) -> tuple[tuple[str, str] | None, int | None]:
    """For a failing run: (problem, None) or (None, revision of the current approved override)."""
    revs = [h for h in store.history(key) if h["change_type"] in ("override", "ex_post_failure")]
    latest = revs[-1] if revs else None
    fix = ("record an approved override first (`qmtl-research override --status approved --actor ... --reason ...`), "
           "or decide reject")
    if latest is None:
        return (f"run {key} failed validation and has no approved override", fix), None
    p = latest["payload"] or {}
    if latest["change_type"] == "ex_post_failure":
        return (f"run {key} has an ex-post failure (revision {latest['revision']}) after any override: "
                f"{p.get('reason')}", fix), None
    if p.get("override_status") != "approved":
        return (f"run {key} failed validation and its latest override (revision {latest['revision']}) is "
                f"'{p.get('override_status')}', not approved", fix), None
    due = pd.Timestamp(p["review_due"]) if p.get("review_due") else None
    if due is None or pd.Timestamp(now) > due:
        return (f"run {key} failed validation and the review of its approved override (revision "
                f"{latest['revision']}) was due {p.get('review_due')}", "review the override and record it again, "
                "or decide reject"), None
    return None, int(latest["revision"])


def _latest_run(store: EvaluationStore, key: RunKey, stages: list[str]) -> dict[str, Any] | None:
    cands = [r for st in stages for r in latest_runs(store, key.world_id, stage=st) if r["strategy_id"] == key.strategy_id]
    return max(cands, key=lambda r: (r["evaluated_at"], r["created_at"])) if cands else None


def _render_fix(key: RunKey) -> str:
    if key.strategy_id in list_strategies():
        return (f"render the report (make report STRATEGY={key.strategy_id} WORLD={key.world_id}) and decide on the "
                "run it records")
    return (f"reports are rendered and registered for the strategies of params/strategies/ (make report); "
            f"'{key.strategy_id}' is not one")


def _run_problems(store: EvaluationStore, key: RunKey, run: dict[str, Any], t: Transition, now: dt.datetime,
                  report_version: str | None, any_report: bool,
                  rendering: str | None = None) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Why the run does not allow decision ``t`` (rules 4-7), and what the decision records
    about the run (verdict, run stage, override revision). ``any_report``: a registered report
    satisfies ``requires_report`` (the block: the signer names one later); ``rendering``: a
    report version being rendered now counts as registered."""
    problems: list[tuple[str, str]] = []
    info: dict[str, Any] = {"run_stage": run.get("stage"), "verdict": None, "override_revision": None,
                            "recommended_stage": None}
    move = f"'{t.decision}' ({t.from_stage} -> {t.to}, {t.activity})"
    if run["status"] != "evaluated":
        problems.append((f"run {key} is '{run['status']}'; decisions are made on evaluated runs only",
                         "let the validation step evaluate the run (make report / qmtl-research validate --store)"))
        return problems, info
    summary = effective_summary(store, key)
    info["verdict"], info["recommended_stage"] = summary.get("status"), summary.get("recommended_stage")
    if run.get("stage") not in t.run_stages:
        problems.append((f"run {key} was judged for stage '{run.get('stage')}'; {move} needs a run judged for "
                         f"{' or '.join(t.run_stages)}",
                         f"evaluate a {' or '.join(t.run_stages)} run of {key.strategy_id} and decide on it"))
    else:
        latest = _latest_run(store, key, t.run_stages)
        if latest is not None and latest["run_id"] != key.run_id:
            problems.append((f"run {key} is not the latest evaluated {'/'.join(t.run_stages)} run of "
                             f"{key.strategy_id} in {key.world_id}: {latest['run_id']} (evaluated "
                             f"{latest['evaluated_at']:%Y-%m-%d %H:%M}) supersedes it",
                             f"decide on run {latest['run_id']}"))
    if t.decision in ("approve", "conditional") and info["verdict"] == "fail":
        problem, rev = _override_problem(store, key, now)
        if problem:
            problems.append(problem)
        info["override_revision"] = rev
    if t.decision in ("approve", "conditional"):
        from qmtl_research.governance.findings import blocking_findings

        blocking = blocking_findings(store, key.world_id, key.strategy_id)
        if len(blocking):
            listed = "; ".join(f"{r.finding_id} '{r.title}' (owner {r.owner}, due {r.due_date}, {r.status}, raised on "
                               f"run {r.run_id})" for r in blocking.itertuples())
            problems.append((f"findings rule: {len(blocking)} open finding(s) of severity high on {key.strategy_id} in "
                             f"{key.world_id} block {t.decision}: {listed}",
                             "remediate and close them (`qmtl-research findings close <id> --evidence ...`), "
                             "or decide reject"))
    versions = [r["version"] for r in store.list_reports(key.strategy_id, key.world_id) if r["run_id"] == key.run_id]
    versions += [rendering] if rendering and rendering not in versions else []
    if report_version is not None and report_version not in versions:
        problems.append((f"report version '{report_version}' is not registered for run {key}",
                         f"use one of: {', '.join(versions)}" if versions else _render_fix(key)))
    elif t.requires_report and report_version is None:
        if not versions:
            problems.append((f"{move} signs the Validation Report, and no report is registered for run {key}",
                             _render_fix(key)))
        elif not any_report:
            problems.append((f"{move} signs the Validation Report: name its version",
                             f"give --report-version (registered for this run: {', '.join(versions)})"))
    return problems, info


def _parse_input(**fields) -> DecisionInput:
    try:
        return DecisionInput(**fields)
    except ValidationError as exc:
        msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        options = [f"--{e['loc'][0].replace('_', '-')}" for e in exc.errors() if e.get("loc")]
        raise InputError(f"invalid decision: {msgs}",
                         where=", ".join(dict.fromkeys(options)) or "--actor/--role/--reason/--conditions/--review-by",
                         fix="give --decision approve|reject|conditional, --actor, --role and --reason; --conditions "
                             "(and --review-by YYYY-MM-DD) only with --decision conditional") from None


def record_decision(store: EvaluationStore, key: RunKey, *, decision: str, actor: str | None, role: str | None,
                    reason: str | None, conditions: str | None = None, review_by: dt.date | str | None = None,
                    report_version: str | None = None, world: WorldConfig | None = None,
                    idempotency_key: str | None = None, governance: Governance | None = None,
                    now: dt.datetime | None = None) -> RecordedDecision:
    """Check a decision against the rules (module docstring) and append it.

    ``world`` gives the default review date of a conditional decision (the override review
    window); without it, ``review_by`` is required. Raises :class:`InputError` (malformed),
    :class:`DecisionRefused` (not allowed) or :class:`StoreError`; nothing is written then."""
    now = now or utcnow()
    inp = _parse_input(decision=decision, actor=actor, role=role, reason=reason, conditions=conditions,
                       review_by=review_by, report_version=report_version)
    gov = governance or load_governance()
    run = store.get_run(key)
    content = _content_hash(key, inp)
    records = list_approvals(store, key.world_id, key.strategy_id)
    _checked_chain(records, f"{key.world_id}/{key.strategy_id}")
    if idempotency_key:
        seen = approval_by_key(store, idempotency_key)
        if seen is not None:
            if seen["content_hash"] != content:
                raise _refused(f"idempotency key '{idempotency_key}' was used for another decision (#{seen['seq']} "
                               f"of {seen['world_id']}/{seen['strategy_id']})", "--idempotency-key",
                               "use a new key for a new decision")
            return RecordedDecision(seen, False)
    if records and records[-1]["content_hash"] == content:
        return RecordedDecision(records[-1], False)

    stage = records[-1]["stage_after"] if records else starting_stage(key.strategy_id, gov)[0]
    lc = gov.lifecycle
    t = lc.transition(stage, inp.decision)
    if t is None:
        options = lc.transitions_from(stage)
        raise _refused(f"no '{inp.decision}' decision is possible at lifecycle stage '{stage}' of "
                       f"{key.strategy_id} in {key.world_id}", gov.lifecycle_file,
                       ("possible: " + "; ".join(f"{o.decision} -> {o.to}" for o in options)) if options else
                       f"'{stage}' is final; a successor model is a new strategy_id")
    signers = gov.signers(t.activity)
    what = f"sign the {inp.decision} {t.from_stage} -> {t.to} of {key.strategy_id} in {key.world_id}"
    try:
        canonical, letter = check_role(gov, t.activity, inp.role, what)
        independence = check_independence(gov, t.activity, inp.actor, key.strategy_id, what)
    except SignOffRefused as exc:
        raise DecisionRefused(exc.what, where=exc.where, fix=exc.fix) from None
    problems, info = _run_problems(store, key, run, t, now, inp.report_version, any_report=False)
    if problems:
        raise _refused("; ".join(p for p, _ in problems), str(key), "; ".join(dict.fromkeys(f for _, f in problems)))
    review = inp.review_by
    if inp.decision == "conditional":
        if review is None:
            if world is None:
                raise InputError("a conditional decision needs a review date", where="--review-by",
                                 fix="give --review-by YYYY-MM-DD")
            review = (now + dt.timedelta(days=review_window_days(world, run.get("stage")))).date()
        if review <= now.date():
            raise InputError(f"the review date {review} is not after the decision date {now.date()}",
                             where="--review-by", fix="give a later date")
    seq = (records[-1]["seq"] if records else 0) + 1
    row = dict(world_id=key.world_id, strategy_id=key.strategy_id, run_id=key.run_id, decision=inp.decision,
               actor=inp.actor, role=canonical, role_letter=letter, activity=t.activity, reason=inp.reason,
               conditions=inp.conditions, review_by=review, stage_before=stage, stage_after=t.to,
               run_stage=info["run_stage"], verdict=info["verdict"], override_revision=info["override_revision"],
               report_version=inp.report_version, governance_hash=gov.fingerprint, content_hash=content,
               idempotency_key=idempotency_key or f"approval:{content[7:47]}:{seq}",
               payload={"signers": signers, "independence": independence, "run_stages": t.run_stages, "requires_report": t.requires_report,
                        "recommended_stage": info["recommended_stage"],
                        "review_by_defaulted": inp.decision == "conditional" and inp.review_by is None},
               created_at=now)
    stored, fresh = append_approval(store, row, seq=seq)
    return RecordedDecision(stored, fresh)


# ---------------------------------------------------------------------- read models
def decision_history(store: EvaluationStore, world_id: str, strategy_id: str) -> pd.DataFrame:
    """The decisions of ``strategy_id`` in ``world_id``, oldest first (:data:`HISTORY_COLUMNS`)."""
    rows = [{**{c: r.get(c) for c in HISTORY_COLUMNS if c in r}, "timestamp": r["created_at"],
             "transition": f"{r['stage_before']} -> {r['stage_after']}"}
            for r in list_approvals(store, world_id, strategy_id)]
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def next_signers(stage: str, governance: Governance | None = None) -> pd.DataFrame:
    """Who may sign each decision possible at ``stage``, with their RACI letters."""
    gov = governance or load_governance()
    rows = [{"decision": t.decision, "to_stage": t.to, "activity": t.activity, "role": role, "letter": letter,
             "run_stages": ", ".join(t.run_stages), "requires_report": t.requires_report}
            for t in gov.lifecycle.transitions_from(stage) for role, letter in gov.signers(t.activity).items()]
    return pd.DataFrame(rows, columns=SIGNER_COLUMNS)


def _conditions_in_force(records: list[dict[str, Any]], now: dt.datetime) -> dict[str, Any] | None:
    if not records or records[-1]["decision"] != "conditional":
        return None
    r = records[-1]
    return {"seq": r["seq"], "actor": r["actor"], "role": r["role"], "conditions": r["conditions"],
            "review_by": r["review_by"], "overdue": bool(r["review_by"] is not None and now.date() > r["review_by"])}


def strategy_block(store: EvaluationStore, world_id: str, strategy_id: str, *, run_id: str | None = None,
                   rendering: str | None = None, governance: Governance | None = None,
                   now: dt.datetime | None = None) -> ApprovalBlock:
    """The approval block of a (world, strategy); with ``run_id``, also why each possible
    decision would be refused on that run (see :func:`approval_block`)."""
    gov = governance or load_governance()
    now = now or utcnow()
    records = list_approvals(store, world_id, strategy_id)
    _checked_chain(records, f"{world_id}/{strategy_id}")
    start, source = starting_stage(strategy_id, gov)
    stage = records[-1]["stage_after"] if records else start
    info = gov.lifecycle.stage(stage)
    refusals: dict[str, str | None] = {}
    if run_id is not None:
        key = RunKey(world_id, strategy_id, run_id)
        run = store.get_run(key)
        for t in gov.lifecycle.transitions_from(stage):
            problems, _ = _run_problems(store, key, run, t, now, None, any_report=True, rendering=rendering)
            refusals[t.decision] = "; ".join(p for p, _ in problems) or None
    return ApprovalBlock(world_id=world_id, strategy_id=strategy_id, run_id=run_id, current_stage=stage,
                         phase=info.phase, cleared_for=info.cleared_for, starting_stage=start,
                         starting_source=source, history=decision_history(store, world_id, strategy_id),
                         signers=next_signers(stage, gov), run_refusals=refusals,
                         conditions_in_force=_conditions_in_force(records, now), governance_hash=gov.fingerprint)


def approval_block(store: EvaluationStore, key: RunKey, *, rendering: str | None = None,
                   governance: Governance | None = None, now: dt.datetime | None = None) -> ApprovalBlock:
    """For the Validation Report of run ``key``: the decision history of its strategy in its
    world, the current (derived) lifecycle stage, who may sign the next decision (RACI letters),
    why a decision on this run would be refused whoever signs (``run_refusals``), and the
    conditions in force.

    ``rendering``: the version of the report being rendered for this run (not registered until
    it is written); it counts as registered, so the block does not say the report is missing."""
    return strategy_block(store, key.world_id, key.strategy_id, run_id=key.run_id, rendering=rendering,
                          governance=governance, now=now)


def tracked_strategies(store: EvaluationStore, world_id: str | None = None,
                       strategy_id: str | None = None) -> list[tuple[str, str]]:
    """(world, strategy) pairs with runs or decisions in the store, sorted."""
    pairs = {(r["world_id"], r["strategy_id"]) for r in store.list_runs(world_id, strategy_id)}
    pairs |= {(r["world_id"], r["strategy_id"]) for r in list_approvals(store, world_id, strategy_id)}
    return sorted(pairs)
