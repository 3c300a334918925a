"""`qmtl-research policy ...`: check, diff and governance invariants of world policies."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from qmtl_research.validation.compat import COMPAT_NOTE

policy_app = typer.Typer(no_args_is_help=True, help="World policies: check, diff, invariants.")


@policy_app.command("check")
def check_cmd(path: Path = typer.Argument(..., help="policy YAML")):
    """Validate a policy file (safe YAML, strict schema) and print, per stage, the profile and
    ruleset hash of this project and those QMTL's engine would use (--qmtl-compat)."""
    from qmtl_research.validation.policy import STAGES, file_version, load_policy, qmtl_ruleset_hash, ruleset_hash

    pol = load_policy(path)
    typer.echo(f"{path}: valid (version {file_version(path)})")
    for st in STAGES:
        prof, qprof = pol.profile_for_stage(st), pol.qmtl_profile_for_stage(st)
        typer.echo(f"  {st:8s} -> profile {prof:10s} {ruleset_hash(pol, prof)}")
        typer.echo(f"  {'':8s}    QMTL:   {qprof:10s} {qmtl_ruleset_hash(pol, qprof)}")


@policy_app.command("diff")
def diff_cmd(old: Path = typer.Argument(..., help="old policy YAML"), new: Path = typer.Argument(..., help="new policy YAML"),
             runs: Path = typer.Option(None, "--runs", help="QMTL run export or folder (each file one batch); "
                                       "default: the evaluated runs in the store"),
             world: str = typer.Option(None, "--world", help="store: only this world's runs"),
             stage: str = typer.Option(None, "--stage", help="backtest | paper | live (default: each run's stage)"),
             qmtl_compat: bool = typer.Option(False, "--qmtl-compat", help=COMPAT_NOTE),
             output: str = typer.Option("text", "--output", "-o", help="text | json"),
             store_url: str = typer.Option(None, "--store-url")):
    """Every run whose status or recommended stage changes from OLD to NEW (with selection and
    rule-status changes and QMTL's impact ratio); warns and exits 1 when more than 5 % of the
    runs change status (a CI gate), else exit 0."""
    import pandas as pd

    from qmtl_research.errors import InputError
    from qmtl_research.validation.diff import WARN_SHARE, policy_diff
    from qmtl_research.validation.policy import check_stage, file_version, load_policy
    from qmtl_research.validation.qmtl_runs import load_runs, run_files
    from qmtl_research.governance.runs import record_of

    if stage:
        check_stage(stage)
    a, b = load_policy(old), load_policy(new)
    if runs is not None:
        batches = [(f.name, load_runs(f)) for f in run_files(runs)]
    else:
        from qmtl_research.store import EvaluationStore

        rows = [r for r in EvaluationStore.open(store_url).list_runs(world_id=world, status="evaluated")]
        if not rows:
            raise InputError("no evaluated runs in the store to diff", fix="pass --runs FILE or record runs first")
        by_world: dict[str, list] = {}
        for r in rows:
            by_world.setdefault(r["world_id"], []).append(record_of(r))
        batches = sorted(by_world.items())
    d = policy_diff(a, b, batches, stage, old_version=file_version(old), new_version=file_version(new),
                    qmtl_compat=qmtl_compat)
    if output == "json":
        typer.echo(json.dumps(d.to_json(), indent=2))
    else:
        typer.echo(f"{d.n_runs} run(s); status changed: {d.n_status_changed} ({d.status_change_share:.1%}); "
                   f"status or stage changed: {d.n_changed}; QMTL impact ratio (any change): {d.impact_ratio:.1%}")
        ch = d.changed()
        if len(ch):
            with pd.option_context("display.width", 250, "display.max_columns", 20):
                typer.echo(ch.drop(columns=["status_changed", "changed", "affected"]).to_string(index=False))
    if d.warn:
        typer.secho(f"WARNING: {d.status_change_share:.1%} of runs change status (> {WARN_SHARE:.0%}): review the policy change",
                    err=True, fg=typer.colors.YELLOW)
        raise typer.Exit(1)


@policy_app.command("invariants")
def invariants_cmd(world: str = typer.Option(..., "--world"), store_url: str = typer.Option(None, "--store-url")):
    """QMTL invariants: latest live run passes under the current policy; high-tier client-critical
    worlds fail closed; approved overrides complete and within their review window. Exit 1 on a failure."""
    from qmtl_research.config import load_world
    from qmtl_research.store import EvaluationStore
    from qmtl_research.governance.invariants import check_invariants, invariants_frame

    items = check_invariants(EvaluationStore.open(store_url), load_world(world))
    typer.echo(invariants_frame(items).to_string(index=False))
    if any(i.status == "fail" for i in items):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
