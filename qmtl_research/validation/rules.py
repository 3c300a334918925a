"""The one rule protocol (:class:`Rule`), like QMTL's ``ValidationRule``, and what rules share.

Every rule -- QMTL's five core rules (:mod:`~qmtl_research.validation.core_rules`), the extended
layers (:mod:`~qmtl_research.validation.extended_rules`: portfolio, benchmark, stress,
paper_shadow_consistency, live_monitoring, cohort) and this project's ``research_model_rules``
(:mod:`~qmtl_research.validation.research_rules`) -- is a class that owns its ``name``, its
default ``severity`` / ``owner``, its tags and its config class (``<Rule>Config``, pydantic, the
policy section that configures it), and implements ``evaluate(metrics, ctx) -> RuleResult``.
The rule set of a policy is assembled from :mod:`~qmtl_research.validation.registry`, the only
list of rule names.

:class:`RuleBase` implements the protocol for rules made of checks: ``checks(metrics, ctx) ->
[Check]`` folded into one :class:`RuleResult` (:func:`fold`). Status of a check: a bound breached
-> ``fail``; a metric missing -> per ``validation.on_missing_metric`` (``fail`` by default, as in
QMTL; reason ``<metric>_missing``); inside the bounds -> ``pass``. Bounds are inclusive, except
``performance_targets`` (strict, as the audit seed states its targets). A rule's status is its
worst check.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal, Mapping, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from qmtl_research.metric_paths import get_metric
from qmtl_research.validation.thresholds import THRESHOLDS, Owner, RuleConfig, Severity

#: the policy model (:class:`qmtl_research.validation.policy.Policy`, ``ValidationProfile``) is built
#: from the rule registry, so it is not imported here; annotated as ``Any``
Policy = ValidationProfile = Any

Status = Literal["pass", "warn", "fail"]
#: which rules a rule is: QMTL's five core rules, QMTL's extended layers, or this project's
#: ``research_model_rules`` (left out under ``--qmtl-compat``)
Family = Literal["core", "extended", "research"]
#: what a rule reads: one run (``run``), or the batch the run is judged in (``core``: the threshold
#: and selection pass of :func:`~qmtl_research.validation.core.core_batch`; ``batch``: the whole
#: cohort). Results are emitted core first, then run, then batch rules, each in registry order.
Scope = Literal["core", "run", "batch"]
_ORDER = {"pass": 0, "warn": 1, "fail": 2}
#: tolerance of the inclusive bounds (absorbs binary floating-point noise only)
EPS = 1e-12


class RuleResult(BaseModel):
    """QMTL's RuleResult: one rule's verdict on one run."""

    rule: str
    status: Status
    severity: Literal["blocking", "soft", "info"]
    owner: Literal["quant", "risk", "ops"]
    reason_code: str
    reason: str
    tags: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)


@dataclass
class Check:
    """One bound (or other test) inside a rule."""

    key: str
    metric: str
    status: Status
    reason_code: str
    reason: str
    value: Any = None
    bound: float | None = None
    kind: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The check as a plain dict (the ``details.checks`` entries of a RuleResult)."""
        return asdict(self)


@dataclass
class RuleContext:
    """What a rule knows besides the run's metrics.

    Attributes
    ----------
    stage : str
        backtest | paper | live.
    policy : Policy
        The policy in force.
    profile_name : str
        Name of the validation profile judging the run.
    profile : ValidationProfile
        That profile.
    on_missing_metric : str
        ``validation.on_missing_metric`` of the policy (fail | warn | ignore).
    qmtl_compat : bool
        Judge as QMTL's engine does (``--qmtl-compat``).
    batch : CoreBatch or None
        The batch pass (thresholds and selection) the core and batch rules read.
    index : int or None
        Position of the judged run in ``batch``.
    """

    stage: str
    policy: Policy
    profile_name: str
    profile: ValidationProfile
    on_missing_metric: str = "warn"
    qmtl_compat: bool = False
    batch: Any = None
    index: int | None = None


@runtime_checkable
class Rule(Protocol):
    """The one rule protocol (QMTL's ``ValidationRule``): a named rule with a severity and an
    owner that turns a run's metrics into one :class:`RuleResult`.

    A rule *class* registered in :mod:`~qmtl_research.validation.registry` also declares, as class
    attributes, ``config_class`` (its ``<Rule>Config``), ``default_severity``, ``default_owner``,
    ``family``, ``scope`` and ``policy_key`` and the classmethod ``from_policy(policy, profile,
    stage)`` (see :class:`RuleBase`)."""

    name: str
    severity: str
    owner: str
    tags: tuple[str, ...]

    def evaluate(self, metrics: Mapping[str, Any], ctx: RuleContext) -> RuleResult:
        """The rule's verdict on one run.

        Parameters
        ----------
        metrics : mapping
            The run's metric blocks.
        ctx : RuleContext
            Stage, policy, profile and (core / batch rules) the batch pass.

        Returns
        -------
        RuleResult
        """
        ...


