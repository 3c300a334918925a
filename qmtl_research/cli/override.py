"""`qmtl-research override`: record an override on an evaluated run (history revision)."""
from __future__ import annotations

import typer


def override_cmd(
    world: str = typer.Option(..., "--world", help="world id"),
    strategy: str = typer.Option(..., "--strategy", help="strategy id"),
    run: str = typer.Option(..., "--run", help="run id"),
    status: str = typer.Option(..., "--status", help="approved | rejected | revoked"),
    actor: str = typer.Option(None, "--actor", help="who decides (required; not the model's owner or developer)"),
    role: str = typer.Option(None, "--role", help="RACI role signed under: A or R for 'Override approval' in "
                             "params/governance/raci.yaml (required)"),
    reason: str = typer.Option(None, "--reason", help="why (required for approved)"),
    store_url: str = typer.Option(None, "--store-url", help="Evaluation Store URL (default QMTL_STORE_URL / SQLite)"),
):
    """Approve / reject / revoke a run's verdict. Needs --actor and --role (a RACI role that may sign
    'Override approval'); the actor may not be the model's owner or developer (model card). Approved
    needs a reason (timestamped now); the review is due in 30 days for live runs or high-tier
    client-critical worlds, else 90. Refusals exit 2 and write nothing."""
    from qmtl_research.config import load_world
    from qmtl_research.store import EvaluationStore, RunKey
    from qmtl_research.governance.overrides import record_override

    world_cfg = load_world(world)
    store = EvaluationStore.open(store_url)
    key = RunKey(world, strategy, run)
    rev = record_override(store, key, world_cfg, status=status, actor=actor, reason=reason, role=role)
    payload = store.history(key)[rev - 1]["payload"]
    typer.echo(f"override {status} recorded on {key} as revision {rev} (signed by {payload['override_actor']} as "
               f"{payload['override_role']} ({payload['override_role_letter']})); review due "
               f"{payload['review_due'][:10]} ({payload['review_window_days']} days)")


def register(app: typer.Typer) -> None:
    app.command("override")(override_cmd)
