"""The main job: strategy + world -> stages (package) -> stored, evaluated run -> notebooks
(papermill views) -> versioned report.

``run_report("demo")`` (``make report STRATEGY=demo``):

1. validates the strategy, world and model card (params/), every stage's parameters (against
   the stage's settings model and the notebook's own parameters cell) and the model-card
   version, before anything is written;
2. loads the universe once and fingerprints that panel;
3. allocates ``reports/<strategy>/<world>/<version>/`` (never reused) and creates the
   EvaluationRun (status created -> running) with a snapshot of the configuration;
4. runs every stage in the package (:func:`qmtl_research.pipeline.run_strategy`): each stage
   writes its results section, the validation stage evaluates (freezes) the run;
5. executes the strategy's notebooks and ``notebooks/report.ipynb`` as views of the stored run,
   side by side with papermill, into ``<version>/notebooks/`` (the committed notebooks are never
   written); a failing notebook stops the others at once;
6. renders the report to PDF and HTML (Quarto when available, else pandoc + typst), writes
   ``manifest.json`` (inputs with hashes and git state) and registers the report.

``no_notebooks=True`` (``qmtl-research report run --no-notebooks``) stops after step 4: the
run is stored and judged, with the same verdict, and no report is rendered.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from qmtl_research.config import StrategyConfig, load_strategy, load_strategy_card, load_world, strategies_of_world
from qmtl_research.errors import ConfigError, NotebookFailed
from qmtl_research.paths import project_root
from qmtl_research.reporting.manifest import build_manifest, file_hashes, write_manifest
from qmtl_research.reporting.notebooks import Execution, check_parameters, execute_all, store_env
from qmtl_research.reporting.render import render_notebook
from qmtl_research.reporting.versions import allocate_version
from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.store.repository import new_run_id

REPORT_NOTEBOOK = "report"


@dataclass
class ReportResult:
    strategy_id: str
    world_id: str
    version: str | None
    run_id: str
    folder: Path | None
    pdf: Path | None = None
    html: Path | None = None
    status: str | None = None
    engine: str | None = None
    timings: dict = field(default_factory=dict)
    verdict: str | None = None


def rounded_timings(timings: dict[str, float]) -> dict[str, float]:
    """The manifest's ``timings``: ``{step: seconds}`` (2 decimals) plus ``total``.

    Steps are ``load_data``, ``stage <name>`` (each stage of the package), ``notebook <name>``,
    ``notebooks`` (all views, side by side) and ``render``. Wall-clock seconds on the machine that
    ran the report: they live in the manifest and the run output only, never in the report text
    (whose numbers the regression test compares)."""
    out = {k: round(v, 2) for k, v in timings.items()}
    out["total"] = round(sum(v for k, v in timings.items() if not k.startswith("notebook ")), 2)
    return out


def timings_line(timings: dict[str, float]) -> str:
    """One line of the run output: every step's seconds and the total."""
    t = rounded_timings(timings)
    return "  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in t.items())


def resolve_world(cfg: StrategyConfig, world: str | None) -> str:
    if world is None:
        return cfg.default_world
    if world not in cfg.worlds:
        raise ConfigError(f"strategy '{cfg.strategy_id}' is not registered in world '{world}'",
                          where=f"params/strategies/{cfg.strategy_id}.yaml: worlds",
                          fix=f"use one of: {', '.join(cfg.worlds)} (or add the world to the strategy's worlds)")
    return world


def runs_fingerprint(cfg: StrategyConfig) -> str:
    """sha256 of a QMTL-import strategy's run exports (its whole input)."""
    u = cfg.universe
    h = hashlib.sha256(json.dumps({"universe": u.model_dump()}, sort_keys=True, default=str).encode())
    if u.runs_path:
        path = Path(u.runs_path)
        path = path if path.is_absolute() else project_root() / path
        for f in (sorted(path.glob("*.json")) if path.is_dir() else [path]):
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def synthetic_note(cfg: StrategyConfig) -> str:
    """The banner text of a report on synthetic data (funds or a portfolio)."""
    if cfg.universe.source == "synthetic":
        return ("every number in this report comes from a deterministic synthetic fund universe generated to mirror "
                "the paper's population; these are not real funds.")
    return "every number in this report comes from deterministic synthetic prices; this is not market data."


def check_strategy(cfg: StrategyConfig) -> list:
    """Validate every step's parameters before anything runs: the stage's settings model and the
    notebook's parameters cell (papermill) must both know every key. Returns the parameters."""
    from qmtl_research.pipeline import validate_strategy_stages

    source = f"params/strategies/{cfg.strategy_id}.yaml"
    params = validate_strategy_stages(cfg, source)
    for i, step in enumerate(cfg.notebooks):
        check_parameters(step.notebook, step.parameters, f"{source}: notebooks[{i}].parameters")
    return params


