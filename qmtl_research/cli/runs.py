"""`qmtl-research runs ...`: EvaluationRuns in the store (list, show, history, re-evaluate,
ex-post failures, overrides, health, monitoring, live runs)."""
from __future__ import annotations

import json

import typer

runs_app = typer.Typer(no_args_is_help=True, help="Evaluation runs in the Evaluation Store.")


def _store(url):
    from qmtl_research.store import EvaluationStore

    return EvaluationStore.open(url)


@runs_app.command("list")
def list_cmd(world: str = typer.Option(None, "--world"), strategy: str = typer.Option(None, "--strategy"),
             status: str = typer.Option(None, "--status"), store_url: str = typer.Option(None, "--store-url")):
    """Runs with status, stage, verdict, policy version and ruleset hash."""
    import pandas as pd

    rows = [{"world_id": r["world_id"], "strategy_id": r["strategy_id"], "run_id": r["run_id"], "status": r["status"],
             "stage": r["stage"], "verdict": (r.get("summary") or {}).get("status"),
             "recommended_stage": (r.get("summary") or {}).get("recommended_stage"),
             "model_card": r.get("model_card_version"), "policy_version": r.get("policy_version"),
             "ruleset_hash": (r.get("ruleset_hash") or "")[:19]}
            for r in _store(store_url).list_runs(world, strategy, status)]
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        typer.echo(pd.DataFrame(rows).to_string(index=False) if rows else "no runs")


@runs_app.command("show")
def show_cmd(world: str = typer.Option(..., "--world"), strategy: str = typer.Option(..., "--strategy"),
             run: str = typer.Option(..., "--run"), store_url: str = typer.Option(None, "--store-url")):
    """A run's summary (with its history applied) and its history revisions, as JSON."""
    from qmtl_research.store import RunKey
    from qmtl_research.store.codec import to_jsonable
    from qmtl_research.governance.runs import effective_summary

    store, key = _store(store_url), RunKey(world, strategy, run)
    typer.echo(json.dumps(to_jsonable({"run": {k: v for k, v in store.get_run(key).items() if k != "metrics"},
                                       "effective_summary": effective_summary(store, key),
                                       "history": store.history(key)}), indent=2))


@runs_app.command("reevaluate")
def reevaluate_cmd(world: str = typer.Option(..., "--world"), strategy: str = typer.Option(..., "--strategy"),
                   run: str = typer.Option(..., "--run"), actor: str = typer.Option(None, "--actor"),
                   store_url: str = typer.Option(None, "--store-url")):
    """Judge a stored run again under the world's current policy: a NEW run id (the old run is immutable)."""
    from qmtl_research.config import load_world
    from qmtl_research.store import RunKey
    from qmtl_research.governance.events import sync_policy
    from qmtl_research.validation.policy import policy_of_world
    from qmtl_research.governance.runs import reevaluate

    store, wcfg = _store(store_url), load_world(world)
    pol = policy_of_world(wcfg)[0]
    sync_policy(store, wcfg, pol, actor)
    new = reevaluate(store, RunKey(world, strategy, run), pol, policy_version=wcfg.policy_version, actor=actor)
    s = store.get_run(new)["summary"]
    typer.echo(f"re-evaluated as {new}: {s['status']} -> {s['recommended_stage']}")


@runs_app.command("reap")
def reap_cmd(world: str = typer.Option(None, "--world"), strategy: str = typer.Option(None, "--strategy"),
             older_than: float = typer.Option(None, "--older-than", min=0.0,
                                              help="also close open runs leased on another host (or without a "
                                                   "lease) created more than this many hours ago"),
             store_url: str = typer.Option(None, "--store-url")):
    """Close as failed the open (created/running) runs whose process is gone (kill -9, a crash):
    their partial results stay, as results of a failed run; an empty report folder is removed."""
    import datetime as dt

    from qmtl_research.store.leases import reap

    store = _store(store_url)
    store.require_writable()
    closed = reap(store, world_id=world, strategy_id=strategy,
                  older_than=dt.timedelta(hours=older_than) if older_than is not None else None)
    for c in closed:
        typer.echo(f"closed {c.key}: {c.error}")
    typer.echo(f"{len(closed)} abandoned run(s) closed as failed" if closed else "no abandoned run")


@runs_app.command("ex-post-failure")
def ex_post_cmd(world: str = typer.Option(..., "--world"), strategy: str = typer.Option(..., "--strategy"),
                run: str = typer.Option(..., "--run"), actor: str = typer.Option(..., "--actor"),
                reason: str = typer.Option(..., "--reason"), store_url: str = typer.Option(None, "--store-url")):
    """Append an ex-post failure to an evaluated run (history revision + evaluation_run_updated)."""
    from qmtl_research.store import RunKey
    from qmtl_research.governance.runs import record_ex_post_failure

    rev = record_ex_post_failure(_store(store_url), RunKey(world, strategy, run), reason=reason, actor=actor)
    typer.echo(f"ex-post failure recorded as revision {rev}")