def _fmt(x: Any) -> str:
    return f"{x:.6g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x)


def missing_check(key: str, metric: str, on_missing: str, bound: float | None = None, kind: str | None = None) -> Check:
    """The check of a missing metric, per ``validation.on_missing_metric``.

    Parameters
    ----------
    key : str
        Policy key of the bound (or the test's name).
    metric : str
        Dotted metric path.
    on_missing : {'fail', 'warn', 'ignore'}
        ``fail``/``warn``: that status, reason ``<leaf>_missing``; ``ignore``: passes with
        ``<leaf>_missing_ignored``.
    bound, kind : optional
        The bound and its kind ('min' | 'max'), recorded with the check.

    Returns
    -------
    Check
    """
    name = metric.split(".")[-1]
    status: Status = {"fail": "fail", "warn": "warn", "ignore": "pass"}[on_missing]
    code = f"{name}_missing" + ("_ignored" if on_missing == "ignore" else "")
    return Check(key, metric, status, code, f"{metric} is missing (on_missing_metric={on_missing})", None, bound, kind)


def bound_check(metrics: Mapping[str, Any], key: str, metric: str, kind: str, bound: float,
                on_missing: str, strict: bool = False) -> Check:
    """One bound on one run's metric.

    Parameters
    ----------
    metrics : mapping
        The run's metric blocks.
    key : str
        Policy key of the bound.
    metric : str
        Dotted metric path.
    kind : {'min', 'max'}
        ``min`` passes when value >= bound, ``max`` when value <= bound (inclusive, up to
        :data:`EPS`).
    bound : float
    on_missing : {'fail', 'warn', 'ignore'}
        What a missing metric gives (:func:`missing_check`).
    strict : bool, default False
        value > bound / value < bound: a value on the bound, up to :data:`EPS`, fails.

    Returns
    -------
    Check
        An infinite value fails with ``<leaf>_not_finite``.

    Raises
    ------
    TypeError
        The metric is present but not a number (the engine turns it into ``rule_error``).
    """
    value = get_metric(metrics, metric)
    if value is None:
        return missing_check(key, metric, on_missing, bound, kind)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"metric {metric} is not a number: {value!r}")
    name = metric.split(".")[-1]
    if math.isinf(value):          # no gate is passed by an infinite metric (blocking, own reason code)
        return Check(key, metric, "fail", f"{name}_not_finite",
                     f"{metric} is {value} (not a finite number): {key} cannot be checked", value, bound, kind)
    if kind == "min":
        ok = value > bound + EPS if strict else value >= bound - EPS
        code, op = (f"{name}_ok", ">" if strict else ">=") if ok else (f"{name}_below_min", "<=" if strict else "<")
    else:
        ok = value < bound - EPS if strict else value <= bound + EPS
        code, op = (f"{name}_ok", "<" if strict else "<=") if ok else (f"{name}_above_max", ">=" if strict else ">")
    return Check(key, metric, "pass" if ok else "fail", code,
                 f"{metric} {_fmt(value)} {op} {key} {_fmt(bound)}" + (" (strict target)" if strict else ""),
                 value, bound, kind)


def worst(statuses) -> Status:
    """The worst of ``statuses`` (fail > warn > pass); ``pass`` when empty."""
    return max(statuses, key=_ORDER.__getitem__, default="pass")


def fold(name: str, checks: list[Check], severity: str, owner: str, tags: list[str],
         extra: dict | None = None) -> RuleResult:
    """One RuleResult from checks: the worst status; the reason of the first fail (else first warn).

    Parameters
    ----------
    name : str
        The rule's name.
    checks : list of Check
    severity, owner : str
        The rule's severity and owner.
    tags : list of str
    extra : dict, optional
        Further ``details`` entries.

    Returns
    -------
    RuleResult
        ``<name>_ok`` when every check passes (``<name>_no_checks`` without checks); an ignored
        missing metric is surfaced as the reason rather than hidden.
    """
    status = worst(c.status for c in checks)
    lead = next((c for c in checks if c.status == status and status != "pass"), None)
    if lead is None:  # all pass: surface an ignored missing metric rather than hide it
        lead = next((c for c in checks if c.reason_code.endswith("_missing_ignored")), None)
    if lead is None:
        code = f"{name}_ok" if checks else f"{name}_no_checks"
        reason = f"{len(checks)} check(s) within bounds" if checks else "no bounds configured"
    else:
        code = lead.reason_code
        reason = "; ".join(c.reason for c in checks if c.status != "pass" or c is lead)
    details = {"checks": [c.as_dict() for c in checks], **(extra or {})}
    return RuleResult(rule=name, status=status, severity=severity, owner=owner, reason_code=code,
                      reason=reason, tags=tags, details=details)


