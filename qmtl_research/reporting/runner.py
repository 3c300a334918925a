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
   writes its results section, the validation stage evaluates (freezes) the run; a stage whose
   inputs, code and seed did not change since an earlier run is read back from the stage cache
   (:mod:`qmtl_research.reporting.stage_cache`), and the run's provenance, its output, its
   manifest and the report's Appendix B say so and name the run that computed it;
5. executes the strategy's notebooks and ``notebooks/report.ipynb`` as views of the stored run
   with papermill, into ``<version>/notebooks/`` (the committed notebooks are never written), in
   two warm kernels side by side (:mod:`qmtl_research.reporting.notebooks`: the report in one,
   the stage views one after the other in the other); a failing notebook stops the others at once;
   A strategy that declares ``live:`` then records its live run, judged against this backtest
   run (:func:`qmtl_research.governance.live.record_live_run`); the report's "Live monitoring"
   part of section 4 shows it;
6. renders the report to PDF and HTML (Quarto when available, else pandoc + typst) as soon as its
   notebook is done (the stage views finish meanwhile), writes
   ``manifest.json`` (inputs with hashes and git state) and registers the report.

``no_notebooks=True`` (``qmtl-research report run --no-notebooks``) stops after step 4: the
run is stored and judged, with the same verdict, and no report is rendered.

Over 400 lines because it is the one job that orders a report run (checks, lease, stages, notebooks,
render, store) and closes it on failure; each step is a short function.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from qmtl_research.config import StrategyConfig, load_strategy, load_strategy_card, load_world, strategies_of_world
from qmtl_research.errors import ConfigError, NotebookFailed
from qmtl_research.paths import project_root
from qmtl_research.reporting.manifest import build_manifest, file_hashes, write_manifest
from qmtl_research.reporting.notebooks import Execution, check_parameters, execute_all, start_all, store_env
from qmtl_research.reporting.render import markdown_literal, render_notebook
from qmtl_research.reporting.versions import allocate_version
from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.store.leases import OPEN_STATUSES, close_folder, current_lease, fail_with_results, reap
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


def live_inputs(cfg: StrategyConfig):
    """(daily returns, their source) of a strategy that declares ``live:``, checked before anything
    is written (a backtest strategy; returns spanning the live start); None without ``live:``."""
    if cfg.live is None:
        return None
    from qmtl_research.governance.live import check_live_period, live_returns

    if cfg.stage != "backtest":
        raise ConfigError(f"strategy '{cfg.strategy_id}' declares live: but its stage is '{cfg.stage}'",
                          where=f"params/strategies/{cfg.strategy_id}.yaml: stage",
                          fix="a live period is judged against a backtest run: use stage: backtest or remove live:")
    series, source = live_returns(cfg)
    check_live_period(cfg, series, source)
    return series, source


