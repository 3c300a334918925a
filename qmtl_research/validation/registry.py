"""The rule registry: the only list of rule names. A policy's rule set is assembled from it
(:func:`build_rules`), and the policy schema reads each rule's config class from it.

A new rule is one class (implementing :class:`~qmtl_research.validation.rules.Rule`, most simply
by subclassing :class:`~qmtl_research.validation.rules.RuleBase`) and one call,
``register_rule(MyRule)``; a research rule (``family = "research"``) is then configured by the key
``research_model_rules.<name>`` of any policy parsed afterwards. Results are emitted core rules
first, then per-run rules, then batch rules (``scope``), each in registration order.
"""
from __future__ import annotations

import typing
from typing import Any

from qmtl_research.errors import ConfigError
from qmtl_research.validation.core_rules import (DataCurrencyRule, PerformanceRule, RiskConstraintRule, RobustnessRule,
                                                 SampleRule)
from qmtl_research.validation.extended_rules import (BenchmarkRule, CohortRule, LiveMonitoringRule,
                                                     PaperShadowConsistencyRule, PortfolioRule, StressRule)
from qmtl_research.validation.research_rules import (BenchmarkPerformanceRule, ForecastErrorRule,
                                                     PerformanceTargetsRule, RatingAccuracyRule, VarBacktestRule)
from qmtl_research.validation.rules import Family, RuleBase, Scope
from qmtl_research.validation.thresholds import Owner, RuleConfig, Severity

#: the policy model (:class:`qmtl_research.validation.policy.Policy`, ``ValidationProfile``) is built
#: from the rule registry, so it is not imported here; annotated as ``Any``
Policy = ValidationProfile = Any

_SCOPES = typing.get_args(Scope)
_REGISTRY: dict[str, type] = {}


def register_rule(rule: type) -> type:
    """Add a rule class to the registry (usable as a class decorator).

    Parameters
    ----------
    rule : type
        A class with the class attributes ``name``, ``config_class`` (a
        :class:`~qmtl_research.validation.thresholds.RuleConfig` subclass), ``default_severity``,
        ``default_owner``, ``family``, ``scope`` and the classmethod ``from_policy(policy,
        profile, stage)`` returning an object with ``name``, ``severity``, ``owner``, ``tags``
        and ``evaluate(metrics, ctx) -> RuleResult`` (:class:`~qmtl_research.validation.rules.Rule`),
        or None when the policy does not configure it.

    Returns
    -------
    type
        ``rule``, registered.

    Raises
    ------
    ConfigError
        A declaration is missing or invalid, or another class already has the name.
    """
    where = f"rule class {getattr(rule, '__qualname__', rule)!r}"
    name = getattr(rule, "name", None)
    problems = []
    if not isinstance(name, str) or not name.isidentifier():
        problems.append(f"name {name!r} is not an identifier")
    cfg = getattr(rule, "config_class", None)
    if not (isinstance(cfg, type) and issubclass(cfg, RuleConfig)):
        problems.append("config_class is not a RuleConfig subclass")
    for attr, allowed in (("default_severity", typing.get_args(Severity)), ("default_owner", typing.get_args(Owner)),
                          ("family", typing.get_args(Family)), ("scope", _SCOPES)):
        if getattr(rule, attr, None) not in allowed:
            problems.append(f"{attr} {getattr(rule, attr, None)!r} is not one of {', '.join(allowed)}")
    if not callable(getattr(rule, "from_policy", None)):
        problems.append("it has no classmethod from_policy(policy, profile, stage)")
    if problems:
        raise ConfigError(f"cannot register {where}: " + "; ".join(problems), where=where,
                          fix="subclass qmtl_research.validation.rules.RuleBase and set these class attributes")
    if name in _REGISTRY and _REGISTRY[name] is not rule:
        raise ConfigError(f"cannot register {where}: the rule name '{name}' is taken by "
                          f"{_REGISTRY[name].__qualname__}", where=where,
                          fix="give the rule another name, or unregister_rule the other one first")
    _REGISTRY[name] = rule
    return rule


def unregister_rule(name: str) -> type:
    """Remove a rule from the registry.

    Parameters
    ----------
    name : str
        The rule's name.

    Returns
    -------
    type
        The removed class.

    Raises
    ------
    ConfigError
        No rule of that name, or a built-in rule (the shipped policies need them).
    """
    if name not in _REGISTRY:
        raise ConfigError(f"no rule named '{name}' is registered", fix=f"use one of: {', '.join(_REGISTRY)}")
    if name in BUILTIN_RULE_NAMES:
        raise ConfigError(f"'{name}' is a built-in rule and cannot be unregistered",
                          fix="register a rule under another name instead")
    return _REGISTRY.pop(name)


def registered_rules(family: str | None = None) -> list[type]:
    """The registered rule classes in emission order (core, then run, then batch scope).

    Parameters
    ----------
    family : {'core', 'extended', 'research'}, optional
        Only the rules of this family.

    Returns
    -------
    list of type
    """
    rules = [r for r in _REGISTRY.values() if family is None or r.family == family]
    return sorted(rules, key=lambda r: _SCOPES.index(r.scope))      # stable: registration order within a scope


def rule_class(name: str) -> type | None:
    """The registered rule class named ``name``, or None."""
    return _REGISTRY.get(name)


def rule_defaults() -> dict[str, tuple[str, str]]:
    """Default ``(severity, owner)`` of every registered rule, by name."""
    return {r.name: (r.default_severity, r.default_owner) for r in registered_rules()}


def build_rules(policy: Policy, profile: ValidationProfile, stage: str, *, research: bool = True) -> list:
    """The rules ``policy`` applies to a run of ``stage`` judged under ``profile``, in emission
    order: QMTL's five core rules always, every other registered rule its policy configures for
    the stage.

    Parameters
    ----------
    policy : Policy
    profile : ValidationProfile
    stage : str
    research : bool, default True
        False leaves out the ``research_model_rules`` (QMTL's engine does not know them:
        ``--qmtl-compat``).

    Returns
    -------
    list of Rule
    """
    out = []
    for cls in registered_rules():
        if cls.family == "research" and not research:
            continue
        rule = cls.from_policy(policy, profile, stage)
        if rule is not None:
            out.append(rule)
    return out


#: the built-in rules, in emission order within each scope; registering is the only declaration
#: of a rule's name
_BUILTIN = (DataCurrencyRule, SampleRule, PerformanceRule, RiskConstraintRule, RobustnessRule,
            PortfolioRule, BenchmarkRule, StressRule, PaperShadowConsistencyRule, LiveMonitoringRule,
            ForecastErrorRule, RatingAccuracyRule, VarBacktestRule, BenchmarkPerformanceRule, PerformanceTargetsRule,
            CohortRule)
for _cls in _BUILTIN:
    register_rule(_cls)
BUILTIN_RULE_NAMES = frozenset(c.name for c in _BUILTIN)
#: QMTL's five core rules, in the order they are emitted
CORE_RULES = tuple(c.name for c in registered_rules("core"))

__all__ = ["BUILTIN_RULE_NAMES", "CORE_RULES", "RuleBase", "build_rules", "register_rule", "registered_rules",
           "rule_class", "rule_defaults", "unregister_rule"]
