"""`qmtl-research findings add|update|close|list`: the validators' findings log
(rules: :mod:`qmtl_research.governance.findings`; storage: the insert-only ``findings`` table).

Exit codes: 0 when the change is recorded (or was recorded before: nothing written again),
2 when it is malformed or refused (the reason on stderr, nothing written)."""
from __future__ import annotations

import json

import typer

findings_app = typer.Typer(no_args_is_help=True, help="Findings log: add, update, close, list (append-only).")


def _store(url):
    from qmtl_research.store import EvaluationStore

    return EvaluationStore.open(url)


def _echo_revision(rec, verb: str) -> None:
    r = rec.record
    head = (f"{verb} finding {r['finding_id']} (revision {r['revision']})" if rec.recorded else
            f"finding {r['finding_id']} revision {r['revision']} was recorded before (same change); nothing written")
    typer.echo("\n".join([
        head,
        f"  run:         {r['world_id']}/{r['strategy_id']}/{r['run_id']}"
        + (f" (report {r['report_version']})" if r["report_version"] else ""),
        f"  title:       {r['title']}",
        f"  severity:    {r['severity']}   status: {r['status']}",
        f"  owner:       {r['owner']}   due: {r['due_date']}",
        f"  remediation: {r['remediation']}",
        f"  evidence:    {r['evidence'] or '(none)'}",
        f"  by:          {r['actor']}: {r['note']}"]))


@findings_app.command("add")
def add_cmd(
    run: str = typer.Option(..., "--run", help="run id the finding is raised on"),
    world: str = typer.Option(None, "--world", help="world id (needed when the run id is not unique)"),
    strategy: str = typer.Option(None, "--strategy", help="strategy id (needed when the run id is not unique)"),
    title: str = typer.Option(None, "--title", help="what is wrong, in one line (required)"),
    severity: str = typer.Option(None, "--severity", help="high | medium | low (required; high blocks approve)"),
    owner: str = typer.Option(None, "--owner", help="who remediates (required)"),
    due: str = typer.Option(None, "--due", help="remediation due date YYYY-MM-DD (required)"),
    remediation: str = typer.Option(None, "--remediation", help="what must be done (required)"),
    evidence: str = typer.Option(None, "--evidence", help="link: https:// URL or a path relative to the project"),
    report_version: str = typer.Option(None, "--report-version", help="report version it was read in (e.g. v0001)"),
    actor: str = typer.Option(None, "--actor", help="who records it (required)"),
    note: str = typer.Option(None, "--note", help="context (default: 'raised')"),
    store_url: str = typer.Option(None, "--store-url", help="Evaluation Store URL (default QMTL_STORE_URL / SQLite)"),
):
    """Raise a finding on an evaluated run (status open)."""
    from qmtl_research.cli.approve import _resolve_run
    from qmtl_research.governance.findings import add_finding

    store = _store(store_url)
    key = _resolve_run(store, run, world, strategy)
    rec = add_finding(store, key, title=title, severity=severity, owner=owner, due=due, remediation=remediation,
                      actor=actor, evidence=evidence, report_version=report_version, note=note)
    _echo_revision(rec, "raised")


@findings_app.command("update")
def update_cmd(
    finding_id: str = typer.Argument(..., help="finding id, e.g. F-0001"),
    actor: str = typer.Option(None, "--actor", help="who records the change (required)"),
    note: str = typer.Option(None, "--note", help="why it changes (required)"),
    status: str = typer.Option(None, "--status", help="open | in_progress (closing: `findings close`)"),
    severity: str = typer.Option(None, "--severity", help="high | medium | low"),
    owner: str = typer.Option(None, "--owner"),
    due: str = typer.Option(None, "--due", help="YYYY-MM-DD"),
    remediation: str = typer.Option(None, "--remediation"),
    evidence: str = typer.Option(None, "--evidence", help="https:// URL or a path relative to the project"),
    title: str = typer.Option(None, "--title"),
    store_url: str = typer.Option(None, "--store-url"),
):
    """Record a change of a finding as a new revision (earlier revisions are kept as they are)."""
    from qmtl_research.governance.findings import update_finding

    rec = update_finding(_store(store_url), finding_id, actor=actor, note=note, title=title, severity=severity,
                         owner=owner, due=due, remediation=remediation, status=status, evidence=evidence)
    _echo_revision(rec, "updated")


@findings_app.command("close")
def close_cmd(
    finding_id: str = typer.Argument(..., help="finding id, e.g. F-0001"),
    actor: str = typer.Option(None, "--actor", help="who closes it (required)"),
    note: str = typer.Option(None, "--note", help="why it is closed (required)"),
    evidence: str = typer.Option(None, "--evidence", help="evidence of the remediation (required unless recorded)"),
    store_url: str = typer.Option(None, "--store-url"),
):
    """Close a finding (final): a closing note and evidence of the remediation."""
    from qmtl_research.governance.findings import close_finding

    _echo_revision(close_finding(_store(store_url), finding_id, actor=actor, note=note, evidence=evidence), "closed")


@findings_app.command("list")
def list_cmd(
    world: str = typer.Option(None, "--world"), strategy: str = typer.Option(None, "--strategy"),
    run: str = typer.Option(None, "--run", help="only findings raised on this run"),
    status: str = typer.Option("all", "--status", help="open (open or in progress) | closed | all"),
    history: bool = typer.Option(False, "--history", help="every revision, not only the latest"),
    output: str = typer.Option("text", "--output", help="text | json"),
    store_url: str = typer.Option(None, "--store-url"),
):
    """The findings (latest revision each, or every revision with --history)."""
    import pandas as pd

    from qmtl_research.errors import InputError
    from qmtl_research.store.codec import to_jsonable
    from qmtl_research.governance.findings import findings_frame

    if output not in ("text", "json"):
        raise InputError(f"unknown output format '{output}'", where="--output", fix="use text or json")
    if status not in ("open", "closed", "all"):
        raise InputError(f"unknown status filter '{status}'", where="--status", fix="use open, closed or all")
    frame = findings_frame(_store(store_url), world, strategy, run_id=run, status=None if status == "all" else status,
                           history=history)
    if output == "json":
        typer.echo(json.dumps(to_jsonable(frame.to_dict(orient="records")), indent=2, ensure_ascii=False))
        return
    if frame.empty:
        typer.echo("no findings")
        return
    cols = ["finding_id", "revision", "world_id", "strategy_id", "run_id", "severity", "status", "owner", "due_date",
            "overdue", "title", "evidence", "actor", "note"]
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_colwidth", 50):
        typer.echo(frame[cols].to_string(index=False))


def register(app: typer.Typer) -> None:
    app.add_typer(findings_app, name="findings")
