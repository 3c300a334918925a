"""`qmtl-research events ...`: query and export the append-only event log."""
from __future__ import annotations

from pathlib import Path

import typer

events_app = typer.Typer(no_args_is_help=True, help="Validation events (evaluation_run_created, "
                         "evaluation_run_updated, validation_profile_changed; QMTL: EvaluationRunCreated, "
                         "EvaluationRunUpdated, ValidationProfileChanged).")
TYPE_HELP = "event type, ours or QMTL's spelling (evaluation_run_updated or EvaluationRunUpdated)"


def _filters(event_type, world, strategy):
    from qmtl_research.governance.events import event_type_of

    return {"event_type": event_type_of(event_type), "world_id": world, "strategy_id": strategy}


@events_app.command("list")
def list_cmd(event_type: str = typer.Option(None, "--type", help=TYPE_HELP), world: str = typer.Option(None, "--world"),
             strategy: str = typer.Option(None, "--strategy"), store_url: str = typer.Option(None, "--store-url")):
    """List events (oldest first)."""
    from qmtl_research.store import EvaluationStore
    from qmtl_research.governance.events import events_frame

    frame = events_frame(EvaluationStore.open(store_url), **_filters(event_type, world, strategy))
    typer.echo(frame.drop(columns=["payload"]).to_string(index=False) if len(frame) else "no events")


@events_app.command("export")
def export_cmd(output: Path = typer.Option(None, "--output", "-o", help="JSON-lines file (default: stdout)"),
               event_type: str = typer.Option(None, "--type", help=TYPE_HELP), world: str = typer.Option(None, "--world"),
               strategy: str = typer.Option(None, "--strategy"), store_url: str = typer.Option(None, "--store-url")):
    """Export events as JSON lines (one object per line, keys sorted), each with
    ``qmtl_event_type``, QMTL's name of the event."""
    from qmtl_research.store import EvaluationStore
    from qmtl_research.governance.events import export_jsonl

    store = EvaluationStore.open(store_url)
    filters = _filters(event_type, world, strategy)
    if output is None:
        for line in export_jsonl(store, None, **filters):
            typer.echo(line)
    else:
        n = export_jsonl(store, output, **filters)
        typer.echo(f"{n} event(s) -> {output}", err=True)


@events_app.command("follow")
def follow_cmd(consumer: str = typer.Option("state-view", "--consumer", help="consumer name (its offset is stored)"),
               once: bool = typer.Option(False, "--once", help="handle what is pending, then stop"),
               poll: float = typer.Option(1.0, "--poll", help="seconds between polls (SQLite) / LISTEN timeouts"),
               idle_timeout: float = typer.Option(None, "--idle-timeout",
                                                  help="stop after this many seconds without an event"),
               store_url: str = typer.Option(None, "--store-url")):
    """Consume the event log from this consumer's stored offset: deep validation on
    EvaluationRunCreated, re-judgement on ValidationProfileChanged, the state view on every
    event (at least once, idempotent; resumable after a kill). PostgreSQL: LISTEN/NOTIFY; SQLite: polling."""
    from qmtl_research.store import EvaluationStore
    from qmtl_research.governance.stream import Consumer

    def echo(ev, revisions):
        typer.echo(f"{ev['id']} {ev['event_type']}" + "".join(f"\n  + {r}" for r in revisions))

    c = Consumer(EvaluationStore.open(store_url), consumer, poll_s=poll, on_event=echo)
    try:
        res = c.follow(once=once, idle_timeout=idle_timeout)
    except KeyboardInterrupt:
        res = None
    typer.echo(f"consumer {consumer}: offset {c.offset}" + (f", {res.handled} event(s) handled" if res else ""),
               err=True)


@events_app.command("state")
def state_cmd(world: str = typer.Option(None, "--world"), store_url: str = typer.Option(None, "--store-url")):
    """The state view the consumer keeps (one row per world and strategy)."""
    import pandas as pd

    from qmtl_research.store import EvaluationStore
    from qmtl_research.governance.stream import state_frame

    f = state_frame(EvaluationStore.open(store_url), world).drop(columns=["detail", "note", "updated_at"])
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        typer.echo(f.to_string(index=False) if len(f) else "empty state view (run `qmtl-research events follow --once`)")


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")