@runs_app.command("overrides")
def overrides_cmd(world: str = typer.Option(None, "--world"), overdue: bool = typer.Option(False, "--overdue"),
                  store_url: str = typer.Option(None, "--store-url")):
    """Override revisions with review due dates; --overdue lists only overdue reviews (exit 1 if any)."""
    from qmtl_research.governance.overrides import overdue_reviews, overrides_frame

    store = _store(store_url)
    frame = overdue_reviews(store, world) if overdue else overrides_frame(store, world)
    typer.echo(frame.to_string(index=False) if len(frame) else "no overrides")
    if overdue and len(frame):
        raise typer.Exit(1)


@runs_app.command("health")
def health_cmd(world: str = typer.Option(None, "--world"), store_url: str = typer.Option(None, "--store-url")):
    """Validation health per world and stage (coverage, rules executed, errors, policy age, ruleset churn)."""
    import pandas as pd

    from qmtl_research.validation.health import validation_health

    frame = validation_health(_store(store_url), world)
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        typer.echo(frame.round(3).to_string(index=False) if len(frame) else "no evaluated runs")


@runs_app.command("monitor")
def monitor_cmd(world: str = typer.Option(None, "--world", help="store: latest live runs of this world"),
                returns: str = typer.Option(None, "--returns", help="CSV: date column + one column per strategy "
                                            "(simple returns, fractions)"),
                live_start: str = typer.Option(None, "--live-start", help="first live/paper date (with --returns)"),
                periods_per_year: int = typer.Option(252, "--periods-per-year"),
                min_sharpe_ratio: float = typer.Option(0.5, "--min-sharpe-ratio", help="live / backtest Sharpe floor"),
                store_url: str = typer.Option(None, "--store-url")):
    """Live monitoring: Sharpe, max drawdown and ES over 30/60/90 days vs the backtest, and demotion
    candidates (exit 1 when there is one)."""
    import pandas as pd

    from qmtl_research.errors import InputError
    from qmtl_research.governance.monitoring import demotion_candidates, live_block, live_blocks_from_store

    if (world is None) == (returns is None):
        raise InputError("give --world (store) or --returns FILE --live-start DATE", where="command line")
    if returns is not None:
        if live_start is None:
            raise InputError("--returns needs --live-start", where="--live-start", fix="e.g. --live-start 2024-01-02")
        frame = pd.read_csv(returns, index_col=0, parse_dates=True)
        if not isinstance(frame.index, pd.DatetimeIndex):
            raise InputError("the first column of the returns CSV must hold dates", where=returns)
        blocks = {c: live_block(frame[c], live_start, periods_per_year) for c in frame.columns}
    else:
        blocks = live_blocks_from_store(_store(store_url), world)
    table = pd.DataFrame(blocks).T
    cand = demotion_candidates(blocks, min_sharpe_ratio=min_sharpe_ratio)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        typer.echo(table.round(4).to_string() if len(table) else "no live runs with a live block")
        typer.echo(cand.to_string(index=False) if len(cand) else "")
    if len(cand) and cand["demotion_candidate"].any():
        raise typer.Exit(1)


@runs_app.command("live")
def live_cmd(strategy: str = typer.Option(..., "--strategy"), world: str = typer.Option(None, "--world",
             help="default: the strategy's first world"),
             returns: str = typer.Option(None, "--returns", help="returns file (date + one column); default: the "
                                         "strategy's live.returns_path, else its portfolio's returns"),
             store_url: str = typer.Option(None, "--store-url")):
    """Record a live run judged against the strategy's latest backtest run: 30/60/90-day Sharpe,
    drawdown and ES, live/backtest Sharpe ratio, override frequency, demotion decision (exit 1 when
    the strategy is a demotion candidate)."""
    from qmtl_research.config import load_strategy, load_world
    from qmtl_research.governance.live import live_returns, live_summary, record_live_run

    cfg = load_strategy(strategy)
    wcfg = load_world(world or cfg.default_world)
    series, source = live_returns(cfg, returns)
    store = _store(store_url)
    key = record_live_run(store, cfg, wcfg, series, source=source)
    run = store.get_run(key)
    p, block = run["params"], run["metrics"]["live"]
    typer.echo(f"live run {key} against backtest run {p['backtest_run']} ({source}, live {p['live_start']}.."
               f"{p['live_end']}): verdict {run['summary']['status']}")
    typer.echo(live_summary(store, key).round(4).to_string(index=False))
    typer.echo(f"live/backtest Sharpe {block['live_vs_backtest_sharpe_ratio']:.3f}; overrides in 90 days "
               f"{block['override_count_90d']:.0f}; demotion candidate: {p['demotion_candidate']}"
               + (f" ({p['demotion_reasons']})" if p["demotion_reasons"] else ""))
    if p["demotion_candidate"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
