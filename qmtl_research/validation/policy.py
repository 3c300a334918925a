"""QMTL world policies as pydantic models.

A policy file is QMTL's format, loaded with the safe YAML loader and validated
strictly: unknown keys and thresholds of the wrong type are rejected with the
``file:line`` of the offending key (:func:`qmtl_research.yamlio.validate`).

Top-level keys: ``validation_profiles.<profile>.<section>.<key>``,
``default_profile_by_stage``, ``selection{top_k, correlation, hysteresis}``,
``cohort``, ``portfolio``, ``benchmark``, ``stress``, ``paper_shadow_consistency``,
``live_monitoring``, ``validation{on_error, on_missing_metric}``,
``governance.live_promotion`` and this project's extension
``research_model_rules`` (rules for our own models; QMTL does not know it).

Threshold keys map to metric paths through :data:`THRESHOLDS`; bounds are
**inclusive** (a value exactly on a bound passes), as in QMTL. The keys QMTL's own engine
knows are listed in :data:`QMTL_PROFILE_KEYS`; the others (``sortino_min``, ``psr_min``,
``es_p01_max`` ...) are this project's extensions, applied by default and ignored under
``--qmtl-compat`` (QMTL's engine ignores keys it does not know).

Two ruleset hashes: :func:`ruleset_hash` (ours, ``sha256:``; covers the whole policy, research
rules included) and :func:`qmtl_ruleset_hash` (QMTL's engine, ``blake3:blake3:<hex>``).

Each section's model is its rule's config class (``<Rule>Config``, declared next to the rule:
:mod:`~qmtl_research.validation.core_rules`, :mod:`~qmtl_research.validation.extended_rules`,
:mod:`~qmtl_research.validation.research_rules`); ``research_model_rules`` takes one key per
research rule of the registry (:mod:`~qmtl_research.validation.registry`). Over 400 lines because the
schema, QMTL's two profile choices, both ruleset hashes and the load-time checks (profile
references, finite and satisfiable bounds) are one policy's reading, kept together.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from qmtl_research.config import WorldConfig
from qmtl_research.errors import ConfigError, InputError
from qmtl_research.paths import params_dir
from qmtl_research.validation import registry
from qmtl_research.validation.core_rules import (DataCurrencyConfig, PerformanceConfig, RiskConstraintConfig,
                                                 RobustnessConfig, SampleConfig)
from qmtl_research.validation.extended_rules import (BenchmarkConfig, CohortConfig, LiveMonitoringConfig,
                                                     PaperShadowConsistencyConfig, PortfolioConfig, StressConfig)
from qmtl_research.validation.thresholds import (PROFILE_SECTIONS, QMTL_PROFILE_KEYS, THRESHOLDS,  # noqa: F401
                                                 Owner, RuleConfig, Severity, StrictModel)
from qmtl_research.yamlio import line_of, load_yaml, validate

STAGES = ("backtest", "paper", "live")
#: QMTL's recommended_stage labels, from least to most advanced
STAGE_LABELS = ("backtest_only", "paper_only", "paper_ok_live_candidate")
#: keys of ``default_profile_by_stage`` that stand for each of our stages (first match wins)
STAGE_KEYS = {"backtest": ("backtest_only", "backtest"), "paper": ("paper_only", "paper"),
              "live": ("live_only", "live", "paper_ok_live_candidate")}

#: QMTL's five core rules, in the order they are emitted (from the rule registry)
CORE_RULES = registry.CORE_RULES
#: default (severity, owner) of every built-in rule, as in QMTL's engine (each declared on its rule
#: class; :func:`qmtl_research.validation.registry.rule_defaults` includes rules registered later)
RULE_DEFAULTS: dict[str, tuple[str, str]] = registry.rule_defaults()
_Strict = StrictModel


class ValidationProfile(_Strict):
    """One profile: ``validation_profiles.<name>``; each section is the config of one core rule
    (:mod:`qmtl_research.validation.core_rules`; ``risk`` configures risk_constraint)."""

    data_currency: DataCurrencyConfig | None = None
    sample: SampleConfig | None = None
    performance: PerformanceConfig | None = None
    robustness: RobustnessConfig | None = None
    risk: RiskConstraintConfig | None = None


class TopK(_Strict):
    """``selection.top_k``: keep the best ``k`` candidates by ``metric``."""

    metric: str = "sharpe"
    k: int = Field(ge=1)


class Correlation(_Strict):
    """``selection.correlation``: drop a run whose ``|corr|`` with a kept run exceeds ``max``."""

    max: float = Field(ge=-1, le=1)


class Hysteresis(_Strict):
    """``selection.hysteresis``: admit a run at ``metric >= enter``, keep an active one while
    ``metric >= exit``."""

    metric: str = "sharpe"
    enter: float
    exit: float


class Selection(_Strict):
    """Batch selection (QMTL's policy engine): thresholds first, then top_k of the
    candidates, then correlation, then hysteresis. Part of the risk_constraint rule."""

    top_k: TopK | None = None
    correlation: Correlation | None = None
    hysteresis: Hysteresis | None = None


class ValidationOptions(_Strict):
    """What a rule error / a missing metric does: ``fail`` or ``warn`` (``ignore``: not counted).
    Both default to ``fail``, as in QMTL's engine (``ValidationConfig``)."""

    on_error: Literal["fail", "warn"] = "fail"
    on_missing_metric: Literal["fail", "warn", "ignore"] = "fail"


class LivePromotion(_Strict):
    """``manual_approval``: a passing paper run is a live *candidate* awaiting sign-off;
    ``disabled``: no run is recommended beyond paper; ``auto``: same labels, no sign-off needed."""

    mode: Literal["manual_approval", "auto", "disabled"] = "manual_approval"
    approvers: list[str] = Field(default_factory=list)
    min_paper_days: int | None = Field(None, ge=0)


class Governance(_Strict):
    """``governance``: how a passing run is promoted (``live_promotion``)."""

    live_promotion: LivePromotion = Field(default_factory=LivePromotion)


class _ResearchModelRulesBase(BaseModel):
    """qmtl-research extension (not part of QMTL's format): rules for this project's own models,
    fed by the results earlier notebooks recorded for the same run. One key per registered
    research rule (:mod:`qmtl_research.validation.registry`), its value the rule's config class;
    a key no research rule is registered under is refused."""

    model_config = ConfigDict(extra="allow", strict=True)

    @model_validator(mode="after")
    def _registered_rules(self) -> "_ResearchModelRulesBase":
        extra = self.__pydantic_extra__ or {}
        for key, value in list(extra.items()):
            cls = registry.rule_class(key)
            if cls is None or cls.family != "research":
                known = ", ".join(r.name for r in registry.registered_rules("research"))
                raise ValueError(f"unknown research rule '{key}' (registered research rules: {known})")
            try:
                extra[key] = cls.config_class.model_validate(value)
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, (key, *e['loc'])))}: {e['msg']}" for e in exc.errors())
                raise ValueError(f"research rule '{key}': {problems}") from exc
        return self

    def get(self, name: str) -> RuleConfig | None:
        """The config of research rule ``name``, or None when the policy does not set it."""
        if name in type(self).model_fields:
            return getattr(self, name)
        return (self.__pydantic_extra__ or {}).get(name)


