"""What the validation notebook does, as one package call: gather evidence for a run,
judge it under the world policy, and produce the frames the Validation Report shows.

* Strategies with a fund panel or a portfolio: the evidence is the results the earlier
  notebooks recorded for the same run (:mod:`~qmtl_research.validation.evidence`); in
  exploration mode (no run id) nothing was recorded, so only what the panel itself gives
  (the sample block) is evaluated and the model rules report their evidence missing.
* ``universe.source: qmtl_runs``: every run of the QMTL export(s) is judged under the world
  policy, each file as one batch; the strategy's own verdict is whether every imported run
  gets the verdict its fixture name announces (:func:`fixture_expectation`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from qmtl_research.errors import ConfigError
from qmtl_research.paths import params_dir, project_root
from qmtl_research.validation.engine import RunOutcome, evaluate_batch, outcomes_frame, rules_frame
from qmtl_research.validation.evidence import benchmark_comparison, blocks_from_results
from qmtl_research.validation.health import health_from_outcomes
from qmtl_research.validation.metrics import SHARPE_CONVENTION, metric_coverage_ratio
from qmtl_research.validation.policy import Policy, policy_of_world, ruleset_hash
from qmtl_research.validation.qmtl_runs import RunRecord, load_runs, run_files



#: the "recommended stage" of a QMTL-import strategy: it checks verdicts, it promotes nothing
COMPATIBILITY_STAGE = "none (compatibility check)"


def fixture_expectation(strategy_id: str) -> str:
    """The verdict QMTL's fixture names announce: ``good_*``/``borderline_floor``/
    ``borderline_close`` are selected; ``bad_*``, ``known_bad_*`` and
    ``borderline_hysteresis_blocked`` are rejected (the ``good_stable_*`` runs of the bad set
    are good). Unknown names give ``unknown``."""
    if strategy_id.startswith("good_") or strategy_id in ("borderline_floor", "borderline_close"):
        return "selected"
    if strategy_id.startswith(("bad_", "known_bad_")) or strategy_id == "borderline_hysteresis_blocked":
        return "rejected"
    return "unknown"


@dataclass
class Assessment:
    strategy_id: str
    world_id: str
    stage: str
    policy: Policy
    policy_version: str
    policy_source: str
    profile: str
    ruleset_hash: str
    model_card_version: str
    outcomes: list[RunOutcome]
    evidence: str
    metrics: dict[str, Any] = field(default_factory=dict)
    verdicts: pd.DataFrame | None = None      # qmtl_runs: one row per imported run
    rules: pd.DataFrame | None = None
    status: str = "fail"
    recommended_stage: str = "backtest_only"
    notes: list[str] = field(default_factory=list)

    # ------------------------------------------------------------- frames
    def thresholds(self) -> pd.DataFrame:
        """Bounds of the profile in force (inclusive), one row per key."""
        prof = self.policy.profile(self.profile)
        rows = []
        for section in ("data_currency", "sample", "performance", "robustness", "risk"):
            cfg = getattr(prof, section)
            if cfg is not None:
                for key, path, kind, bound in cfg.thresholds(section):
                    rows.append({"section": section, "key": key, "metric": path, "bound": kind, "value": bound})
        return pd.DataFrame(rows, columns=["section", "key", "metric", "bound", "value"])

    def summary(self) -> dict[str, Any]:
        return {"status": self.status, "recommended_stage": self.recommended_stage, "profile": self.profile,
                "policy_version": self.policy_version, "ruleset_hash": self.ruleset_hash,
                "model_card_version": self.model_card_version, "stage": self.stage, "evidence": self.evidence,
                "sharpe_convention": SHARPE_CONVENTION}

    def health(self) -> dict[str, Any]:
        h = health_from_outcomes(self.outcomes, self.world_id)
        row = h.iloc[0].to_dict() if len(h) else {}
        return {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in row.items()}

    def benchmark_comparison(self) -> pd.DataFrame:
        return benchmark_comparison(self.metrics)

    def extended(self) -> pd.DataFrame:
        """Extended layers and model rules (everything that is not a v1 core rule)."""
        if self.rules is None or self.rules.empty:
            return pd.DataFrame(columns=["rule", "status", "severity", "owner", "reason_code", "reason"])
        core = {"data_currency", "sample", "performance", "risk_constraint", "robustness"}
        return self.rules[~self.rules["rule"].isin(core)].reset_index(drop=True)

    def metrics_table(self) -> pd.DataFrame:
        rows = []
        for block, values in self.metrics.items():
            if isinstance(values, dict):
                for k, v in values.items():
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        rows.append({"block": block, "metric": k, "value": float(v)})
        return pd.DataFrame(rows, columns=["block", "metric", "value"])

    def validation_payload(self) -> dict[str, Any]:
        if len(self.outcomes) == 1 and self.verdicts is None:
            payload = self.outcomes[0].validation_payload()
        else:
            payload = {"policy_version": self.policy_version, "ruleset_hash": self.ruleset_hash,
                       "profile": self.profile, "stage": self.stage,
                       "results": {f"{o.run.strategy_id}/{o.run.run_id}": o.to_json() for o in self.outcomes},
                       "rules_configured": sum(o.rules_configured for o in self.outcomes),
                       "rules_executed": sum(o.rules_executed for o in self.outcomes),
                       "validation_error_count": sum(len(o.errors) for o in self.outcomes)}
        payload["evidence"] = self.evidence
        return payload


def _runs_path(ctx) -> Path:
    rp = ctx.strategy.universe.runs_path
    if not rp:
        raise ConfigError("universe.source is qmtl_runs but universe.runs_path is not set",
                          where=f"strategy {ctx.strategy_id}", fix="set runs_path (e.g. params/qmtl)")
    p = Path(rp)
    if p.is_absolute():
        return p
    for base in (project_root(), params_dir()):   # project-root relative (as the report runner reads it)
        if (base / p).exists():
            return base / p
    raise ConfigError(f"universe.runs_path '{rp}' does not exist", where=f"strategy {ctx.strategy_id}",
                      fix="point it at a QMTL run export file or a folder of *.json exports (relative to the checkout)")


def assess(ctx, results: dict | None = None) -> Assessment:
    """Judge the run of ``ctx`` (a :class:`~qmtl_research.store.context.RunContext`).

    ``results``: the results to judge, ``(section, name) -> value`` as recorded (default: what
    the run recorded, ``ctx.results()``). In exploration mode nothing was recorded: panel and
    portfolio strategies are then judged on the data description alone (the sample block), and
    the model rules find their evidence missing."""
    world = ctx.world
    policy, source = policy_of_world(world)
    stage = ctx.strategy.stage
    profile = policy.profile_for_stage(stage)
    base = dict(strategy_id=ctx.strategy_id, world_id=ctx.world_id, stage=stage, policy=policy,
                policy_version=world.policy_version, policy_source=source, profile=profile,
                ruleset_hash=ruleset_hash(policy, profile), model_card_version=ctx.model_card.model_card_version)
    if ctx.strategy.universe.source == "qmtl_runs":
        return _assess_qmtl_runs(ctx, base)
    results = dict(ctx.results() if results is None else results)
    notes = []
    evidence = "recorded results of this run"
    if not any(s != "data" for s, _ in results):
        evidence = "exploration mode: no stage results"
        notes.append("Exploration mode (no run id): no stage recorded results, so the model rules find their "
                     "evidence missing and report it per validation.on_missing_metric.")
    if not any(s == "data" for s, _ in results):
        results.update({("data", k): v for k, v in describe_inputs(ctx).items()})
    metrics = blocks_from_results(results)
    rec = RunRecord(ctx.strategy_id, ctx.run_id or "exploration", metrics, ctx.world_id, stage)
    outcome = evaluate_batch([rec], policy, stage, policy_version=world.policy_version)[0]
    return Assessment(**base, outcomes=[outcome], evidence=evidence, metrics=metrics, rules=rules_frame(outcome),
                      status=outcome.status, recommended_stage=outcome.recommended_stage, notes=notes)


def describe_inputs(ctx):
    """The ``data`` section of the strategy's inputs (a fund panel or a portfolio), as a dict."""
    from qmtl_research.data.describe import describe_panel, describe_portfolio
    from qmtl_research.stages import input_kind

    if input_kind(ctx.strategy) == "panel":
        return dict(describe_panel(ctx.panel()).items())
    from qmtl_research.data.portfolio import load_portfolio

    return dict(describe_portfolio(load_portfolio(ctx.strategy)).items())


