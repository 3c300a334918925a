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
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from qmtl_research.config import WorldConfig
from qmtl_research.errors import ConfigError, InputError
from qmtl_research.paths import params_dir
from qmtl_research.yamlio import line_of, load_yaml, validate

Severity = Literal["blocking", "soft", "info"]
Owner = Literal["quant", "risk", "ops"]
STAGES = ("backtest", "paper", "live")
#: QMTL's recommended_stage labels, from least to most advanced
STAGE_LABELS = ("backtest_only", "paper_only", "paper_ok_live_candidate")
#: keys of ``default_profile_by_stage`` that stand for each of our stages (first match wins)
STAGE_KEYS = {"backtest": ("backtest_only", "backtest"), "paper": ("paper_only", "paper"),
              "live": ("live_only", "live", "paper_ok_live_candidate")}

#: (profile section, policy key) -> (metric path, "min" | "max")
THRESHOLDS: dict[str, dict[str, tuple[str, str]]] = {
    "data_currency": {"max_lag_days": ("diagnostics.data_lag_days", "max")},
    "sample": {"min_effective_years": ("sample.effective_history_years", "min"),
               "min_trades_total": ("sample.n_trades_total", "min"),
               "min_trades_per_year": ("sample.n_trades_per_year", "min"),
               "min_regime_coverage": ("sample.regime_coverage", "min")},
    "performance": {"sharpe_min": ("returns.sharpe", "min"),
                    "max_dd_max": ("returns.max_drawdown", "max"),
                    "gain_to_pain_min": ("returns.gain_to_pain_ratio", "min"),
                    "sortino_min": ("returns.sortino_ratio", "min"),
                    "time_under_water_max": ("returns.time_under_water_ratio", "max"),
                    "var_p01_max": ("returns.var_p01", "max"),
                    "es_p01_max": ("returns.es_p01", "max")},
    "robustness": {"dsr_min": ("robustness.deflated_sharpe_ratio", "min"),
                   "psr_min": ("robustness.probabilistic_sharpe_ratio", "min"),
                   "sharpe_first_half_min": ("robustness.sharpe_first_half", "min"),
                   "sharpe_second_half_min": ("robustness.sharpe_second_half", "min"),
                   "cv_sharpe_mean_min": ("robustness.cv_sharpe_mean", "min"),
                   "cv_sharpe_std_max": ("robustness.cv_sharpe_std", "max")},
    "risk": {"adv_utilization_p95_max": ("risk.adv_utilization_p95", "max"),
             "participation_rate_p95_max": ("risk.participation_rate_p95", "max"),
             "incremental_var_99_max": ("risk.incremental_var_99", "max"),
             "incremental_es_99_max": ("risk.incremental_es_99", "max")},
    # extended layers (top-level policy keys)
    "portfolio": {"incremental_var_99_max": ("risk.incremental_var_99", "max"),
                  "incremental_es_99_max": ("risk.incremental_es_99", "max")},
    "benchmark": {"sharpe_uplift_min": ("benchmark.sharpe_uplift", "min"),
                  "max_dd_improvement_min": ("benchmark.max_drawdown_improvement", "min"),
                  "es_improvement_min": ("benchmark.es_improvement", "min")},
    "paper_shadow_consistency": {"min_sharpe_ratio": ("live.live_vs_backtest_sharpe_ratio", "min"),
                                 "max_dd_ratio_max": ("live.max_drawdown_ratio", "max")},
    "benchmark_performance": {"sharpe_uplift_min": ("benchmark.sharpe_uplift", "min"),
                              "max_dd_improvement_min": ("benchmark.max_drawdown_improvement", "min"),
                              "es_improvement_min": ("benchmark.es_improvement", "min")},
}

#: profile keys QMTL's engine knows (qmtl/services/worldservice/policy_engine.py, ``*Profile``
#: models), in its field order; QMTL keys its thresholds by the metric's leaf name
QMTL_PROFILE_KEYS: dict[str, tuple[str, ...]] = {
    "sample": ("min_effective_years", "min_trades_total"),
    "performance": ("sharpe_min", "max_dd_max", "gain_to_pain_min"),
    "robustness": ("dsr_min",),
    "risk": ("adv_utilization_p95_max", "participation_rate_p95_max"),
}
#: profile sections in the order QMTL merges their thresholds (``ValidationProfile.to_thresholds``);
#: ``data_currency`` (our extension, ``max_lag_days``) comes last
PROFILE_SECTIONS = ("sample", "performance", "robustness", "risk", "data_currency")
#: QMTL's five core rules, always emitted in this order
CORE_RULES = ("data_currency", "sample", "performance", "risk_constraint", "robustness")