#: ``research_model_rules``: one optional field per built-in research rule (its config class),
#: and, validated against the registry, rules registered later
ResearchModelRules = create_model(
    "ResearchModelRules", __base__=_ResearchModelRulesBase,
    **{r.name: (r.config_class | None, None) for r in registry.registered_rules("research")})


class Policy(_Strict):
    """A QMTL world policy (plus ``research_model_rules``)."""

    validation_profiles: dict[str, ValidationProfile] = Field(min_length=1)
    default_profile_by_stage: dict[Literal["backtest_only", "paper_only", "live_only", "paper_ok_live_candidate",
                                           "backtest", "paper", "live"], str] = Field(default_factory=dict)
    selection: Selection | None = None
    cohort: CohortConfig | None = None
    portfolio: PortfolioConfig | None = None
    benchmark: BenchmarkConfig | None = None
    stress: StressConfig | None = None
    paper_shadow_consistency: PaperShadowConsistencyConfig | None = None
    live_monitoring: LiveMonitoringConfig | None = None
    validation: ValidationOptions = Field(default_factory=ValidationOptions)
    governance: Governance = Field(default_factory=Governance)
    research_model_rules: ResearchModelRules | None = None

    # ------------------------------------------------------------ profiles
    def profile_for_stage(self, stage: str) -> str:
        """Profile name for ``stage`` (backtest | paper | live).

        ``default_profile_by_stage`` is looked up under QMTL's keys (``backtest_only``,
        ``paper_only``, ``live_only``/``paper_ok_live_candidate``) and the plain stage name; then a
        profile named like the stage; then the nearest *earlier* stage's profile (a live run with
        no live profile is judged by the paper profile) and finally the only profile."""
        check_stage(stage)
        order = STAGES[: STAGES.index(stage) + 1][::-1]
        for st in order:
            for key in STAGE_KEYS[st]:
                if key in self.default_profile_by_stage:
                    return self.default_profile_by_stage[key]
            if st in self.validation_profiles:
                return st
        if len(self.validation_profiles) == 1:
            return next(iter(self.validation_profiles))
        raise ConfigError(f"the policy has no validation profile for stage '{stage}'",
                          fix="add default_profile_by_stage entries or a profile named after the stage")

    def qmtl_profile_for_stage(self, stage: str) -> str:
        """Profile QMTL's engine picks for ``stage`` (``policy_engine._choose_profile``):
        ``default_profile_by_stage[<stage>]`` or ``[<stage>_only]``, a profile named like the
        stage, then the *first* mapped profile, then ``backtest``, ``paper``, the first profile.
        Differs from :meth:`profile_for_stage` only for a stage with no mapping and no profile of
        its name (QMTL judges such a live run by the first mapped profile, usually backtest;
        this project by the nearest earlier stage's, i.e. paper)."""
        check_stage(stage)

        def norm(x: str) -> str:
            return x.strip().lower().replace("-", "_")

        names = {norm(n): n for n in self.validation_profiles}
        mapping = {norm(k): v for k, v in self.default_profile_by_stage.items()}
        s = norm(stage)
        candidates = [mapping.get(s), mapping.get(f"{s}_only"), stage, *self.default_profile_by_stage.values()]
        for c in candidates:
            if c and norm(c) in names:
                return names[norm(c)]
        for fallback in ("backtest", "paper"):
            if fallback in names:
                return names[fallback]
        return next(iter(self.validation_profiles))

    def profile(self, name: str) -> ValidationProfile:
        """The validation profile ``name``.

        Raises
        ------
        ConfigError
            The policy has no such profile.
        """
        if name not in self.validation_profiles:
            raise ConfigError(f"unknown validation profile '{name}'",
                              fix=f"use one of: {', '.join(self.validation_profiles)}")
        return self.validation_profiles[name]