def _assess_qmtl_runs(ctx, base: dict) -> Assessment:
    outcomes: list[RunOutcome] = []
    verdict_rows, rule_rows = [], []
    for f in run_files(_runs_path(ctx)):
        outs = evaluate_batch(load_runs(f), base["policy"], base["stage"], policy_version=base["policy_version"])
        outcomes += outs
        frame = outcomes_frame(outs)
        frame.insert(0, "batch", f.name)
        frame["expected"] = [fixture_expectation(s) for s in frame["strategy_id"]]
        frame["agrees"] = [(e == "selected") == bool(s) if e != "unknown" else None
                           for e, s in zip(frame["expected"], frame["selected"])]
        verdict_rows.append(frame)
        ok = all(x is not False for x in frame["agrees"])
        rule_rows.append({"rule": f"qmtl_compat[{f.stem}]", "status": "pass" if ok else "fail", "severity": "blocking",
                          "owner": "risk", "reason_code": "verdicts_match" if ok else "verdicts_differ",
                          "reason": f"{len(frame)} run(s): {int(frame['selected'].sum())} selected, "
                                    f"{int((~frame['selected']).sum())} rejected; "
                                    f"{int((frame['agrees'] == True).sum())} agree with the fixture names"})  # noqa: E712
    verdicts = pd.concat(verdict_rows, ignore_index=True)
    rules = pd.DataFrame(rule_rows, columns=["rule", "status", "severity", "owner", "reason_code", "reason"])
    status = "fail" if (rules["status"] == "fail").any() else "pass"
    from qmtl_research.validation.engine import recommended_stage

    counts = verdicts["status"].value_counts()
    metrics = {"qmtl_import": {"n_runs": float(len(verdicts)), "n_selected": float(verdicts["selected"].sum()),
                               **{f"n_{k}": float(counts.get(k, 0)) for k in ("pass", "warn", "fail")},
                               "mean_metric_coverage_ratio": float(sum(metric_coverage_ratio(o.run.metrics)
                                                                       for o in outcomes) / len(outcomes))}}
    return Assessment(**base, outcomes=outcomes, evidence="QMTL run export(s) " + str(_runs_path(ctx).name),
                      metrics=metrics, verdicts=verdicts, rules=rules, status=status,
                      # a compatibility check promotes nothing: the imported runs keep their own stages
                      recommended_stage=COMPATIBILITY_STAGE,
                      notes=["Each export file is one batch (selection acts across it); bounds inclusive."])
