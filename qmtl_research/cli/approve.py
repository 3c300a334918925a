"""`qmtl-research approve` and `qmtl-research approvals list`: approval decisions on evaluated
runs and the lifecycle stage they derive (rules: :mod:`qmtl_research.governance.approvals`).

Exit codes: 0 when a decision is recorded (or was recorded before: nothing written again),
2 when it is refused or malformed (the reason on stderr, nothing written)."""
from __future__ import annotations

import json

import typer

approvals_app = typer.Typer(no_args_is_help=True, help="Approval decisions and lifecycle stages.")


def _store(url):
    from qmtl_research.store import EvaluationStore

    return EvaluationStore.open(url)


def _resolve_run(store, run_id: str, world: str | None, strategy: str | None):
    """The RunKey of ``run_id`` (narrowed by world / strategy when given)."""
    from qmtl_research.errors import InputError, StoreError
    from qmtl_research.store import RunKey

    rows = [r for r in store.list_runs(world, strategy) if r["run_id"] == run_id]
    if not rows:
        scope = " ".join(f"{k} {v}" for k, v in (("in world", world), ("of strategy", strategy)) if v)
        raise StoreError(f"no run '{run_id}' {scope}".strip(), where=store.url,
                         fix="list runs with `qmtl-research runs list`")
    if len(rows) > 1:
        raise InputError(f"run id '{run_id}' exists for several strategies / worlds: "
                         + ", ".join(f"{r['world_id']}/{r['strategy_id']}" for r in rows),
                         where="--run", fix="add --world and --strategy")
    return RunKey(rows[0]["world_id"], rows[0]["strategy_id"], run_id)


def _world_config(world_id: str):
    from qmtl_research.config import list_worlds, load_world

    return load_world(world_id) if world_id in list_worlds() else None


def approve_cmd(
    run: str = typer.Option(..., "--run", help="run id of the evaluated run decided on"),
    world: str = typer.Option(None, "--world", help="world id (needed when the run id is not unique)"),
    strategy: str = typer.Option(None, "--strategy", help="strategy id (needed when the run id is not unique)"),
    decision: str = typer.Option(..., "--decision", help="approve | reject | conditional"),
    actor: str = typer.Option(None, "--actor", help="who signs (required)"),
    role: str = typer.Option(None, "--role", help="RACI role signed under (params/governance/raci.yaml; required)"),
    reason: str = typer.Option(None, "--reason", help="why (required)"),
    conditions: str = typer.Option(None, "--conditions", help="the conditions (required for conditional)"),
    review_by: str = typer.Option(None, "--review-by", help="conditional: review date YYYY-MM-DD (default: the "
                                  "world's override review window, 30 or 90 days)"),
    report_version: str = typer.Option(None, "--report-version", help="Validation Report version decided on "
                                       "(e.g. v0001; required when signing the report)"),
    idempotency_key: str = typer.Option(None, "--idempotency-key", help="default: derived from the decision"),
    store_url: str = typer.Option(None, "--store-url", help="Evaluation Store URL (default QMTL_STORE_URL / SQLite)"),
):
    """Record an approval decision on an evaluated run; it moves the strategy's lifecycle stage in
    the run's world along params/governance/lifecycle.yaml, signed by a role that is A or R for the
    transition's RACI activity. Append-only: decisions are never changed; a later decision follows."""
    from qmtl_research.governance.approvals import record_decision
    from qmtl_research.governance.raci import load_governance

    store = _store(store_url)
    key = _resolve_run(store, run, world, strategy)
    gov = load_governance()
    rec = record_decision(store, key, decision=decision, actor=actor, role=role, reason=reason,
                          conditions=conditions, review_by=review_by, report_version=report_version,
                          world=_world_config(key.world_id), idempotency_key=idempotency_key, governance=gov)
    r = rec.record
    stage = gov.lifecycle.stage(r["stage_after"])
    head = (f"recorded decision #{r['seq']}" if rec.recorded else
            f"decision #{r['seq']} was recorded before (same decision); nothing written")
    lines = [f"{head} for {key.strategy_id} in {key.world_id}: {r['decision']}, {r['stage_before']} -> {r['stage_after']}",
             f"  run:      {key} (judged for {r['run_stage']}; verdict {r['verdict']}"
             + (f", approved override revision {r['override_revision']})" if r["override_revision"] else ")"),
             f"  signed:   {r['actor']} as {r['role']} ({r['role_letter']}) for '{r['activity']}'",
             f"  reason:   {r['reason']}"]
    if r["report_version"]:
        lines.append(f"  report:   {r['report_version']}")
    if r["decision"] == "conditional":
        lines.append(f"  conditions: {r['conditions']} (review by {r['review_by']})")
    lines.append(f"  lifecycle stage now: {stage.stage} ({stage.phase}; cleared for {stage.cleared_for or 'nothing'})")
    typer.echo("\n".join(lines))


def _block_text(block) -> str:
    import pandas as pd

    out = [f"{block.world_id} / {block.strategy_id}: lifecycle stage {block.current_stage} "
           f"({block.phase}; cleared for {block.cleared_for or 'nothing'})",
           f"  started at {block.starting_stage}: {block.starting_source}"]
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_colwidth", 60):
        if len(block.history):
            cols = ["seq", "timestamp", "run_id", "actor", "role", "decision", "transition", "reason", "conditions",
                    "review_by", "report_version"]
            out += ["  decisions:", block.history[cols].to_string(index=False)]
        else:
            out.append("  decisions: none recorded")
        if len(block.signers):
            out += ["  who may sign next:", block.signers.to_string(index=False)]
        else:
            out.append(f"  who may sign next: nobody ('{block.current_stage}' is final)")
    if block.conditions_in_force:
        c = block.conditions_in_force
        out.append(f"  conditions in force (#{c['seq']}): {c['conditions']}; review by {c['review_by']}"
                   + (" — OVERDUE" if c["overdue"] else ""))
    return "\n".join(out)


@approvals_app.command("list")
def list_cmd(strategy: str = typer.Option(None, "--strategy"), world: str = typer.Option(None, "--world"),
             output: str = typer.Option("text", "--output", help="text | json"),
             store_url: str = typer.Option(None, "--store-url")):
    """Per (world, strategy) with runs or decisions: the decision history, the current lifecycle
    stage (derived from the decisions) and who may sign the next decision (RACI letters)."""
    from qmtl_research.errors import InputError
    from qmtl_research.governance.approvals import strategy_block, tracked_strategies
    from qmtl_research.governance.raci import load_governance

    if output not in ("text", "json"):
        raise InputError(f"unknown output format '{output}'", where="--output", fix="use text or json")
    store, gov = _store(store_url), load_governance()
    blocks = [strategy_block(store, w, s, governance=gov) for w, s in tracked_strategies(store, world, strategy)]
    if output == "json":
        typer.echo(json.dumps([b.to_dict() for b in blocks], indent=2, ensure_ascii=False))
    else:
        typer.echo("\n\n".join(_block_text(b) for b in blocks) if blocks else "no runs or decisions")


def register(app: typer.Typer) -> None:
    app.command("approve")(approve_cmd)
    app.add_typer(approvals_app, name="approvals")