def run_report(strategy: str, world: str | None = None, *, store_url: str | None = None,
               engine: str = "auto", progress: bool = True, echo=print, no_notebooks: bool = False,
               recompute: bool = False) -> ReportResult:
    """Run ``strategy`` in ``world`` into a stored, evaluated run and (unless ``no_notebooks``) a
    versioned report (the steps are in this module's docstring).

    A stage whose inputs, code and seed did not change since an earlier run is read back from the
    stage cache (:mod:`qmtl_research.reporting.stage_cache`) and the run records, prints and reports
    which run computed it; ``recompute=True`` (``--recompute``, or ``QMTL_STAGE_CACHE=0``) computes
    every stage.
    """
    from qmtl_research.pipeline import load_inputs
    from qmtl_research.reporting.inputs import check_model_card_version, inputs_manifest
    from qmtl_research.governance.approvals import starting_stage

    cfg = load_strategy(strategy)
    world_id = resolve_world(cfg, world)
    world_cfg = load_world(world_id)
    card = load_strategy_card(cfg)
    starting_stage(cfg.strategy_id)    # an unknown lifecycle_stage is refused now, not first at approve
    stage_params = check_strategy(cfg)
    if "validation" not in [s.notebook for s in cfg.notebooks]:
        # a run nobody judges would stay open for ever (and get a report): refused before anything
        raise ConfigError(f"strategy '{cfg.strategy_id}' has no validation stage: its run would never be closed",
                          where=f"params/strategies/{cfg.strategy_id}.yaml: notebooks",
                          fix="end the notebooks list with `- notebook: validation`")
    store = EvaluationStore.open(store_url)
    store.require_writable()           # a read-only store is refused before any folder or computation
    for dead in reap(store, world_id=world_id, strategy_id=strategy, actor="the next report run"):
        echo(f"closed abandoned run {dead.key}: {dead.error}")
    card_sha = check_model_card_version(store, cfg, card)
    inputs_info = inputs_manifest(cfg, world_cfg)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    inputs = load_inputs(cfg)
    timings["load_data"] = time.perf_counter() - t0
    live = live_inputs(cfg)

    if no_notebooks:
        version, folder = None, None
    else:
        version, folder = allocate_version(strategy, world_id)
    run_id = new_run_id(strategy)
    key = RunKey(world_id, strategy, run_id)
    from qmtl_research.reporting.provenance import run_provenance

    params = {"strategy": cfg.model_dump(mode="json"), "world": world_id,
              "stages": [p.model_dump(mode="json") for p in stage_params],
              "provenance": run_provenance(inputs_info, card_sha)}
    from qmtl_research.pipeline import data_results

    data = data_results(inputs)
    fingerprint = data.description["fingerprint"] if data is not None else runs_fingerprint(cfg)
    cache = open_stage_cache(cfg, stage_params, fingerprint, inputs_info, run_id, recompute=recompute)
    params["provenance"]["stages"] = cache.provenance()     # which stages are reused (Appendix B)
    params["lease"] = current_lease(folder)      # `runs reap` / the next writer close it if this process dies
    try:
        store.create_run(key, stage=cfg.stage, risk_tier=world_cfg.risk_tier,
                         model_card_version=card.model_card_version, policy_version=world_cfg.policy_version,
                         params=params, data_fingerprint=fingerprint)
    except BaseException:
        close_folder(folder, f"run {key} could not be created")
        raise
    with guard_run(store, key, folder):
        return _run_open(store, key, cfg, card, world_cfg, inputs, folder, version, params, inputs_info, timings,
                         echo=echo, progress=progress, no_notebooks=no_notebooks, engine=engine,
                         store_url=store_url, fingerprint=fingerprint, card_sha=card_sha, live=live, cache=cache)


def open_stage_cache(cfg: StrategyConfig, stage_params: list, fingerprint: str | None, inputs_info: dict,
                     run_id: str, *, recompute: bool = False):
    """The run's :class:`~qmtl_research.reporting.stage_cache.StageCache`, every stage looked up
    now (before the run is created, so that its provenance says which stages are reused)."""
    from qmtl_research.reporting import stage_cache

    keys = stage_cache.stage_keys(cfg, stage_params, fingerprint, inputs_info["files"])
    if recompute:
        return stage_cache.StageCache(run_id, keys, write=False,
                                      misses={s: "--recompute: every stage computed" for s in keys})
    return stage_cache.StageCache.open(run_id, keys)


def _run_open(store, key, cfg, card, world_cfg, inputs, folder, version, params, inputs_info, timings, *, echo,
              progress, no_notebooks, engine, store_url, fingerprint, card_sha, live=None, cache=None) -> ReportResult:
    """Stages, notebooks, render and registration of the created run ``key`` (guarded by the caller)."""
    from qmtl_research.pipeline import run_strategy
    from qmtl_research.store.context import RunContext

    strategy, world_id, run_id = key.strategy_id, key.world_id, key.run_id
    store.start_run(key)
    echo(f"run {key} -> {folder or '(no report: --no-notebooks)'}")
    artifacts = (folder / "artifacts") if folder else None
    if artifacts:
        artifacts.mkdir()
    ctx = RunContext(strategy, world_id, run_id, store_url, artifacts, config=cfg, store=store, panel=inputs.panel)
    outcome = run_strategy(cfg, ctx=ctx, inputs=inputs, progress=progress, echo=echo,   # a failure: guard_run
                           cache=cache)
    timings.update({f"stage {k}": v for k, v in outcome.timings.items()})
    run = store.get_run(key)
    summary = run.get("summary") or {}
    verdict = str(summary.get("status", run["status"])).upper()
    echo(f"  verdict: {verdict} (recommended stage {summary.get('recommended_stage', 'n/a')})")
    if live is not None:
        from qmtl_research.governance.live import record_live_run

        live_key = record_live_run(store, cfg, world_cfg, live[0], source=live[1], backtest_run_id=run_id)
        live_run = store.get_run(live_key)
        echo(f"  live run {live_key.run_id} ({live_run['params']['live_start']}..{live_run['params']['live_end']}): "
             f"verdict {str((live_run.get('summary') or {}).get('status', '')).upper()}, demotion candidate "
             f"{live_run['params']['demotion_candidate']}")
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
    running = start_all(executions, echo=echo)

    def finish_notebooks() -> None:
        try:
            timings.update({f"notebook {k}": v for k, v in running.join().items()})
        except NotebookFailed as exc:
            # the run was evaluated before the views ran: the verdict stays and the failure is
            # appended to its history, so that nothing is lost
            store.append_history(key, "ex_post_failure", {"reason": "a notebook failed after the run was evaluated",
                                                          "error": str(exc)}, actor="qmtl-research report run")
            raise
        timings["notebooks"] = time.perf_counter() - t

    # the report is rendered as soon as its notebook is done, while the stage views finish beside it
    if not running.wait(executions[-1]):
        finish_notebooks()                 # a notebook failed: raises NotebookFailed
    try:
        return _render_and_register(
            cfg, store, key, run, version, folder, report_nb, previous, engine, timings, echo=echo,
            finish_notebooks=finish_notebooks, data_fingerprint=fingerprint,
            parameters={"strategy": cfg.model_dump(mode="json"),
                        "steps": [dict(notebook=n, parameters=p) for n, p in steps], "stages": params["stages"]},
            model_card_version=card.model_card_version, model_card_sha256=card_sha, inputs=inputs_info,
            stages=params["provenance"]["stages"])
    except BaseException:
        running.stop()                     # e.g. the render failed: no view keeps running
        raise


