"""The main job: strategy + world -> notebooks (papermill) -> stored run -> versioned report.

``run_report("demo")`` (``make report STRATEGY=demo``):

1. validates the strategy, world and model card (params/);
2. allocates ``reports/<strategy>/<world>/<version>/`` (never reused);
3. creates an EvaluationRun in the store (status created -> running);
4. executes the strategy's notebooks with papermill into ``<version>/notebooks/``
   (the committed notebooks are never written), each recording its results for
   the run; the validation notebook evaluates the run (then it is frozen);
5. executes ``notebooks/report.ipynb`` for the run and renders it to PDF and HTML
   (Quarto when available, else pandoc + typst);
6. writes ``manifest.json`` and registers the report (version + file hashes).

A failing notebook leaves its partially executed copy in the version folder,
marks the run failed and raises :class:`NotebookFailed` naming the cell.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from qmtl_research.config import (StrategyConfig, load_model_card, load_strategy, load_world,
                                  strategies_of_world)
from qmtl_research.errors import ConfigError, NotebookFailed
from qmtl_research.paths import notebooks_dir, project_root
from qmtl_research.reporting.manifest import build_manifest, file_hashes, write_manifest
from qmtl_research.reporting.render import render_notebook
from qmtl_research.reporting.versions import allocate_version
from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.store.repository import new_run_id

KERNEL = os.environ.get("QMTL_KERNEL", "qmtl-research")
REPORT_NOTEBOOK = "report"


@dataclass
class ReportResult:
    strategy_id: str
    world_id: str
    version: str
    run_id: str
    folder: Path
    pdf: Path | None = None
    html: Path | None = None
    status: str | None = None
    engine: str | None = None
    timings: dict = field(default_factory=dict)


def resolve_world(cfg: StrategyConfig, world: str | None) -> str:
    if world is None:
        return cfg.default_world
    if world not in cfg.worlds:
        raise ConfigError(f"strategy '{cfg.strategy_id}' is not registered in world '{world}'",
                          where=f"params/strategies/{cfg.strategy_id}.yaml: worlds",
                          fix=f"use one of: {', '.join(cfg.worlds)} (or add the world to the strategy's worlds)")
    return world


def data_fingerprint(cfg: StrategyConfig) -> str:
    """sha256 of the strategy's input data (panel sources) or of its data config."""
    u = cfg.universe
    if u.source in ("synthetic", "real", "file"):
        from qmtl_research.data.universe import load_universe

        return load_universe(u).fingerprint()
    payload = json.dumps({"universe": u.model_dump(), "portfolio": cfg.portfolio}, sort_keys=True, default=str)
    h = hashlib.sha256(payload.encode())
    if u.runs_path:
        path = Path(u.runs_path)
        path = path if path.is_absolute() else project_root() / path
        for f in (sorted(path.glob("*.json")) if path.is_dir() else [path]):
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def execute(notebook: str, out_path: Path, parameters: dict, progress: bool = False) -> None:
    """Run ``notebooks/<notebook>.ipynb`` with papermill into ``out_path``."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    src = notebooks_dir() / f"{notebook}.ipynb"
    if not src.is_file():
        raise ConfigError(f"notebook '{notebook}' does not exist", where=str(src),
                          fix="check the strategy's notebooks list")
    try:
        pm.execute_notebook(str(src), str(out_path), parameters=parameters, kernel_name=KERNEL,
                            progress_bar=progress, cwd=str(notebooks_dir()), log_output=False)
    except PapermillExecutionError as exc:
        raise NotebookFailed(
            f"notebook '{notebook}' failed in cell {exc.cell_index} (execution count {exc.exec_count}): "
            f"{exc.ename}: {exc.evalue}",
            where=f"{out_path} (partially executed copy)",
            fix="open that copy to see the traceback; fix the input or parameters and run again") from None


def step_groups(cfg: StrategyConfig) -> list[list[int]]:
    """Indices of the strategy's steps, grouped: consecutive ``concurrent`` steps form one group."""
    groups: list[list[int]] = []
    for i, step in enumerate(cfg.notebooks):
        if step.concurrent and groups and cfg.notebooks[groups[-1][-1]].concurrent:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def run_group(group: list[int], steps: list, nb_dir: Path, base: dict, timings: dict, progress: bool, echo) -> None:
    """Execute one group of steps (at the same time when there are several; each in its own kernel).
    All of them finish before the first failure, if any, is raised."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> None:
        name, params = steps[i]
        t = time.perf_counter()
        echo(f"  [{i + 1}/{len(steps) + 1}] {name}.ipynb" + (" (concurrent)" if len(group) > 1 else ""))
        execute(name, nb_dir / f"{i + 1:02d}_{name}.ipynb", {**base, **params}, progress=progress)
        timings[name] = time.perf_counter() - t

    if len(group) == 1:
        one(group[0])
        return
    with ThreadPoolExecutor(max_workers=len(group)) as pool:  # threads wait on kernel processes
        futures = [pool.submit(one, i) for i in group]
        errors = [f.exception() for f in futures]
    for err in errors:
        if err is not None:
            raise err


def run_report(strategy: str, world: str | None = None, *, store_url: str | None = None,
               engine: str = "auto", progress: bool = True, echo=print) -> ReportResult:
    cfg = load_strategy(strategy)
    world_id = resolve_world(cfg, world)
    world_cfg = load_world(world_id)
    card = load_model_card(cfg.model_card)
    store = EvaluationStore.open(store_url)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    fingerprint = data_fingerprint(cfg)
    timings["data_fingerprint"] = time.perf_counter() - t0

    version, folder = allocate_version(strategy, world_id)
    run_id = new_run_id(strategy)
    key = RunKey(world_id, strategy, run_id)
    params = {"strategy": cfg.model_dump(mode="json"), "world": world_id}
    store.create_run(key, stage=cfg.stage, risk_tier=world_cfg.risk_tier,
                     model_card_version=card.model_card_version, policy_version=world_cfg.policy_version,
                     params=params, data_fingerprint=fingerprint)
    store.start_run(key)
    echo(f"run {key} -> {folder}")
    nb_dir = folder / "notebooks"
    nb_dir.mkdir()
    artifacts = folder / "artifacts"
    artifacts.mkdir()
    base = {"strategy": strategy, "world": world_id, "run_id": run_id, "store_url": store_url,
            "run_dir": str(artifacts)}
    steps = [(s.notebook, s.parameters) for s in cfg.notebooks]
    try:
        for group in step_groups(cfg):
            run_group(group, steps, nb_dir, base, timings, progress and len(group) == 1, echo)
    except NotebookFailed as exc:
        if store.get_run(key)["status"] == "evaluated":
            # a step evaluated (froze) the run before another one failed: the verdict stays, the
            # failure is appended to its history so that nothing is lost
            store.append_history(key, "ex_post_failure", {"reason": "a notebook failed after the run was evaluated",
                                                          "error": str(exc)}, actor="qmtl-research report run")
        else:
            store.fail_run(key, str(exc))
        raise

    previous = store.list_reports(strategy, world_id)
    t = time.perf_counter()
    echo(f"  [{len(steps) + 1}/{len(steps) + 1}] {REPORT_NOTEBOOK}.ipynb")
    report_nb = nb_dir / f"{len(steps) + 1:02d}_{REPORT_NOTEBOOK}.ipynb"
    execute(REPORT_NOTEBOOK, report_nb, {**base, "version": version,
                                          "previous_run_id": previous[-1]["run_id"] if previous else None,
                                          "previous_version": previous[-1]["version"] if previous else None},
            progress=progress)
    timings[REPORT_NOTEBOOK] = time.perf_counter() - t

    t = time.perf_counter()
    run = store.get_run(key)
    summary = run.get("summary") or {}
    metadata = {
        "title": "Validation Report",
        "subtitle": cfg.title,
        "qmtl": {"strategy": strategy, "world": world_id, "version": version,
                 "verdict": str(summary.get("status", run["status"])).upper(),
                 "stage": summary.get("recommended_stage", "n/a"),
                 "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "synthetic": bool(cfg.synthetic)},
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
        parameters={"strategy": cfg.model_dump(mode="json"), "steps": [dict(notebook=n, parameters=p) for n, p in steps]},
        policy_version=run.get("policy_version"), ruleset_hash=run.get("ruleset_hash"),
        model_card_version=card.model_card_version, seeds={"strategy": cfg.seed, "universe": cfg.universe.seed},
        run_ids=[run_id], previous_version=previous[-1]["version"] if previous else None,
        render_engine=outputs["engine"], store=store.url, timings_s={k: round(v, 2) for k, v in timings.items()})
    manifest["files"] = file_hashes(folder)
    write_manifest(folder, manifest)
    store.register_report(strategy_id=strategy, world_id=world_id, version=version, run_id=run_id,
                          path=str(folder), files=manifest["files"], manifest=manifest)
    return ReportResult(strategy, world_id, version, run_id, folder, pdf, html if html.exists() else None,
                        run["status"], outputs["engine"], timings)


def strategies_for(world: str) -> list[str]:
    found = strategies_of_world(world)
    if not found:
        raise ConfigError(f"no strategy is registered in world '{world}'", fix="check params/strategies/*.yaml worlds")
    return found