def run_report(strategy: str, world: str | None = None, *, store_url: str | None = None,
               engine: str = "auto", progress: bool = True, echo=print, no_notebooks: bool = False) -> ReportResult:
    from qmtl_research.pipeline import load_inputs, run_strategy
    from qmtl_research.reporting.inputs import check_model_card_version, inputs_manifest
    from qmtl_research.store.context import RunContext

    cfg = load_strategy(strategy)
    world_id = resolve_world(cfg, world)
    world_cfg = load_world(world_id)
    card = load_strategy_card(cfg)
    stage_params = check_strategy(cfg)
    store = EvaluationStore.open(store_url)
    card_sha = check_model_card_version(store, cfg, card)
    inputs_info = inputs_manifest(cfg, world_cfg)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    inputs = load_inputs(cfg)
    timings["load_data"] = time.perf_counter() - t0

    if no_notebooks:
        version, folder = None, None
    else:
        version, folder = allocate_version(strategy, world_id)
    run_id = new_run_id(strategy)
    key = RunKey(world_id, strategy, run_id)
    params = {"strategy": cfg.model_dump(mode="json"), "world": world_id,
              "stages": [p.model_dump(mode="json") for p in stage_params]}
    from qmtl_research.pipeline import data_results

    data = data_results(inputs)
    fingerprint = data.description["fingerprint"] if data is not None else runs_fingerprint(cfg)
    store.create_run(key, stage=cfg.stage, risk_tier=world_cfg.risk_tier,
                     model_card_version=card.model_card_version, policy_version=world_cfg.policy_version,
                     params=params, data_fingerprint=fingerprint)
    store.start_run(key)
    echo(f"run {key} -> {folder or '(no report: --no-notebooks)'}")
    artifacts = (folder / "artifacts") if folder else None
    if artifacts:
        artifacts.mkdir()
    ctx = RunContext(strategy, world_id, run_id, store_url, artifacts, config=cfg, store=store, panel=inputs.panel)
    try:
        outcome = run_strategy(cfg, ctx=ctx, inputs=inputs, progress=progress, echo=echo)
    except Exception as exc:
        store.fail_run(key, f"{type(exc).__name__}: {exc}")
        raise
    timings.update({f"stage {k}": v for k, v in outcome.timings.items()})
    run = store.get_run(key)
    summary = run.get("summary") or {}
    verdict = str(summary.get("status", run["status"])).upper()
    echo(f"  verdict: {verdict} (recommended stage {summary.get('recommended_stage', 'n/a')})")
    if no_notebooks:
        echo(timings_line(timings))
        return ReportResult(strategy, world_id, None, run_id, None, status=run["status"], timings=timings,
                            verdict=verdict)

    previous = store.list_reports(strategy, world_id)
    nb_dir = folder / "notebooks"
    nb_dir.mkdir()
    # the store URL (which may hold a password) reaches the kernels through their environment,
    # never as a notebook parameter: papermill writes parameters into the executed notebooks
    base = {"strategy": strategy, "world": world_id, "run_id": run_id, "run_dir": str(artifacts)}
    kernel_env = store_env(store_url)
    steps = [(s.notebook, s.parameters) for s in cfg.notebooks]
    executions = [Execution(name, nb_dir / f"{i + 1:02d}_{name}.ipynb", {**base, **p}, env=kernel_env)
                  for i, (name, p) in enumerate(steps)]
    report_nb = nb_dir / f"{len(steps) + 1:02d}_{REPORT_NOTEBOOK}.ipynb"
    executions.append(Execution(REPORT_NOTEBOOK, report_nb, {
        **base, "version": version, "previous_run_id": previous[-1]["run_id"] if previous else None,
        "previous_version": previous[-1]["version"] if previous else None}, env=kernel_env))
    t = time.perf_counter()
    try:
        timings.update({f"notebook {k}": v for k, v in execute_all(executions, echo=echo).items()})
    except NotebookFailed as exc:
        # the run was evaluated before the views ran: the verdict stays and the failure is
        # appended to its history, so that nothing is lost
        store.append_history(key, "ex_post_failure", {"reason": "a notebook failed after the run was evaluated",
                                                      "error": str(exc)}, actor="qmtl-research report run")
        raise
    timings["notebooks"] = time.perf_counter() - t

    t = time.perf_counter()
    metadata = {
        "title": "Validation Report",
        "subtitle": cfg.title,
        "qmtl": {"strategy": strategy, "world": world_id, "version": version, "verdict": verdict,
                 "stage": summary.get("recommended_stage", "n/a"),
                 "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "synthetic": bool(cfg.synthetic), "synthetic_note": synthetic_note(cfg)},
    }
    outputs = render_notebook(report_nb, folder / "_build", metadata, engine=engine)
    pdf = folder / "validation_report.pdf"
    html = folder / "validation_report.html"
    outputs["pdf"].rename(pdf)
    if "html" in outputs:
        outputs["html"].rename(html)
    timings["render"] = time.perf_counter() - t

    manifest = build_manifest(
        strategy_id=strategy, world_id=world_id, version=version, run_id=run_id,
        run_status=run["status"], summary=summary, data_fingerprint=fingerprint,
        parameters={"strategy": cfg.model_dump(mode="json"),
                    "steps": [dict(notebook=n, parameters=p) for n, p in steps],
                    "stages": params["stages"]},
        policy_version=run.get("policy_version"), ruleset_hash=run.get("ruleset_hash"),
        model_card_version=card.model_card_version, model_card_sha256=card_sha,
        seeds={"strategy": cfg.seed, "universe": cfg.universe.seed},
        run_ids=[run_id], previous_version=previous[-1]["version"] if previous else None,
        inputs=inputs_info, render_engine=outputs["engine"], store=store.url,
        timings=rounded_timings(timings))
    echo(timings_line(timings))
    manifest["git"]["dirty"] = bool(manifest["git"].get("dirty")) or inputs_info["dirty"]
    manifest["files"] = file_hashes(folder)
    write_manifest(folder, manifest)
    store.register_report(strategy_id=strategy, world_id=world_id, version=version, run_id=run_id,
                          path=str(folder), files=manifest["files"], manifest=manifest)
    return ReportResult(strategy, world_id, version, run_id, folder, pdf, html if html.exists() else None,
                        run["status"], outputs["engine"], timings, verdict)


def strategies_for(world: str) -> list[str]:
    found = strategies_of_world(world)
    if not found:
        raise ConfigError(f"no strategy is registered in world '{world}'", fix="check params/strategies/*.yaml worlds")
    return found