def _render_and_register(cfg: StrategyConfig, store, key: RunKey, run: dict, version: str, folder: Path,
                         report_nb: Path, previous: list[dict], engine: str, timings: dict, *, echo=print,
                         finish_notebooks=None, **manifest_fields) -> ReportResult:
    """Render the executed report notebook into ``folder``, write its manifest (``manifest_fields``:
    data_fingerprint, parameters, model card version and sha256, inputs) and register the version.

    ``finish_notebooks``: called after the render and before the manifest (the other notebooks of
    the run, still running while the report renders, must be done before their files are hashed)."""
    summary = run.get("summary") or {}
    verdict = str(summary.get("status", run["status"])).upper()
    t = time.perf_counter()
    metadata = {
        "title": "Validation Report",
        "subtitle": markdown_literal(cfg.title, one_line=True),   # user text: shown, never interpreted
        "qmtl": {"strategy": key.strategy_id, "world": key.world_id, "version": version, "verdict": verdict,
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
    if finish_notebooks is not None:
        finish_notebooks()

    inputs = manifest_fields["inputs"]
    manifest = build_manifest(
        strategy_id=key.strategy_id, world_id=key.world_id, version=version, run_id=key.run_id,
        run_status=run["status"], summary=summary,
        policy_version=run.get("policy_version"), ruleset_hash=run.get("ruleset_hash"),
        seeds={"strategy": cfg.seed, "universe": cfg.universe.seed},
        run_ids=[key.run_id], previous_version=previous[-1]["version"] if previous else None,
        render_engine=outputs["engine"], store=store.url,
        timings=rounded_timings(timings), **manifest_fields)
    echo(timings_line(timings))
    manifest["git"]["dirty"] = bool(manifest["git"].get("dirty")) or bool(inputs.get("dirty"))
    manifest["files"] = file_hashes(folder)
    write_manifest(folder, manifest)
    store.register_report(strategy_id=key.strategy_id, world_id=key.world_id, version=version, run_id=key.run_id,
                          path=str(folder), files=manifest["files"], manifest=manifest)
    return ReportResult(key.strategy_id, key.world_id, version, key.run_id, folder, pdf,
                        html if html.exists() else None, run["status"], outputs["engine"], timings, verdict)


def render_signed(strategy: str, world: str | None, run_id: str, *, store_url: str | None = None,
                  engine: str = "auto", echo=print) -> ReportResult:
    """Render the report of an already evaluated run again, as a new version registered for the
    same run: nothing is recomputed (the run, its results and its verdict are read from the store),
    and the report's approval block and Sign-off show the decisions recorded on that run since
    (``qmtl-research report sign``). The manifest's inputs are the run's recorded provenance.

    Raises
    ------
    InputError
        The run is not in the store or not evaluated.
    """
    from qmtl_research.errors import InputError

    cfg = load_strategy(strategy)
    world_id = resolve_world(cfg, world)
    store = EvaluationStore.open(store_url)
    key = RunKey(world_id, strategy, run_id)
    run = store.get_run(key)
    if run["status"] != "evaluated":
        raise InputError(f"run {key} is '{run['status']}', not evaluated: there is no verdict to sign",
                         where="qmtl-research report sign --run", fix="sign an evaluated run (qmtl-research runs list)")
    prov = (run.get("params") or {}).get("provenance") or {}
    previous = store.list_reports(strategy, world_id)
    version, folder = allocate_version(strategy, world_id)
    echo(f"run {key} (already evaluated) -> {folder}")
    nb_dir = folder / "notebooks"
    nb_dir.mkdir()
    report_nb = nb_dir / f"01_{REPORT_NOTEBOOK}.ipynb"
    execution = Execution(REPORT_NOTEBOOK, report_nb, {
        "strategy": strategy, "world": world_id, "run_id": run_id, "run_dir": None, "version": version,
        "previous_run_id": previous[-1]["run_id"] if previous else None,
        "previous_version": previous[-1]["version"] if previous else None}, env=store_env(store_url))
    t = time.perf_counter()
    timings = {f"notebook {k}": v for k, v in execute_all([execution], echo=echo).items()}
    timings["notebooks"] = time.perf_counter() - t
    params = run.get("params") or {}
    return _render_and_register(
        cfg, store, key, run, version, folder, report_nb, previous, engine, timings, echo=echo,
        data_fingerprint=run.get("data_fingerprint"),
        parameters={"strategy": params.get("strategy"), "stages": params.get("stages")},
        model_card_version=run.get("model_card_version"), model_card_sha256=prov.get("model_card_sha256"),
        inputs={"files": prov.get("inputs") or [], "dirty": bool(prov.get("dirty"))}, stages=prov.get("stages"))


SIGNAL_REASONS = {signal.SIGINT: "interrupted (SIGINT / Ctrl-C)", signal.SIGTERM: "terminated (SIGTERM)"}


def _close_after_failure(store: EvaluationStore, key: RunKey, folder: Path | None, reason: str) -> str:
    """Close the run as failed if it is still open (its partial results stay, belonging to a failed
    run) and leave no empty or unexplained version folder. Returns the reason stored."""
    if store.get_run(key)["status"] in OPEN_STATUSES:
        reason = fail_with_results(store, key, reason)
    close_folder(folder, f"run {key}: {reason}")
    return reason


@contextmanager
def guard_run(store: EvaluationStore, key: RunKey, folder: Path | None):
    """While the run ``key`` is open, a failure never leaves it ``running``:

    * SIGINT (Ctrl-C) and SIGTERM: the handler closes the run and its folder at once and ends the
      process (exit 130 / 143). It does not raise into the interrupted code: an exception raised
      there can be swallowed (a garbage-collection callback of jax, a ``__del__``) and the run
      would go on;
    * any exception: the run is closed as failed (if still open) and the exception goes on;
    * ``kill -9`` cannot be caught: :func:`qmtl_research.store.leases.reap` closes that run.
    """
    main = threading.current_thread() is threading.main_thread()

    def on_signal(signum, _frame):
        code = 128 + signum
        try:
            _close_after_failure(store, key, folder, SIGNAL_REASONS.get(signum, f"signal {signum}"))
            print(f"\nrun {key} closed as failed: {SIGNAL_REASONS.get(signum)}", file=sys.stderr, flush=True)
        except BaseException as exc:   # the lease lets `runs reap` close it; say why it was not closed now
            print(f"\nrun {key} could not be closed ({type(exc).__name__}: {exc}); "
                  "`qmtl-research runs reap` will close it", file=sys.stderr, flush=True)
        finally:
            os._exit(code)

    previous = {sig: signal.signal(sig, on_signal) for sig in SIGNAL_REASONS} if main else {}
    try:
        yield
    except BaseException as exc:
        try:
            _close_after_failure(store, key, folder, f"{type(exc).__name__}: {exc}")
        except Exception as cleanup:      # the original failure is what the user must see; say both
            exc.add_note(f"while closing run {key} after this failure: {type(cleanup).__name__}: {cleanup}")
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def strategies_for(world: str) -> list[str]:
    found = strategies_of_world(world)
    if not found:
        raise ConfigError(f"no strategy is registered in world '{world}'", fix="check params/strategies/*.yaml worlds")
    return found