#: default (severity, owner) of every rule, as in QMTL's engine
RULE_DEFAULTS: dict[str, tuple[str, str]] = {
    "data_currency": ("blocking", "ops"), "sample": ("soft", "quant"), "performance": ("blocking", "quant"),
    "risk_constraint": ("blocking", "risk"), "robustness": ("soft", "quant"),
    "cohort": ("soft", "quant"), "portfolio": ("blocking", "risk"), "benchmark": ("soft", "quant"),
    "stress": ("blocking", "risk"), "paper_shadow_consistency": ("soft", "quant"),
    "live_monitoring": ("blocking", "risk"),
    "forecast_error": ("blocking", "quant"), "rating_accuracy": ("blocking", "quant"),
    "var_backtest": ("blocking", "risk"), "benchmark_performance": ("soft", "quant"),
    "performance_targets": ("soft", "quant"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Section(_Strict):
    severity: Severity | None = None
    owner: Owner | None = None

    def thresholds(self, section: str) -> list[tuple[str, str, str, float]]:
        """[(policy key, metric path, 'min'|'max', bound)] of the bounds that are set."""
        out = []
        for key, (path, kind) in THRESHOLDS.get(section, {}).items():
            value = getattr(self, key, None)
            if value is not None:
                out.append((key, path, kind, float(value)))
        return out


def _section_model(name: str, extra: dict[str, Any] | None = None) -> type[_Section]:
    fields: dict[str, Any] = {key: (float | None, None) for key in THRESHOLDS[name]}
    fields.update(extra or {})
    return create_model(f"{name.title().replace('_', '')}Section", __base__=_Section, **fields)


DataCurrencySection = _section_model("data_currency")
SampleSection = _section_model("sample")
PerformanceSection = _section_model("performance")
RobustnessSection = _section_model("robustness", {
    # QMTL: |sharpe_first_half - sharpe_second_half| above this fails robustness
    "cv_sharpe_gap_max": (float | None, None)})
RiskSection = _section_model("risk")
PortfolioSection = _section_model("portfolio")
BenchmarkSection = _section_model("benchmark")
BenchmarkPerformanceSection = _section_model("benchmark_performance")
PaperShadowSection = _section_model("paper_shadow_consistency", {
    "stages": (list[Literal["backtest", "paper", "live"]], ["paper", "live"])})


class ValidationProfile(_Strict):
    """One profile: ``validation_profiles.<name>``; each section maps onto one rule."""

    data_currency: DataCurrencySection | None = None
    sample: SampleSection | None = None
    performance: PerformanceSection | None = None
    robustness: RobustnessSection | None = None
    risk: RiskSection | None = None


class TopK(_Strict):
    metric: str = "sharpe"
    k: int = Field(ge=1)


class Correlation(_Strict):
    max: float = Field(ge=-1, le=1)


class Hysteresis(_Strict):
    metric: str = "sharpe"
    enter: float
    exit: float


class Selection(_Strict):
    """Batch selection (QMTL's policy engine): thresholds first, then top_k of the
    candidates, then correlation, then hysteresis. Part of the risk_constraint rule."""

    top_k: TopK | None = None
    correlation: Correlation | None = None
    hysteresis: Hysteresis | None = None


class CohortSection(_Section):
    """Cohort (the batch evaluated together): size and median Sharpe of the cohort, and the
    share of it failing blocking rules."""

    min_size: int = Field(2, ge=1)
    sharpe_median_min: float | None = None
    max_fail_share: float | None = Field(None, ge=0, le=1)


class StressSection(_Section):
    """Bounds on stress losses (``metrics.stress.<scenario>``, positive loss fractions)."""

    max_loss: float | None = None
    scenarios: dict[str, float] = Field(default_factory=dict)


class LiveMonitoringSection(_Section):
    """Bounds on the live period's metrics over ``window_days`` (``metrics.live``)."""

    window_days: Literal[30, 60, 90] = 90
    sharpe_min: float | None = None
    max_dd_max: float | None = None
    es_p01_max: float | None = None
    min_live_vs_backtest_sharpe_ratio: float | None = None
    stages: list[Literal["backtest", "paper", "live"]] = Field(default_factory=lambda: ["live"])


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
    live_promotion: LivePromotion = Field(default_factory=LivePromotion)


class ForecastErrorRule(_Section):
    """Stage 1: the champion's (the model under validation) forecast error must not exceed the
    **best** challenger's by more than ``max_relative_gap`` (0 = champion at least as good).
    ``challengers``: the models to compare with; None (default) = every other stage-1 model the
    run recorded (GARCH, LSTM, naive, EWMA, GJR-GARCH, HAR, ...). Reads volatility/table2."""

    champion: str = "GARCH-LSTM"
    challengers: list[str] | None = None
    metric: Literal["RMSE", "MSE"] = "RMSE"
    max_relative_gap: float = Field(0.0, ge=0)


class RatingAccuracyRule(_Section):
    """Stage 2: best SVC accuracy minus the regulatory-rule accuracy >= ``min_margin_vs_rule``
    (fractions). Reads rating/summary."""

    min_margin_vs_rule: float = 0.0
    min_accuracy: float | None = None
    min_margin_vs_persistence: float | None = None


class VarBacktestRule(_Section):
    """Basel traffic-light zone of the VaR backtest (risk/backtest, or the fund-level backtests of
    volatility/var_backtests): ``pass_zones`` pass, ``warn_zones`` warn, any other zone fails; with
    ``min_es_p_value`` each ES test of ``es_tests`` (Acerbi-Szekely ``z1_p``/``z2_p``,
    McNeil-Frey ``mf_p``, Du-Escanciano ``de_u_p``/``de_c_p``) fails below it."""

    pass_zones: list[Literal["green", "yellow", "red"]] = Field(default_factory=lambda: ["green"])
    warn_zones: list[Literal["green", "yellow", "red"]] = Field(default_factory=lambda: ["yellow"])
    #: ES backtests (``models.var_backtest.es_<test>``): each p-value below ``min_es_p_value`` fails
    min_es_p_value: float | None = Field(None, gt=0, lt=1)
    es_tests: list[Literal["z1_p", "z2_p", "mf_p", "de_u_p", "de_c_p"]] = Field(default_factory=lambda: ["z2_p"])


class PerformanceTargetsRule(_Section):
    """The audit layer's performance targets (audit seed, "주요 지표 설명"): Sharpe > 1,
    Sortino > 1.5, max drawdown < 20 %, win rate > 50 %, profit factor > 1.5, alpha > 0.

    Reads ``metrics.audit_performance.{sharpe_ratio, sortino_ratio, max_drawdown (positive loss
    fraction), win_rate (fraction), profit_factor, alpha (annualised fraction)}``. The bounds are
    **strict**, as the seed writes them (a value exactly on a target misses it), unlike QMTL's
    inclusive thresholds. Only the keys that are set are checked."""

    sharpe_min: float | None = None
    sortino_min: float | None = None
    max_dd_max: float | None = None
    win_rate_min: float | None = None
    profit_factor_min: float | None = None
    alpha_min: float | None = None

    #: policy key -> (metric path, "min" | "max"); strict bounds
    TARGETS: ClassVar[dict[str, tuple[str, str]]] = {
        "sharpe_min": ("audit_performance.sharpe_ratio", "min"),
        "sortino_min": ("audit_performance.sortino_ratio", "min"),
        "max_dd_max": ("audit_performance.max_drawdown", "max"),
        "win_rate_min": ("audit_performance.win_rate", "min"),
        "profit_factor_min": ("audit_performance.profit_factor", "min"),
        "alpha_min": ("audit_performance.alpha", "min"),
    }

    def targets(self) -> list[tuple[str, str, str, float]]:
        """[(policy key, metric path, 'min'|'max', bound)] of the targets that are set."""
        return [(k, path, kind, float(getattr(self, k))) for k, (path, kind) in self.TARGETS.items()
                if getattr(self, k) is not None]


class ResearchModelRules(_Strict):
    """qmtl-research extension (not part of QMTL's format): rules for this project's own models,
    fed by the results earlier notebooks recorded for the same run."""

    forecast_error: ForecastErrorRule | None = None
    rating_accuracy: RatingAccuracyRule | None = None
    var_backtest: VarBacktestRule | None = None
    benchmark_performance: BenchmarkPerformanceSection | None = None
    performance_targets: PerformanceTargetsRule | None = None


class Policy(_Strict):
    """A QMTL world policy (plus ``research_model_rules``)."""

    validation_profiles: dict[str, ValidationProfile] = Field(min_length=1)
    default_profile_by_stage: dict[Literal["backtest_only", "paper_only", "live_only", "paper_ok_live_candidate",
                                           "backtest", "paper", "live"], str] = Field(default_factory=dict)
    selection: Selection | None = None
    cohort: CohortSection | None = None
    portfolio: PortfolioSection | None = None
    benchmark: BenchmarkSection | None = None
    stress: StressSection | None = None
    paper_shadow_consistency: PaperShadowSection | None = None
    live_monitoring: LiveMonitoringSection | None = None
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
        if name not in self.validation_profiles:
            raise ConfigError(f"unknown validation profile '{name}'",
                              fix=f"use one of: {', '.join(self.validation_profiles)}")
        return self.validation_profiles[name]


def check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise InputError(f"unknown stage '{stage}'", where="--stage / stage field",
                         fix=f"use one of: {', '.join(STAGES)}")
    return stage


def canonical_json(obj: Any) -> str:
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