def check_stage(stage: str) -> str:
    """``stage`` when it is one of :data:`STAGES`.

    Raises
    ------
    InputError
        Another stage name.
    """
    if stage not in STAGES:
        raise InputError(f"unknown stage '{stage}'", where="--stage / stage field",
                         fix=f"use one of: {', '.join(STAGES)}")
    return stage


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys, no spaces and no NaN (what the ruleset hashes are computed on)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def ruleset_hash(policy: Policy, profile: str) -> str:
    """This project's ruleset hash: ``sha256:<hex>`` of the canonical JSON of {policy (resolved,
    defaults filled, unset optional fields left out), profile name, profile body}. Equal policies
    give equal hashes whatever their key order or layout, and a new optional policy field does not
    change the hash of policies that do not set it. QMTL's own hash: :func:`qmtl_ruleset_hash`."""
    body = {"policy": policy.model_dump(mode="json", exclude_none=True), "profile": profile,
            "profile_rules": policy.profile(profile).model_dump(mode="json", exclude_none=True)}
    return "sha256:" + hashlib.sha256(canonical_json(body).encode()).hexdigest()


#: fields QMTL's extended-layer models share with ours (``CohortRuleConfig`` ...); QMTL hashes
#: those of the resolved policy. Our schemas of these layers differ from QMTL's otherwise.
_QMTL_LAYER_FIELDS = {"cohort": ("sharpe_median_min", "severity", "owner"),
                      "portfolio": ("severity", "owner"),
                      "stress": ("severity", "owner"),
                      "live_monitoring": ("sharpe_min", "severity", "owner")}


def qmtl_thresholds(profile: ValidationProfile) -> dict[str, dict[str, Any]]:
    """QMTL's threshold map of a profile (``ValidationProfile.to_thresholds``): leaf metric name
    -> ``{"metric", "min" | "max"}``, QMTL-known keys only, in QMTL's order."""
    out: dict[str, dict[str, Any]] = {}
    for section, keys in QMTL_PROFILE_KEYS.items():
        cfg = getattr(profile, section)
        if cfg is None:
            continue
        for key in keys:
            value = getattr(cfg, key)
            if value is not None:
                path, kind = THRESHOLDS[section][key]
                leaf = path.split(".")[-1]
                out[leaf] = {"metric": leaf, kind: float(value)}
    return out


