"""Governance data as validated models: the RACI matrix and the model lifecycle.

* ``params/governance/raci.yaml``: who is R(esponsible) / A(ccountable) / C(onsulted) /
  I(nformed) for each MRM activity (MRM sketch section 1.2).
* ``params/governance/lifecycle.yaml``: the lifecycle stages (sketch section 2.1) and the
  transitions an approval decision may make, each tied to the RACI activity whose
  accountable or responsible roles (``A``, ``R`` or ``A/R``) may sign it.

Both files are loaded safely and validated; every problem is reported with ``file:line`` and
the field (:mod:`qmtl_research.yamlio`), including cross-file ones (a transition naming an
activity the RACI file does not have, an activity nobody may sign).

Use::

    from qmtl_research.governance.raci import load_governance
    gov = load_governance()                              # the shipped files
    t = gov.lifecycle.transition("validation", "approve")
    gov.signers(t.activity)                              # {'Risk': 'A/R'}
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from qmtl_research.config import Stage as QmtlStage
from qmtl_research.errors import ConfigError
from qmtl_research.paths import params_dir
from qmtl_research.yamlio import line_of, load_model

Letter = Literal["R", "A", "C", "I", "A/R"]
#: RACI letters whose holders may sign a decision for an activity
SIGNING_LETTERS = ("A", "R", "A/R")
Decision = Literal["approve", "reject", "conditional"]
DECISIONS: tuple[str, ...] = ("approve", "conditional", "reject")


def raci_path() -> Path:
    return params_dir() / "governance" / "raci.yaml"


def lifecycle_path() -> Path:
    return params_dir() / "governance" / "lifecycle.yaml"


# ----------------------------------------------------------------------------- RACI
class RaciActivity(BaseModel):
    """One row: the activity's name and one RACI letter per role (extra keys = role names)."""

    model_config = ConfigDict(extra="allow")
    activity: str = Field(min_length=1)
    __pydantic_extra__: dict[str, Letter]


class RaciMatrix(BaseModel):
    """The RACI matrix: ``roles`` and, per activity, every role's letter."""

    model_config = ConfigDict(extra="forbid")
    roles: list[str] = Field(min_length=1)
    activities: list[RaciActivity] = Field(min_length=1)
    independent_review: list[str] = Field(
        default_factory=list, description="activities whose signer must not be the model's owner or developer")

    @property
    def activity_names(self) -> list[str]:
        return [a.activity for a in self.activities]

    def letters(self, activity: str) -> dict[str, str]:
        """Every role's letter for ``activity`` (roles in file order)."""
        for row in self.activities:
            if row.activity == activity:
                extra = row.model_extra or {}
                return {r: extra[r] for r in self.roles}
        raise ConfigError(f"unknown RACI activity '{activity}'", where=str(raci_path()),
                          fix=f"use one of: {'; '.join(self.activity_names)}")

    def signers(self, activity: str) -> dict[str, str]:
        """The roles that may sign for ``activity`` (letter A, R or A/R) with their letters."""
        return {r: x for r, x in self.letters(activity).items() if x in SIGNING_LETTERS}

    def canonical_role(self, name: str) -> str | None:
        """The RACI role spelled ``name`` (case-insensitive), or None."""
        wanted = name.strip().casefold()
        return next((r for r in self.roles if r.casefold() == wanted), None)


# ------------------------------------------------------------------------ lifecycle
class LifecycleStage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stage: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    phase: str
    cleared_for: QmtlStage | None = Field(description="QMTL stage the strategy may run in; None: it may not run")
    description: str = ""