class RuleBase:
    """Implements :class:`Rule` for a rule class; a subclass sets the class attributes below and
    ``checks`` (or overrides ``evaluate``).

    Attributes
    ----------
    name : str
        Key of the rule's RuleResult; unique in the registry.
    config_class : type of RuleConfig or None
        The rule's ``<Rule>Config``.
    default_severity, default_owner : str
        Used unless the rule's policy section sets ``severity`` / ``owner``.
    tags : tuple of str
    family : {'core', 'extended', 'research'}
        Where the policy configures it: a profile section (core), a top-level key (extended) or
        a key of ``research_model_rules`` (research; left out under ``--qmtl-compat``).
    scope : {'core', 'run', 'batch'}
        What it reads (module docstring); orders the results.
    policy_key : str
        The policy key of its config (default: ``name``).
    """

    name: ClassVar[str] = "rule"
    config_class: ClassVar[type[RuleConfig] | None] = None
    default_severity: ClassVar[Severity] = "soft"
    default_owner: ClassVar[Owner] = "quant"
    tags: ClassVar[tuple[str, ...]] = ()
    family: ClassVar[Family] = "research"
    scope: ClassVar[Scope] = "run"
    policy_key: ClassVar[str | None] = None

    def __init__(self, config: RuleConfig | None = None):
        self.config = config
        self.severity = config.severity if config is not None and config.severity else self.default_severity
        self.owner = config.owner if config is not None and config.owner else self.default_owner

    @classmethod
    def key(cls) -> str:
        """The policy key of the rule's config (``policy_key``, else ``name``)."""
        return cls.policy_key or cls.name

    @classmethod
    def config_in(cls, policy: Policy, profile: ValidationProfile) -> RuleConfig | None:
        """The rule's config in ``policy`` (and ``profile`` for a core rule); None when not set."""
        if cls.family == "core":
            return getattr(profile, cls.key(), None)
        if cls.family == "extended":
            return getattr(policy, cls.key(), None)
        rmr = policy.research_model_rules
        return rmr.get(cls.key()) if rmr is not None else None

    @classmethod
    def from_policy(cls, policy: Policy, profile: ValidationProfile, stage: str) -> RuleBase | None:
        """The rule as ``policy`` configures it for ``stage``, or None when it does not apply.

        Parameters
        ----------
        policy : Policy
        profile : ValidationProfile
            The profile judging the stage (core rules read their section there).
        stage : str

        Returns
        -------
        RuleBase or None
            Core rules always apply (QMTL emits all five); any other rule applies when its
            section is set and, if the section lists ``stages``, the stage is one of them.
        """
        cfg = cls.config_in(policy, profile)
        if cls.family == "core":
            return cls(cfg)
        if cfg is None or stage not in getattr(cfg, "stages", (stage,)):
            return None
        return cls(cfg)

    def checks(self, metrics: Mapping[str, Any], ctx: RuleContext) -> list[Check]:  # pragma: no cover
        """The rule's checks on one run (a subclass implements it)."""
        raise NotImplementedError(f"rule {self.name} implements neither checks() nor evaluate()")

    def result(self, checks: list[Check], extra: dict | None = None) -> RuleResult:
        """``checks`` folded into the rule's RuleResult (:func:`fold`)."""
        return fold(self.name, checks, self.severity, self.owner, list(self.tags), extra)

    def evaluate(self, metrics: Mapping[str, Any], ctx: RuleContext) -> RuleResult:
        """The rule's verdict on one run: its checks, folded (see :class:`Rule`)."""
        return self.result(self.checks(metrics, ctx))


class BoundsRule(RuleBase):
    """Every bound the rule's policy section sets (``THRESHOLDS[section]``, ``section`` defaults
    to the rule's name)."""

    section: ClassVar[str | None] = None

    def bounds(self, ctx: RuleContext) -> list[tuple[str, str, str, float]]:
        """``[(policy key, metric path, 'min' | 'max', bound)]`` of the bounds that are set."""
        return self.config.thresholds(self.section or self.name)

    def checks(self, metrics: Mapping[str, Any], ctx: RuleContext) -> list[Check]:
        """One :func:`bound_check` per bound."""
        return [bound_check(metrics, key, path, kind, bound, ctx.on_missing_metric)
                for key, path, kind, bound in self.bounds(ctx)]


__all__ = ["BoundsRule", "Check", "EPS", "Family", "Rule", "RuleBase", "RuleContext", "RuleResult", "Scope", "Status",
           "THRESHOLDS", "bound_check", "fold", "missing_check", "worst"]