def qmtl_resolved_policy(policy: Policy, profile: str) -> dict[str, Any]:
    """The JSON form of the policy QMTL's engine evaluates for ``profile``
    (``_materialize_policy(...)`` dumped with ``model_dump(mode="json", exclude_none=True)``):
    the profile's thresholds, the selection rules, empty profile maps, ``validation``, and the
    QMTL fields of cohort / portfolio / stress / live_monitoring when they are configured."""
    th = qmtl_thresholds(policy.profile(profile))
    sel: dict[str, Any] = {}
    if policy.selection is not None:
        s = policy.selection
        if s.top_k is not None:
            sel["top_k"] = {"metric": s.top_k.metric, "k": int(s.top_k.k)}
        if s.correlation is not None:
            sel["correlation"] = {"max": float(s.correlation.max)}
        if s.hysteresis is not None:
            sel["hysteresis"] = {"metric": s.hysteresis.metric, "enter": float(s.hysteresis.enter),
                                 "exit": float(s.hysteresis.exit)}
    out: dict[str, Any] = {"thresholds": th, **sel, "selection": {"thresholds": th, **sel},
                           "validation_profiles": {}, "default_profile_by_stage": {},
                           "validation": {"on_error": policy.validation.on_error,
                                          "on_missing_metric": policy.validation.on_missing_metric}}
    for layer, fields in _QMTL_LAYER_FIELDS.items():
        cfg = getattr(policy, layer)
        if cfg is not None:
            vals = {f: getattr(cfg, f) for f in fields if f in cfg.model_fields_set and getattr(cfg, f) is not None}
            out[layer] = {f: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                          for f, v in vals.items()}
    return out


def qmtl_ruleset_hash(policy: Policy, profile: str) -> str:
    """QMTL's ruleset hash (``policy_engine._ruleset_hash``): ``"blake3:" + hash_bytes(json)`` of
    ``{"policy": <resolved policy>, "profile": <name>}`` serialised with ``sort_keys=True`` and
    ``(",", ":")`` separators. QMTL's ``hash_bytes`` already returns ``"blake3:<hex>"``, so the
    value QMTL's code stores reads ``blake3:blake3:<64 hex>`` (reproduced as is)."""
    import blake3

    payload: dict[str, Any] = {"policy": qmtl_resolved_policy(policy, profile)}
    if profile:
        payload["profile"] = profile
    for v in _floats(payload):
        if not math.isfinite(v):
            raise ConfigError(f"policy value {v} is not finite", fix="use finite numbers in the policy")
    serialized = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return "blake3:blake3:" + blake3.blake3(serialized.encode("utf-8")).hexdigest()


def _floats(obj: Any):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _floats(v)
    elif isinstance(obj, float):
        yield obj


def _check_profile_refs(policy: Policy, path: Path | None, prefix: tuple = ()) -> None:
    for key, name in policy.default_profile_by_stage.items():
        if name not in policy.validation_profiles:
            ln = line_of(path, prefix + ("default_profile_by_stage", key)) if path else None
            raise ConfigError(f"default_profile_by_stage.{key} names unknown profile '{name}'",
                              where=f"{path}:{ln}" if ln else (str(path) if path else None),
                              fix=f"use one of: {', '.join(policy.validation_profiles)}")


#: bounds outside THRESHOLDS' sections that also read a metric (section, key) -> metric path
_OTHER_BOUNDS = {("live_monitoring", "max_dd_max"): "returns.max_drawdown",
                 ("live_monitoring", "es_p01_max"): "returns.es_p01",
                 ("stress", "max_loss"): "returns.max_drawdown"}


def _policy_bounds(policy: Policy) -> list[tuple[tuple, str, str, float]]:
    """[(location in the file, metric path, 'min' | 'max', bound)] of every bound the policy sets."""
    out = []
    for prof_name, prof in policy.validation_profiles.items():
        for section in PROFILE_SECTIONS:
            cfg = getattr(prof, section)
            for key, path, kind, bound in (cfg.thresholds(section) if cfg is not None else []):
                out.append((("validation_profiles", prof_name, section, key), path, kind, bound))
    for section in ("portfolio", "benchmark", "paper_shadow_consistency"):
        cfg = getattr(policy, section)
        for key, path, kind, bound in (cfg.thresholds(section) if cfg is not None else []):
            out.append(((section, key), path, kind, bound))
    for (section, key), path in _OTHER_BOUNDS.items():
        cfg = getattr(policy, section)
        if cfg is not None and getattr(cfg, key) is not None:
            out.append(((section, key), path, "max", float(getattr(cfg, key))))
    rmr = policy.research_model_rules
    if rmr is not None and rmr.performance_targets is not None and rmr.performance_targets.max_dd_max is not None:
        out.append((("research_model_rules", "performance_targets", "max_dd_max"), "returns.max_drawdown", "max",
                    float(rmr.performance_targets.max_dd_max)))
    return out


