"""`qmtl-research validate`: judge QMTL evaluation-run exports under a world policy."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from qmtl_research.validation.compat import COMPAT_NOTE


def validate_cmd(
    runs: Path = typer.Option(..., "--runs", help="QMTL run export (JSON list) or a folder of *.json exports; "
                              "each file is judged as one batch (top_k/hysteresis act across it)"),
    policy: Path = typer.Option(None, "--policy", help="QMTL policy YAML (e.g. params/policies/qmtl_sample_policy.yml)"),
    world: str = typer.Option(None, "--world", help="use the policy of params/worlds/<world>.yaml instead of --policy"),
    stage: str = typer.Option(None, "--stage", help="backtest | paper | live (default: each run's stage, else backtest)"),
    qmtl_compat: bool = typer.Option(False, "--qmtl-compat", help=COMPAT_NOTE),
    output: str = typer.Option("text", "--output", "-o", help="text | json"),
    details: bool = typer.Option(False, "--details", help="json: add reason, tags and details to each rule result"),
    prev_active: str = typer.Option("", "--prev-active", help="comma-separated strategy ids active before "
                                    "(hysteresis keeps them while metric >= exit)"),
    correlations: Path = typer.Option(None, "--correlations", help="CSV correlation matrix (strategy ids as index "
                                      "and columns) for selection.correlation; without it the limit is not applied"),
    record: bool = typer.Option(False, "--record", help="store the judged runs as evaluated EvaluationRuns "
                                "(needs --world or world_id in the export)"),
    store_url: str = typer.Option(None, "--store-url", help="Evaluation Store URL (default QMTL_STORE_URL / SQLite)"),
    fail_on: str = typer.Option(None, "--fail-on", help="warn | fail: exit 1 when any run's status is at least this "
                                "bad (a CI gate); default: exit 0 whatever the verdicts"),
):
    """Evaluate QMTL run exports: status pass|warn|fail, recommended stage and rule results per run.

    QMTL's five core rules (data_currency, sample, performance, risk_constraint, robustness) always,
    in this order, then extended layers and research rules. Status: fail if a core rule fails (QMTL's
    engine) or another rule fails with severity blocking; else warn if any rule warns or fails; else
    pass. `selected` is QMTL's policy-engine verdict (all thresholds, then top_k, correlation,
    hysteresis). --qmtl-compat reproduces QMTL's engine exactly. Exit: 0, or 1 with --fail-on when a
    run is at least that bad, 2 on bad input.
    Sharpe convention: annualised x sqrt(periods_per_year), risk-free 0."""
    import pandas as pd

    from qmtl_research.errors import InputError
    from qmtl_research.validation.engine import evaluate_batch
    from qmtl_research.validation.policy import check_stage, resolve_policy
    from qmtl_research.validation.qmtl_runs import load_runs, run_files

    if output not in ("text", "json"):
        raise InputError(f"unknown output format '{output}'", where="--output", fix="use text or json")
    if fail_on is not None and fail_on not in ("warn", "fail"):
        raise InputError(f"unknown --fail-on level '{fail_on}'", where="--fail-on", fix="use warn or fail")
    if stage is not None:
        check_stage(stage)
    pol, version, source = resolve_policy(policy, world)
    store = None
    if record:                 # a store that cannot take the runs is refused before anything is judged
        from qmtl_research.store import EvaluationStore

        store = EvaluationStore.open(store_url)
        store.require_writable()
    active = {s.strip() for s in prev_active.split(",") if s.strip()}
    corr = None
    if correlations is not None:
        if not correlations.is_file():
            raise InputError(f"correlation matrix not found: {correlations}", where="--correlations")
        corr = pd.read_csv(correlations, index_col=0)
        corr.index, corr.columns = corr.index.astype(str), corr.columns.astype(str)
    batches = [(f, load_runs(f)) for f in run_files(runs)]   # load everything first: nothing stored on bad input
    results = []
    for f, recs in batches:
        results.append((f, evaluate_batch(recs, pol, stage, policy_version=version, prev_active=active,
                                          correlations=corr, qmtl_compat=qmtl_compat)))
    if record:
        from qmtl_research.config import load_world
        from qmtl_research.governance.events import sync_policy
        from qmtl_research.governance.runs import store_outcome

        wcfg = load_world(world) if world else None
        if wcfg is not None:
            sync_policy(store, wcfg, pol)
        for _, outs in results:
            for o in outs:
                store_outcome(store, o, world_id=world or o.run.world_id,
                              risk_tier=wcfg.risk_tier if wcfg else None,
                              model_card_version=o.run.extra.get("model_card_version"))
    if output == "json":
        typer.echo(json.dumps([o.to_json(details) for _, outs in results for o in outs], indent=2, sort_keys=False))
    else:
        _print_text(results, source, version, qmtl_compat)
    if fail_on is not None:
        bad = {"warn": ("warn", "fail"), "fail": ("fail",)}[fail_on]
        n = sum(o.status in bad for _, outs in results for o in outs)
        if n:
            typer.secho(f"--fail-on {fail_on}: {n} run(s) with status {' or '.join(bad)}", err=True,
                        fg=typer.colors.RED)
            raise typer.Exit(1)


def _print_text(results, source, version, qmtl_compat) -> None:
    import pandas as pd

    from qmtl_research.validation.engine import outcomes_frame
    from qmtl_research.validation.metrics import SHARPE_CONVENTION

    typer.echo(f"policy: {source} (version {version}); {SHARPE_CONVENTION}")
    if qmtl_compat:
        typer.echo("--qmtl-compat: QMTL's engine (recommended_stage from the stage only, QMTL's ruleset hash)")
    with pd.option_context("display.width", 220, "display.max_colwidth", 90, "display.max_columns", 20):
        for f, outs in results:
            frame = outcomes_frame(outs)
            typer.echo(f"\n== {f} ({len(outs)} run(s), profile {outs[0].profile if outs else '-'}, "
                       f"ruleset {outs[0].ruleset_hash[:26] if outs else '-'})")
            typer.echo(frame.drop(columns=["stage", "profile"]).to_string(index=False))


def register(app: typer.Typer) -> None:
    app.command("validate")(validate_cmd)
