"""`qmtl-research events ...`: query and export the append-only event log."""
from __future__ import annotations

from pathlib import Path

import typer

events_app = typer.Typer(no_args_is_help=True, help="Validation events (evaluation_run_created, "
                         "evaluation_run_updated, validation_profile_changed; QMTL: EvaluationRunCreated, "
                         "EvaluationRunUpdated, ValidationProfileChanged).")
TYPE_HELP = "event type, ours or QMTL's spelling (evaluation_run_updated or EvaluationRunUpdated)"


def _filters(event_type, world, strategy):
    from qmtl_research.validation.events import event_type_of

    return {"event_type": event_type_of(event_type), "world_id": world, "strategy_id": strategy}


@events_app.command("list")
def list_cmd(event_type: str = typer.Option(None, "--type", help=TYPE_HELP), world: str = typer.Option(None, "--world"),
             strategy: str = typer.Option(None, "--strategy"), store_url: str = typer.Option(None, "--store-url")):
    """List events (oldest first)."""
    from qmtl_research.store import EvaluationStore
    from qmtl_research.validation.events import events_frame

    frame = events_frame(EvaluationStore.open(store_url), **_filters(event_type, world, strategy))
    typer.echo(frame.drop(columns=["payload"]).to_string(index=False) if len(frame) else "no events")


@events_app.command("export")
def export_cmd(output: Path = typer.Option(None, "--output", "-o", help="JSON-lines file (default: stdout)"),
               event_type: str = typer.Option(None, "--type", help=TYPE_HELP), world: str = typer.Option(None, "--world"),
               strategy: str = typer.Option(None, "--strategy"), store_url: str = typer.Option(None, "--store-url")):
    """Export events as JSON lines (one object per line, keys sorted), each with
    ``qmtl_event_type``, QMTL's name of the event."""
    from qmtl_research.store import EvaluationStore
    from qmtl_research.validation.events import export_jsonl

    store = EvaluationStore.open(store_url)
    filters = _filters(event_type, world, strategy)
    if output is None:
        for line in export_jsonl(store, None, **filters):
            typer.echo(line)
    else:
        n = export_jsonl(store, output, **filters)
        typer.echo(f"{n} event(s) -> {output}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")