class Transition(BaseModel):
    """A move a decision may make: ``from`` --decision--> ``to``, signed under ``activity``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_stage: str = Field(alias="from")
    decision: Decision
    to: str
    activity: str
    run_stages: list[QmtlStage] = Field(min_length=1)
    requires_report: bool = False


class Lifecycle(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start_without_model_card: str
    stages: list[LifecycleStage] = Field(min_length=1)
    transitions: list[Transition]

    @property
    def stage_names(self) -> list[str]:
        return [s.stage for s in self.stages]

    def stage(self, name: str) -> LifecycleStage:
        for s in self.stages:
            if s.stage == name:
                return s
        raise ConfigError(f"unknown lifecycle stage '{name}'", where=str(lifecycle_path()),
                          fix=f"use one of: {', '.join(self.stage_names)}")

    def transition(self, from_stage: str, decision: str) -> Transition | None:
        return next((t for t in self.transitions if t.from_stage == from_stage and t.decision == decision), None)

    def transitions_from(self, stage: str) -> list[Transition]:
        """The decisions possible at ``stage`` (approve, conditional, reject order)."""
        found = [t for t in self.transitions if t.from_stage == stage]
        return sorted(found, key=lambda t: DECISIONS.index(t.decision))


# ----------------------------------------------------------------------- governance
@dataclass(frozen=True)
class Governance:
    """The RACI matrix and the lifecycle, checked against each other.

    ``fingerprint`` (``sha256:...`` of both files' validated content) is recorded with every
    decision, so a later change of who may sign is visible next to the decisions made before."""

    raci: RaciMatrix
    lifecycle: Lifecycle
    fingerprint: str
    raci_file: str
    lifecycle_file: str

    def signers(self, activity: str) -> dict[str, str]:
        return self.raci.signers(activity)


def _fingerprint(raci: RaciMatrix, lifecycle: Lifecycle) -> str:
    doc = {"raci": raci.model_dump(), "lifecycle": lifecycle.model_dump(by_alias=True)}
    return "sha256:" + hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _raise(problems: list[str], what: str) -> None:
    if problems:
        raise ConfigError(f"{what} is not valid ({len(problems)} problem(s))",
                          where="\n         ".join(problems), fix="correct the entries listed above")


def load_raci_matrix(path: str | Path | None = None) -> RaciMatrix:
    """Load and validate the RACI matrix: letters R/A/C/I/A/R, every role given for every
    activity, no unknown role, no duplicate role or activity."""
    path = Path(path or raci_path())
    raci = load_model(RaciMatrix, path, "RACI table")
    problems = []
    if len(set(raci.roles)) != len(raci.roles):
        problems.append(f"{path}:{line_of(path, ('roles',))} field 'roles': duplicate role names {raci.roles}")
    seen: set[str] = set()
    for i, row in enumerate(raci.activities):
        where = f"{path}:{line_of(path, ('activities', i))} field 'activities.{i}'"
        given = set(row.model_extra or {})
        missing = [r for r in raci.roles if r not in given]
        unknown = sorted(given - set(raci.roles))
        if missing:
            problems.append(f"{where}: activity '{row.activity}' has no letter for role(s) {missing}")
        if unknown:
            problems.append(f"{where}: activity '{row.activity}' names role(s) {unknown} not in roles {raci.roles}")
        if row.activity in seen:
            problems.append(f"{where}: activity '{row.activity}' is listed twice")
        seen.add(row.activity)
    for i, name in enumerate(raci.independent_review):
        if name not in raci.activity_names:
            problems.append(f"{path}:{line_of(path, ('independent_review', i))} field 'independent_review.{i}': "
                            f"activity '{name}' is not in the RACI table (activities: {'; '.join(raci.activity_names)})")
    _raise(problems, f"RACI table {path.name}")
    return raci


def load_lifecycle(raci: RaciMatrix, path: str | Path | None = None) -> Lifecycle:
    """Load and validate the lifecycle against ``raci``: known stages, one transition per
    (from, decision), conditional = approve's target, known activities that someone may sign."""
    path = Path(path or lifecycle_path())
    lc = load_model(Lifecycle, path, "lifecycle")
    names = lc.stage_names
    problems = []

    def at(*loc) -> str:
        return f"{path}:{line_of(path, loc)} field '{'.'.join(map(str, loc))}'"

    for i, s in enumerate(lc.stages):
        if names.index(s.stage) != i:
            problems.append(f"{at('stages', i, 'stage')}: stage '{s.stage}' is listed twice")
    if lc.start_without_model_card not in names:
        problems.append(f"{at('start_without_model_card')}: unknown stage '{lc.start_without_model_card}' "
                        f"(stages: {', '.join(names)})")
    seen: dict[tuple[str, str], int] = {}
    for i, t in enumerate(lc.transitions):
        for field, alias in (("from_stage", "from"), ("to", "to")):
            if getattr(t, field) not in names:
                problems.append(f"{at('transitions', i, alias)}: unknown stage '{getattr(t, field)}' "
                                f"(stages: {', '.join(names)})")
        if (t.from_stage, t.decision) in seen:
            problems.append(f"{at('transitions', i)}: a second '{t.decision}' transition from '{t.from_stage}' "
                            f"(first in transitions.{seen[(t.from_stage, t.decision)]})")
        seen.setdefault((t.from_stage, t.decision), i)
        if t.activity not in raci.activity_names:
            problems.append(f"{at('transitions', i, 'activity')}: activity '{t.activity}' is not in the RACI table "
                            f"(activities: {'; '.join(raci.activity_names)})")
        elif not raci.signers(t.activity):
            problems.append(f"{at('transitions', i, 'activity')}: nobody may sign '{t.activity}' "
                            f"(no role is A, R or A/R for it in the RACI table)")
    for i, t in enumerate(lc.transitions):
        if t.decision == "conditional":
            approve = lc.transition(t.from_stage, "approve")
            if approve is None:
                problems.append(f"{at('transitions', i)}: conditional from '{t.from_stage}' without an approve transition "
                                "(a conditional decision is an approval with conditions)")
            elif approve.to != t.to:
                problems.append(f"{at('transitions', i, 'to')}: conditional from '{t.from_stage}' goes to '{t.to}' but "
                                f"approve goes to '{approve.to}' (they must agree)")
    _raise(problems, f"lifecycle {path.name}")
    return lc


def load_governance(raci_file: str | Path | None = None, lifecycle_file: str | Path | None = None) -> Governance:
    """The validated RACI matrix and lifecycle (default: the files in ``params/governance/``)."""
    rpath, lpath = Path(raci_file or raci_path()), Path(lifecycle_file or lifecycle_path())
    raci = load_raci_matrix(rpath)
    lifecycle = load_lifecycle(raci, lpath)
    return Governance(raci, lifecycle, _fingerprint(raci, lifecycle), str(rpath), str(lpath))
