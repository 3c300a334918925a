"""The Validation Report's sections, as functions the report notebook calls.

Each function displays Markdown and tables (``IPython.display``) built from a
:class:`~qmtl_research.reporting.report_data.ReportData`; numbers come from the
store or params/, never from text typed into the notebook. Sections follow the
MRM sketch (0 Summary .. 6 Recommendations) plus QMTL's extras (metrics snapshot,
extended validation, override information, benchmark comparison).
"""
from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from qmtl_research.reporting.report_data import ReportData

STATUS_WORD = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}
_TABLE_NUMBER = itertools.count(1)  # tables and figures are numbered in display order (one report per kernel)
_FIGURE_NUMBER = itertools.count(1)


class Table:
    """A DataFrame shown without its positional index, untruncated: HTML for renderers
    (pandoc parses it into a real table) and plain text for terminals."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def _repr_html_(self) -> str:
        return self.frame.to_html(index=False, na_rep="n/a", border=0, max_rows=500)

    def __repr__(self) -> str:
        with pd.option_context("display.max_colwidth", 60, "display.width", 160):
            return self.frame.to_string(index=False, na_rep="n/a", max_rows=500)


def figure(caption: str) -> None:
    """Show the current matplotlib figure with a numbered caption below it."""
    import matplotlib.pyplot as plt

    plt.show()
    md(f"*Figure {next(_FIGURE_NUMBER)}. {caption}*")


def md(text: str) -> None:
    display(Markdown(text))


def table(df: pd.DataFrame, caption: str | None = None, digits: int = 4, index: bool = True) -> None:
    """Show a DataFrame as a real table (rounded), with an optional caption line above."""
    if caption:
        md(f"*Table {next(_TABLE_NUMBER)}. {caption[:1].upper()}{caption[1:]}*")
    out = df.copy()
    num = out.select_dtypes(include=[np.number]).columns
    out[num] = out[num].round(digits)
    default_index = isinstance(out.index, pd.RangeIndex) and out.index.name is None
    if index and not default_index:
        # one header row: a meaningful index becomes a (named) column
        out = out.reset_index() if any(n is not None for n in out.index.names) else out.reset_index(names="")
    out = out.reset_index(drop=True)
    display(Table(out))


def _fmt(v: Any, pct: bool = False, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "n/a"
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    if isinstance(v, (float, np.floating)):
        return f"{v * 100:.2f} %" if pct else f"{v:.{digits}g}"
    return str(v)


def _kv(rows: list[tuple[str, Any]], caption: str | None = None) -> None:
    rows = [(k, v.strip() if isinstance(v, str) else v) for k, v in rows]
    table(pd.DataFrame(rows, columns=["item", "value"]).set_index("item"), caption)


def not_available(what: str) -> None:
    md(f"> {what}: not part of this run.")


# --------------------------------------------------------------------- 0
def summary(rep: ReportData) -> None:
    if not rep.has_run:
        md("No run selected (exploration mode). `make report STRATEGY=...` passes `run_id`, and this "
           "notebook then shows the verdict, the rule results and every table of that run.")
        return
    s, run = rep.summary, rep.run
    verdict = STATUS_WORD.get(str(s.get("status", "")).lower(), rep.status.upper())
    md(f"**Verdict: {verdict}** — recommended stage **{s.get('recommended_stage', 'n/a')}** "
       f"under profile `{s.get('profile', 'n/a')}` of world `{rep.world.world_id}`.")
    _kv([("strategy", rep.strategy.strategy_id), ("world", rep.world.world_id), ("run id", run["run_id"]),
         ("run status", run["status"]), ("stage evaluated", run.get("stage")),
         ("policy version", run.get("policy_version")), ("ruleset hash", run.get("ruleset_hash")),
         ("model card version", run.get("model_card_version")), ("risk tier", run.get("risk_tier")),
         ("data fingerprint", (run.get("data_fingerprint") or "")[:16]),
         ("report version", rep.version), ("lifecycle stage", rep.model_card.lifecycle_stage)],
        "run identity")
    findings = key_findings(rep)
    if findings:
        md("**Key findings**\n\n" + "\n".join(f"- {f}" for f in findings))


def key_findings(rep: ReportData) -> list[str]:
    out = []
    vs = rep.get("volatility", "summary")
    if isinstance(vs, dict) and vs.get("rmse"):
        rmse = vs["rmse"]
        best = min(rmse, key=lambda k: rmse[k])
        order = " < ".join(f"{m} ({rmse[m]:.3f})" for m in sorted(rmse, key=rmse.get))
        out.append(f"Stage 1 (volatility, {vs.get('split', '')} split): RMSE order {order}; best **{best}**.")
    rs = rep.get("rating", "summary")
    if isinstance(rs, dict) and rs.get("best_kernel"):
        out.append(f"Stage 2 (rating, horizon {rs.get('horizon_weeks')} weeks): best kernel **{rs['best_kernel']}** "
                   f"accuracy {_fmt(rs.get('best_accuracy'), pct=True)} vs regulatory rule "
                   f"{_fmt(rs.get('rule_accuracy'), pct=True)} and persistence {_fmt(rs.get('persistence_accuracy'), pct=True)}; "
                   f"winner: **{rs.get('winner')}**.")
    bt = rep.get("risk", "backtest")
    if isinstance(bt, dict) and bt.get("zone"):
        out.append(f"VaR backtest ({_fmt(bt.get('confidence'))}): {bt.get('exceptions')} exceptions in {bt.get('n')} days "
                   f"(expected {_fmt(bt.get('expected_exceptions'))}), Basel zone **{bt['zone']}**, "
                   f"Kupiec p = {_fmt(bt.get('kupiec_p'))}.")
    rules = rep.frame("validation", "rules")
    if rules is not None and "status" in rules:
        counts = rules["status"].value_counts()
        out.append("Rules: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("pass", "warn", "fail")) + ".")
    return out


# --------------------------------------------------------------------- 1
def scope(rep: ReportData) -> None:
    c, card = rep.strategy, rep.model_card
    md(f"**{c.title}**\n\n{c.description}".strip())
    _kv([("objective", card.objective), ("target market", card.target_market), ("asset class", card.asset_class),
         ("hypothesis", card.hypothesis), ("world", f"{rep.world.world_id} — {rep.world.title}"),
         ("world risk tier", rep.world.risk_tier), ("client critical", rep.world.client_critical),
         ("stage under validation", c.stage), ("model lifecycle stage", card.lifecycle_stage),
         ("data", "SYNTHETIC (generated, mirrors the paper's population)" if c.synthetic else "real / user-supplied")],
        "scope")


def raci() -> None:
    from qmtl_research.reporting.governance import load_raci

    table(load_raci(), "roles and responsibilities (R responsible, A accountable, C consulted, I informed)")


# --------------------------------------------------------------------- 2
def model_description(rep: ReportData) -> None:
    card = rep.model_card
    _kv([("strategy id", card.strategy_id), ("model card version", card.model_card_version),
         ("model type", card.model_type), ("data frequency", card.data_frequency),
         ("owner", card.owner), ("validator", card.validator), ("risk tier", card.risk_tier)],
        "model card")
    for title, items in (("Model structure", card.model_structure), ("Data overview", card.data_overview),
                         ("Data sources", card.data_sources), ("Preprocessing", card.preprocessing),
                         ("Key assumptions", card.key_assumptions), ("Key limitations", card.key_limitations)):
        if items:
            md(f"**{title}**\n\n" + "\n".join(f"- {i}" for i in items))


# --------------------------------------------------------------------- 3
def method(rep: ReportData) -> None:
    s = rep.summary
    md(f"Runs are evaluated by the world policy `{rep.world.world_id}` (policy version "
       f"{rep.world.policy_version}); the profile is chosen by stage (`{rep.strategy.stage}` → "
       f"`{s.get('profile', 'n/a')}`). Each rule returns pass / warn / fail with a severity; any blocking "
       "fail fails the run, otherwise any warn or non-blocking fail gives warn.")
    thresholds = rep.frame("validation", "thresholds")
    if thresholds is not None:
        table(thresholds, "profile thresholds (bounds inclusive)")
    steps = ", ".join(f"`{n.notebook}`" for n in rep.strategy.notebooks)
    md(f"Notebooks executed for this run, in order: {steps}, then `report`.")
    for sec, name, label in (("volatility", "config", "Stage 1 set-up"), ("rating", "config", "Stage 2 set-up"),
                             ("risk", "config", "Risk set-up"), ("data", "description", "Data")):
        v = rep.get(sec, name)
        if isinstance(v, dict):
            _kv([(k, json.dumps(x) if isinstance(x, (list, dict)) else x) for k, x in v.items()], label)


# --------------------------------------------------------------------- 4
def rule_results(rep: ReportData) -> None:
    rules = rep.frame("validation", "rules")
    if rules is None:
        not_available("Rule results (the strategy has no validation step, or it has not run)")
        return
    table(rules, "rule outcomes", index=False)
    verdicts = rep.frame("validation", "verdicts")
    if verdicts is not None and not verdicts.empty:
        agree = int(verdicts["agrees"].sum()) if "agrees" in verdicts else None
        md("Imported runs judged one by one (each export file is one batch, as QMTL's policy-diff tooling does)"
           + (f": **{agree} of {len(verdicts)}** agree with the outcome their fixture names expect." if agree is not None else "."))
        cols = [c for c in ("batch", "strategy_id", "status", "recommended_stage", "selected", "failed_rules",
                            "warned_rules", "expected", "agrees") if c in verdicts.columns]
        table(verdicts[cols], "verdict of every imported run", index=False)


def metrics_snapshot(rep: ReportData) -> None:
    metrics = rep.get("validation", "metrics") or (rep.run or {}).get("metrics")
    if not metrics:
        not_available("Metrics snapshot")
        return
    rows = []
    for block, values in metrics.items():
        if isinstance(values, dict):
            rows += [(block, k, v) for k, v in values.items() if not isinstance(v, (dict, list))]
    if rows:
        table(pd.DataFrame(rows, columns=["block", "metric", "value"]), "metric blocks", index=False)


def history_of(rep: ReportData, change_type: str) -> pd.DataFrame:
    rows = [{"revision": h["revision"], "actor": h.get("actor"), "created_at": str(h["created_at"])[:19],
             **{k: v for k, v in (h.get("payload") or {}).items() if not isinstance(v, (dict, list))}}
            for h in rep.history if h["change_type"] == change_type]
    return pd.DataFrame(rows)


def overrides(rep: ReportData) -> None:
    frame = rep.frame("validation", "overrides")
    hist = history_of(rep, "override")
    if (frame is None or frame.empty) and hist.empty:
        md("No override has been recorded for this run.")
        return
    if frame is not None and not frame.empty:
        table(frame, "overrides", index=False)
    if not hist.empty:
        table(hist, "override revisions in the run history", index=False)


def extended_validation(rep: ReportData) -> None:
    hist = history_of(rep, "extended_validation")
    ext = rep.frame("validation", "extended")
    if ext is not None and not ext.empty:
        table(ext, "extended validation layers", index=False)
    elif hist.empty:
        md("No extended-validation layer (cohort, portfolio, stress, live monitoring) was evaluated for this run.")
    if not hist.empty:
        table(hist, "extended validation revisions", index=False)


def benchmark_comparison(rep: ReportData) -> None:
    frame = rep.frame("validation", "benchmark_comparison")
    if frame is None or frame.empty:
        not_available("Benchmark / challenger comparison")
        return
    table(frame, "model vs benchmarks and challengers")


# --------------------------------------------------------------------- 5 / 6
def risks_and_limitations(rep: ReportData) -> None:
    items = list(rep.model_card.key_limitations)
    if rep.strategy.synthetic:
        items.append("The data of this run is synthetic: the verdict validates the pipeline and the method, "
                     "not a real fund universe.")
    rules = rep.frame("validation", "rules")
    if rules is not None and "status" in rules:
        for _, r in rules[rules["status"].isin(["warn", "fail"])].iterrows():
            items.append(f"Rule `{r['rule']}` is **{r['status']}** ({r.get('reason_code', '')}): {r.get('reason', '')}")
    fails = rep.frame("volatility", "failures")
    if fails is not None and not fails.empty:
        items.append(f"Stage 1 could not process {len(fails)} fund step(s); see the failures table.")
    excl = rep.frame("rating", "exclusions")
    if excl is not None and not excl.empty:
        short = excl["reason"].str.contains("weeks of data before the settlement", regex=False).sum()
        items.append(f"Stage 2 left out {len(excl)} fund-settlement samples: {short} because fewer than 156 weeks "
                     f"of history preceded the settlement (the regulator grades only funds with 3 years), "
                     f"{len(excl) - short} for other reasons (see the rating notebook's exclusions table).")
    md("\n".join(f"- {i}" for i in items) if items else "No limitation recorded.")


def recommendations(rep: ReportData) -> None:
    if not rep.has_run:
        md("No run selected.")
        return
    s = rep.summary
    status = str(s.get("status", "")).lower()
    stage = s.get("recommended_stage", "n/a")
    rules = rep.frame("validation", "rules")
    blocking = []
    if rules is not None and {"status", "severity"} <= set(rules.columns):
        blocking = rules[(rules["status"] == "fail") & (rules["severity"] == "blocking")]["rule"].tolist()
    if status == "pass":
        text = (f"**Approve** for the `{stage}` stage. Monitor live Sharpe, drawdown and ES over 30/60/90 days "
                "against the backtest and re-validate on any policy change.")
    elif status == "warn":
        text = (f"**Approve with conditions** for `{stage}`: resolve or accept the warnings above, record an "
                "override with actor, reason and review date if proceeding, and re-validate within the review window.")
    elif status == "fail":
        text = ("**Do not promote.** Blocking failures: " + (", ".join(f"`{b}`" for b in blocking) or "see the rule outcomes")
                + f". Recommended stage: `{stage}`. Fix the causes and re-evaluate under a new run id.")
    else:
        text = f"The run is `{rep.status}`: no recommendation can be made until the validation step evaluates it."
    md(text)


def changes_since_previous(rep: ReportData) -> None:
    if rep.previous is None:
        md("This is the first report version of this strategy in this world.")
        return
    from qmtl_research.reporting.changes import compare

    frame = compare(rep.previous, rep)
    md(f"Compared with run `{rep.previous.run['run_id']}` (the previous report of this strategy and world).")
    if frame.empty:
        md("No verdict or metric changed.")
    else:
        table(frame, "changes since the previous version", index=False)