def _check_bounds(policy: Policy, data: Any, path: Path | None, prefix: tuple = ()) -> None:
    """Refuse non-finite numbers anywhere in the policy and bounds no value of the metric's
    domain (:data:`qmtl_research.validation.metrics.METRIC_DOMAINS`) can satisfy, e.g.
    ``max_dd_max: -0.25`` (drawdowns are positive loss fractions: every run would fail)."""
    from qmtl_research.validation.metrics import DOMAIN_NOTE, METRIC_DOMAINS

    problems = []

    def place(loc: tuple) -> str:
        ln = line_of(path, prefix + loc) if path else None
        dotted = ".".join(map(str, prefix + loc))
        return f"{path}:{ln} field '{dotted}'" if ln else f"{path or '<policy>'} field '{dotted}'"

    def visit(loc: tuple, obj: Any) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                visit(loc + (k,), v)
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                visit(loc + (i,), v)
        elif isinstance(obj, float) and not math.isfinite(obj):
            problems.append(f"{place(loc)}: {obj} is not a finite number")

    visit((), data)
    for loc, metric, kind, bound in _policy_bounds(policy):
        lo, hi = METRIC_DOMAINS.get(metric, (None, None))
        if not math.isfinite(bound):
            continue                                    # reported above
        if kind == "max" and lo is not None and bound < lo:
            problems.append(f"{place(loc)}: {loc[-1]} {bound:g} is below {lo:g}, the lowest value {metric} can take: "
                            f"no run can satisfy it ({DOMAIN_NOTE})")
        elif kind == "min" and hi is not None and bound > hi:
            problems.append(f"{place(loc)}: {loc[-1]} {bound:g} is above {hi:g}, the highest value {metric} can "
                            f"take: no run can satisfy it ({DOMAIN_NOTE})")
    if problems:
        raise ConfigError(f"the policy sets {len(problems)} bound(s) no run can satisfy",
                          where="\n         ".join(problems),
                          fix="use finite bounds inside each metric's domain, e.g. max_dd_max: 0.25 for "
                              "'at most a 25 % drawdown' (losses are positive fractions)")


def parse_policy(data: Any, path: str | Path | None = None, what: str = "policy") -> Policy:
    """Validate a policy mapping (errors name ``file:line`` when ``path`` is given): schema,
    profile references, finite numbers and satisfiable bounds (:func:`_check_bounds`)."""
    policy = validate(Policy, data, path, what)
    _check_profile_refs(policy, Path(path) if path else None)
    _check_bounds(policy, data, Path(path) if path else None)
    return policy


def load_policy(path: str | Path) -> Policy:
    """Load and validate a policy YAML file (safe loader)."""
    path = Path(path)
    return parse_policy(load_yaml(path), path, f"policy file {path.name}")


class _InlinePolicy(BaseModel):
    model_config = ConfigDict(extra="ignore")
    policy: Policy


def world_file(world_id: str) -> Path | None:
    """``params/worlds/<world_id>.yaml`` (or ``.yml``), None when there is none."""
    for ext in (".yaml", ".yml"):
        p = params_dir() / "worlds" / f"{world_id}{ext}"
        if p.is_file():
            return p
    return None


def policy_of_world(world: WorldConfig) -> tuple[Policy, str]:
    """(policy, source) of a world: its ``policy_file`` or its inline ``policy``."""
    path = world.policy_path()
    if path is not None:
        return load_policy(path), str(path)
    wf = world_file(world.world_id)
    inline = validate(_InlinePolicy, {"policy": world.policy}, wf, f"inline policy of world {world.world_id}").policy
    _check_profile_refs(inline, wf, ("policy",))
    _check_bounds(inline, world.policy, wf, ("policy",))
    return inline, f"{wf}#policy"


def file_version(path: str | Path) -> str:
    """Version label of a bare policy file (QMTL's format carries none): ``<name>@<sha256[:12]>``."""
    path = Path(path)
    return f"{path.name}@{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"


def resolve_policy(policy_file: str | Path | None = None, world_id: str | None = None) -> tuple[Policy, str, str]:
    """(policy, policy_version, source) from a policy file or a world (exactly one)."""
    from qmtl_research.config import load_world

    if (policy_file is None) == (world_id is None):
        raise InputError("give exactly one of --policy FILE or --world W", where="command line",
                         fix="pass --policy params/policies/<file>.yml, or --world <world> for the world's policy")
    if policy_file is not None:
        return load_policy(policy_file), file_version(policy_file), str(policy_file)
    world = load_world(world_id)
    policy, source = policy_of_world(world)
    return policy, world.policy_version, source
