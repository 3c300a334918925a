"""The Validation Report's sections, as functions the report notebook calls.

Each function displays Markdown and tables (``IPython.display``) built from a
:class:`~qmtl_research.reporting.report_data.ReportData`; numbers come from the
store or params/, never from text typed into the notebook. Sections follow the
MRM sketch (0 Summary .. 6 Recommendations) plus QMTL's extras (metrics snapshot,
extended validation, override information, benchmark comparison).

Over 400 lines because it holds every section of the Validation Report outside section 4's stage
views, each a short function the report notebook calls in order.
"""
from __future__ import annotations

import itertools
import json
import re
from typing import Any

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from qmtl_research.conventions import money  # noqa: F401  (one home; sections and results_sections use it)
from qmtl_research.reporting.render import markdown_literal as lit
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


# user text shown as typed (``--`` stays two hyphens in typst): one home, render.markdown_literal
literal = lit


def table(df: pd.DataFrame, caption: str | None = None, digits: int = 4, index: bool = True) -> None:
    """Show a DataFrame as a real table (rounded), with an optional caption line above."""
    if caption:
        md(f"*Table {next(_TABLE_NUMBER)}. {caption[:1].upper()}{caption[1:]}*")
    out = whole_numbers_as_integers(df)
    num = out.select_dtypes(include=[np.floating]).columns
    out[num] = out[num].round(digits)
    default_index = isinstance(out.index, pd.RangeIndex) and out.index.name is None
    if index and not default_index:
        # one header row: a meaningful index becomes a (named) column
        out = out.reset_index() if any(n is not None for n in out.index.names) else out.reset_index(names="")
    out = out.reset_index(drop=True)
    display(Table(out))


def _whole(v: Any) -> bool:
    return isinstance(v, (float, np.floating)) and bool(np.isfinite(v)) and float(v).is_integer() and abs(v) < 2 ** 53


def whole_numbers_as_integers(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` where counts stored as floats print as integers: a float column whose
    values are all whole numbers (a count column holding n/a is float in pandas: ``30.0``) and,
    in a column of mixed values, each whole float (``3360.0`` days) become integers; missing
    values stay missing (printed n/a). The numbers are unchanged; only ``.0`` goes.

    Parameters
    ----------
    df : pandas.DataFrame
        The table as computed.

    Returns
    -------
    pandas.DataFrame
        The same values, whole floats as Python ``int`` (object columns where a value is missing).
    """
    out = df.copy()
    for col in out.columns:
        values = out[col]
        if isinstance(values, pd.DataFrame):   # duplicated column names: left as they are
            continue
        present = values.dropna()
        if pd.api.types.is_float_dtype(values) and len(present) and all(_whole(v) for v in present):
            out[col] = values.astype("Int64") if len(present) == len(values) else \
                pd.Series([np.nan if pd.isna(v) else int(v) for v in values], index=values.index, dtype=object)
        elif values.dtype == object and any(_whole(v) for v in present):
            out[col] = pd.Series([int(v) if _whole(v) else v for v in values], index=values.index, dtype=object)
    return out


def _fmt(v: Any, pct: bool = False, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "n/a"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    if isinstance(v, (float, np.floating)):
        if pct:
            return f"{v * 100:.2f} %"
        if abs(v) >= 1e4:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}"
    return str(v)


def _kv(rows: list[tuple[str, Any]], caption: str | None = None) -> None:
    """An item/value table; numbers formatted one by one (counts as integers, amounts with
    thousands separators, other floats to 6 significant digits)."""
    rows = [(k, v.strip() if isinstance(v, str) else _fmt(v, digits=6)) for k, v in rows]
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
    if rep.strategy.universe.source == "qmtl_runs":
        md(f"**Compatibility check: {verdict}** — {'every' if verdict == 'PASS' else 'NOT every'} imported QMTL run "
           f"gets the verdict its fixture set expects, under profile `{s.get('profile', 'n/a')}` of world "
           f"`{rep.world.world_id}`. This report promotes nothing: the imported runs are QMTL's fixtures.")
    else:
        md(f"**Verdict: {verdict}** — recommended stage **{s.get('recommended_stage', 'n/a')}** "
           f"under profile `{s.get('profile', 'n/a')}` of world `{rep.world.world_id}`.")
    _kv([("strategy", rep.strategy.strategy_id), ("world", rep.world.world_id), ("run id", run["run_id"]),
         ("run status", run["status"]), ("stage evaluated", run.get("stage")),
         ("policy version", run.get("policy_version")), ("ruleset hash", run.get("ruleset_hash")),
         ("model card version", run.get("model_card_version")),
         ("world risk tier (of the world the run is judged in)", run.get("risk_tier")),
         ("model risk tier (of the model card)", rep.model_card.risk_tier),
         ("data fingerprint (sha256, in full)", run.get("data_fingerprint") or "n/a"),
         ("report version", rep.version), ("lifecycle stage", rep.lifecycle_stage)],
        "run identity")
    findings = key_findings(rep)
    if findings:
        md("**Key findings**\n\n" + "\n".join(f"- {f}" for f in findings))


def key_findings(rep: ReportData) -> list[str]:
    out = []
    if (vol := rep.volatility) is not None:
        rmse = vol.summary["rmse"]
        order = " < ".join(f"{m} ({rmse[m]:.3f})" for m in sorted(rmse, key=rmse.get))
        out.append(f"Stage 1 (volatility, {vol.summary['split']} split): RMSE order {order}; best "
                   f"**{vol.summary['best_model']}**.")
    if (r := rep.rating) is not None:
        rs = r.summary
        out.append(f"Stage 2 (rating, horizon {rs['horizon_weeks']} weeks): best kernel **{rs['best_kernel']}** "
                   f"accuracy {_fmt(rs['best_accuracy'], pct=True)} vs regulatory rule "
                   f"{_fmt(rs['rule_accuracy'], pct=True)} and persistence {_fmt(rs['persistence_accuracy'], pct=True)}; "
                   f"winner: **{rs['winner']}**.")
    if (rk := rep.risk) is not None:
        bt = rk.backtest
        out.append(f"VaR backtest ({_fmt(bt.get('confidence'))}): {bt['exceptions']} exceptions in {bt['n']} days "
                   f"(expected {_fmt(bt['expected_exceptions'])}), Basel zone **{bt['zone']}**, "
                   f"Kupiec p = {_fmt(bt.get('kupiec_p'))}.")
    if (v := rep.validation) is not None:
        counts = v.rules["status"].value_counts()
        out.append("Rules: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("pass", "warn", "fail")) + ".")
    return out


def approvals(rep: ReportData) -> None:
    """The approval block, bound to this run: the decisions recorded on *this* run (none: it
    awaits sign-off), the strategy's lifecycle stage and where it comes from (a decision on
    another run is named as such: it does not approve this run), the earlier decisions on other
    runs as history (with their run ids), and who may sign the next decision (RACI)."""
    block = rep.approval
    if block is None:
        return
    mine, others = block.this_run, block.other_runs
    if len(mine):
        last = mine.iloc[-1]
        md(f"**Approval of this run** (`{block.run_id}`): {len(mine)} decision(s) recorded on this run; the latest is "
           f"**{last['decision']}** by {lit(last['actor'])} ({lit(last['role'])}) on {str(last['timestamp'])[:10]}"
           + (f" for report {last['report_version']}" if last.get("report_version") else "") + ".")
        table(_decisions(mine, run_id=False), "decisions recorded on this run (append-only)", index=False)
    else:
        md(f"**Approval of this run** (`{block.run_id}`): no decision has been recorded on this run; it awaits "
           "sign-off (`qmtl-research approve --run " + str(block.run_id) + " --decision approve|reject|conditional "
           "--actor ... --role ... --reason ... --report-version ...`).")
    md(f"Lifecycle stage of `{block.strategy_id}` in world `{block.world_id}`: **{block.current_stage}** "
       f"({block.phase}" + (f"; cleared for QMTL stage `{block.cleared_for}`" if block.cleared_for else "")
       + f"), from {block.stage_source}. Before any decision: `{block.starting_stage}` ({block.starting_source}).")
    if len(others):
        table(_decisions(others, run_id=True),
              "history: decisions recorded on other runs of this strategy in this world (they do not decide on "
              "this run)", index=False)
    table(block.signers, "who may sign the next decision (RACI: accountable or responsible)", index=False)
    refused = {d: why for d, why in (block.run_refusals or {}).items() if why}
    if refused:
        md("Decisions this run cannot receive, whoever signs:\n\n" +
           "\n".join(f"- **{d}**: {why}" for d, why in refused.items()))
    if block.conditions_in_force:
        c = block.conditions_in_force
        md(f"Conditions in force: {lit(c.get('conditions'))} (review by {c.get('review_by')}"
           + (", **overdue**" if c.get("overdue") else "") + ").")


_DECISION_COLS = ["seq", "date", "decision", "actor", "role", "reason", "conditions", "review_by", "transition",
                  "verdict", "report_version"]


def _decisions(frame: pd.DataFrame, run_id: bool) -> pd.DataFrame:
    """Decisions as printed: the date (the full timestamp is in the store), the run id only for
    decisions on other runs (this run's is named above the table), so the table fits the page."""
    out = frame.assign(date=frame["timestamp"].astype(str).str[:10])
    return out[(["run_id"] if run_id else []) + _DECISION_COLS]


def findings(rep: ReportData) -> None:
    """The findings log of this strategy in this world (latest revision of each finding): raised on
    this run or on earlier runs (named), with severity, owner, due date, status and evidence."""
    frame = rep.findings
    if frame is None:
        return
    if frame.empty:
        md("No finding has been recorded for this strategy in this world (`qmtl-research findings add`).")
        return
    shown = frame.copy()
    shown["raised on"] = [("this run" if r == rep.run["run_id"] else f"run {r}") + (f", report {v}" if v else "")
                          for r, v in zip(shown["run_id"], shown["report_version"])]
    shown["due"] = [f"{d}" + (" (overdue)" if o else "") for d, o in zip(shown["due_date"], shown["overdue"])]
    shown["evidence"] = shown["evidence"].fillna("none")
    open_high = shown[(shown["severity"] == "high") & (shown["status"] != "closed")]
    counts = shown["status"].value_counts()
    md(f"{len(shown)} finding(s): " + ", ".join(f"{counts.get(k, 0)} {k.replace('_', ' ')}"
                                                for k in ("open", "in_progress", "closed"))
       + (f". **{len(open_high)} open finding(s) of severity high block approval**: "
          + ", ".join(open_high["finding_id"]) + "." if len(open_high) else
          ". No open finding of severity high blocks approval."))
    cols = ["finding_id", "raised on", "title", "severity", "owner", "due", "status", "remediation", "evidence",
            "revision"]
    table(shown[cols], "findings log (latest revision of each finding; every change is a new revision)", index=False)


def signatures(rep: ReportData) -> None:
    """The signature block: role, name, date and decision of every decision recorded on *this*
    run; without one, empty lines to sign for each role that may sign the next decision."""
    block = rep.approval
    if block is None:
        return
    mine = block.this_run
    if len(mine):
        rows = [{"role": f"{r.role} ({r.role_letter})", "name": r.actor, "date": str(r.timestamp)[:10],
                 "decision": f"{r.decision} ({r.transition})", "report": r.report_version or "none named"}
                for r in mine.itertuples()]
        md(f"Signed on run `{block.run_id}`, as recorded in the Evaluation Store (append-only):")
        table(pd.DataFrame(rows), "signatures", index=False)
    else:
        blank = "_" * 18
        roles = list(dict.fromkeys(block.signers["role"])) if len(block.signers) else ["Validator"]
        rows = [{"role": r, "name": blank, "date": blank, "decision": "approve / conditional / reject"} for r in roles]
        md(f"No decision has been recorded on run `{block.run_id}`: to be signed by the role(s) that may sign the "
           f"next decision (lifecycle stage `{block.current_stage}`), and recorded with `qmtl-research approve`.")
        table(pd.DataFrame(rows), "signatures", index=False)


def provenance(rep: ReportData) -> None:
    """Appendix B: how the run was made, as recorded with it: commit, dirty flag, data
    fingerprint, every input file with its sha256 and git state, package versions
    (:mod:`qmtl_research.reporting.provenance`). Paths are relative to the checkout."""
    from qmtl_research.reporting.provenance import provenance_tables

    tables = provenance_tables(rep.run) if rep.has_run else None
    if tables is None:
        md("No provenance was recorded with this run (it was made before runs recorded their commit and "
           "input hashes); see the report folder's manifest.json.")
        return
    ident, inputs, packages = tables
    table(ident.set_index("item"), "how this run was made")
    changed = inputs[inputs["git"] != "tracked"]
    if len(inputs) and (inputs["git"] == "no-git").all():
        state = "; the project is not a git checkout, so no file's git state is known (git state `no-git`)."
    elif len(changed):
        state = (f"; {len(changed)} of them not as committed ("
                 + ", ".join(f"`{p}` {g}" for p, g in zip(changed["path"], changed["git"])) + ").")
    else:
        state = "; every one of them as committed (git state `tracked`)."
    md(f"{len(inputs)} input file(s) drove this run" + state)
    table(inputs, "input files (path relative to the checkout, git state, sha256 of the content)", index=False)
    table(packages, "package versions", index=False)


# --------------------------------------------------------------------- 1
def scope(rep: ReportData) -> None:
    c, card = rep.strategy, rep.model_card
    md(f"**{lit(c.title, one_line=True)}**\n\n{lit(c.description)}".strip())
    _kv([("objective", card.objective), ("target market", card.target_market), ("asset class", card.asset_class),
         ("hypothesis", card.hypothesis), ("world", f"{rep.world.world_id} — {rep.world.title}"),
         ("world risk tier", rep.world.risk_tier), ("client critical", rep.world.client_critical),
         ("stage under validation", c.stage), ("model lifecycle stage", rep.lifecycle_stage),
         ("data", data_wording(rep))],
        "scope")


def data_wording(rep: ReportData) -> str:
    """How the report describes its data: synthetic or real, funds or a portfolio."""
    fund = rep.strategy.universe.source in ("synthetic", "real", "file")
    if rep.strategy.universe.source == "qmtl_runs":
        return "QMTL evaluation-run exports (fixture metrics, no return series)"
    if rep.strategy.synthetic:
        return ("SYNTHETIC fund universe (generated to mirror the paper's fund population; not real funds)"
                if fund else "SYNTHETIC daily prices (generated for the demo portfolio; not market data)")
    return "real fund / asset data" if fund else "real market data (daily prices of the portfolio's assets)"


def raci() -> None:
    from qmtl_research.reporting.governance import load_raci

    table(load_raci(), "roles and responsibilities (R responsible, A accountable, C consulted, I informed)")


def regulatory_mapping(rep: ReportData) -> None:
    """Where *this* report answers each element of the guidance: the sections holding its
    evidence (by number), and the evidence it lacks, named as a gap
    (:func:`qmtl_research.reporting.governance.mapping_table`)."""
    from qmtl_research.reporting.governance import mapping_table

    frameworks, frame = mapping_table(rep)
    n_gap = int((frame["evidence in this report (section)"] == "GAP: none in this report").sum())
    table(frame, f"where this report answers the elements of {' and '.join(frameworks)}: the sections holding "
                 "the evidence, and the evidence this report does not hold", index=False)
    md(f"{n_gap} element(s) have no evidence in this report." if n_gap else
       "Every element has some evidence in this report; the last column names what it does not hold.")


# --------------------------------------------------------------------- 2
def model_description(rep: ReportData) -> None:
    card = rep.model_card
    _kv([("strategy id", card.strategy_id), ("model card version", card.model_card_version),
         ("model type", card.model_type), ("data frequency", card.data_frequency),
         ("owner", card.owner), ("validator", card.validator), ("model risk tier (of the model card)", card.risk_tier)],
        "model card")
    for title, items in (("Model structure", card.model_structure), ("Data overview", card.data_overview),
                         ("Data sources", card.data_sources), ("Preprocessing", card.preprocessing),
                         ("Key assumptions", card.key_assumptions), ("Key limitations", card.key_limitations)):
        if items:
            md(f"**{title}**\n\n" + "\n".join(f"- {lit(i, one_line=True)}" for i in items))


# --------------------------------------------------------------------- 3
def method(rep: ReportData) -> None:
    s = rep.summary
    md(f"Runs are evaluated by the world policy `{rep.world.world_id}` (policy version "
       f"{rep.world.policy_version}); the profile is chosen by stage (`{rep.strategy.stage}` → "
       f"`{s.get('profile', 'n/a')}`). Each rule returns pass / warn / fail with a severity; any blocking "
       "fail fails the run, otherwise any warn or non-blocking fail gives warn.")
    thresholds_in_force(rep)
    steps = ", ".join(f"`{n.notebook}`" for n in rep.strategy.notebooks)
    md(f"Stages of this run, in order: {steps}; each is computed by the package and shown by its notebook, "
       "then `report`.")
    if (d := rep.data) is not None:
        desc = {k: v for k, v in d.description.items() if k != "fingerprint"}
        _kv([(k, json.dumps(x) if isinstance(x, (list, dict)) else x) for k, x in desc.items()],
            "data description")
        table(d.composition, "data composition (history lengths in periods of the data's frequency)")
    for res, label in ((rep.volatility, "Stage 1 set-up"), (rep.rating, "Stage 2 set-up"), (rep.risk, "Risk set-up")):
        if res is not None:
            _kv(config_rows(res.config), label)
    if (r := rep.rating) is not None:
        table(r.screen, "Pearson screen: |r| of each indicator with the std of the known weeks; kept when "
              f"|r| > {r.config.get('screen_threshold')} (the blended std is always kept)", index=False)
        table(r.best_params, "grid-search parameters chosen per outer fold and kernel", index=False)
        if len(r.grades):
            table(r.grades, "labelled fund-settlements by settlement year and grade (counts)")
    if (v := rep.validation) is not None:
        # ratios and ages to 3 decimals (a policy registered seconds ago is 0.000 days old, not 1.8e-07)
        _kv([(k, (f"{x:.3f}" if np.isfinite(x) else "n/a") if isinstance(x, float) else x) for k, x in v.health.items()], "validation health")


def thresholds_in_force(rep: ReportData) -> None:
    """Every threshold of every rule in force, its severity and the value measured on this run
    (:func:`qmtl_research.validation.engine.checks_frame`); for a batch of imported QMTL runs
    the profile's bounds (each imported run's verdict is in section 4)."""
    from qmtl_research.validation.engine import checks_frame

    v = rep.validation
    if v is None:
        return
    checks = checks_frame((rep.run or {}).get("validation"))
    if len(checks):
        n_fail = int((checks["status"] == "fail").sum())
        md(f"Every threshold of every rule in force ({checks['rule'].nunique()} rules, {len(checks)} checks; "
           f"{n_fail} not met), with its severity and the value measured on this run. A rule's severity says "
           "what its fail does: blocking fails the run, soft and info give warn.")
        # long metric paths break after their dots in the PDF (the renderer's qmtl-cells.lua)
        table(checks, "every threshold of every rule in force: bound, measured value and status", index=False)
    elif len(v.thresholds):
        table(v.thresholds, "every bound of the profile in force (inclusive), by policy section; each imported "
                            "run is judged against them in section 4", index=False)
    else:
        md("The profile sets no threshold; the research model rules judge the run.")


def config_rows(cfg: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten a stage's configuration into (item, value) rows (nested keys joined by dots)."""
    rows = []
    for k, x in cfg.items():
        if isinstance(x, dict) and x and all(not isinstance(v, (dict, list)) for v in x.values()):
            rows += [(f"{prefix}{k}.{kk}", vv) for kk, vv in x.items()]
        elif isinstance(x, dict):
            rows += config_rows(x, f"{prefix}{k}.")
        else:
            rows.append((f"{prefix}{k}", json.dumps(x) if isinstance(x, list) else x))
    return rows


# --------------------------------------------------------------------- 4


def rule_results(rep: ReportData) -> None:
    from qmtl_research.validation import views

    v = rep.validation
    if v is None:
        not_available("Rule results (the strategy has no validation step, or it has not run)")
        return
    core = views.core_rules(v)
    if len(core):
        table(core, "QMTL core rules (data currency, sample, performance, risk constraints, robustness)", index=False)
    else:
        md("No QMTL core rule applies to this world's profile; the research model rules are under Extended validation below.")
    shown = views.verdicts(v)
    if shown is not None:
        verdicts = v.verdicts
        agree = int(verdicts["agrees"].sum()) if "agrees" in verdicts else None
        md("Imported runs judged one by one (each export file is one batch, as QMTL's policy-diff tooling does)"
           + (f": **{agree} of {len(verdicts)}** agree with the outcome their fixture names expect." if agree is not None else "."))
        table(shown, "verdict of every imported run (batch: the export file, without `_strategies_runs.json`)",
              index=False)


def metrics_snapshot(rep: ReportData) -> None:
    from qmtl_research.validation import views

    metrics = rep.validation.metrics if rep.validation is not None else (rep.run or {}).get("metrics")
    if not metrics:
        not_available("Metrics snapshot")
        return
    rows = views.metric_rows(metrics)
    if rows is not None:
        table(rows, "metric blocks", index=False)


def history_of(rep: ReportData, change_type: str) -> pd.DataFrame:
    rows = [{"revision": h["revision"], "actor": h.get("actor"), "created_at": str(h["created_at"])[:19],
             **{k: v for k, v in (h.get("payload") or {}).items() if not isinstance(v, (dict, list))}}
            for h in rep.history if h["change_type"] == change_type]
    return pd.DataFrame(rows)


#: the columns of an override record shown in its first table (decision and review), by name in
#: the recorded frame / history payload -> header; every other column goes to the second table
OVERRIDE_DECISION = {"revision": "revision", "override_status": "status", "status": "status",
                     "override_actor": "actor", "actor": "actor", "override_role": "role", "role": "role",
                     "override_role_letter": "RACI", "verdict_status": "verdict", "override_timestamp": "timestamp",
                     "timestamp": "timestamp", "review_window_days": "review days", "review_due": "review due",
                     "overdue": "overdue"}


_ISO_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)?")


def _wrappable(v: Any) -> Any:
    """A long cell that may break in a narrow PDF column: an ISO timestamp as ``date time`` (UTC,
    to the second, offset kept when not UTC). A long unbroken word (a hash) is left whole: the
    renderer lets it break every 16 characters (qmtl-cells.lua), adding no character."""
    if not isinstance(v, str):
        return v
    if _ISO_TIMESTAMP.fullmatch(v):
        ts = pd.Timestamp(v)
        return (ts.tz_convert("UTC") if ts.tzinfo is not None else ts).strftime("%Y-%m-%d %H:%M:%S") + \
            (" UTC" if ts.tzinfo is not None else "")
    return v


def override_tables(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a wide override record (12+ columns) in two tables that fit a PDF page, both keyed by
    revision (and run): the decision and its review (:data:`OVERRIDE_DECISION`), and every other
    column (reason, activity, independence, governance hash, ...). No column is dropped."""
    shown = frame.apply(lambda col: col.map(_wrappable))
    keys = [c for c in ("run_id", "revision") if c in shown.columns]
    first = [c for c in shown.columns if c in OVERRIDE_DECISION and c not in keys]
    rest = [c for c in shown.columns if c not in first and c not in keys]
    rename = {c: OVERRIDE_DECISION.get(c, c.removeprefix("override_").replace("_", " ")) for c in shown.columns}
    return shown[keys + first].rename(columns=rename), shown[keys + rest].rename(columns=rename)


def overrides(rep: ReportData) -> None:
    """Section 4's override information: the overrides recorded with the run and the override
    revisions of its history, each as two tables (:func:`override_tables`)."""
    frame = rep.validation.overrides if rep.validation is not None else None
    # the history's actor and time are who recorded the revision and when (the override's own
    # actor and timestamp are in its payload)
    hist = history_of(rep, "override").rename(columns={"actor": "recorded_by", "created_at": "recorded_at"})
    if (frame is None or frame.empty) and hist.empty:
        md("No override has been recorded for this run.")
        return
    for what, f in (("overrides recorded with the run", frame), ("override revisions in the run history", hist)):
        if f is None or f.empty:
            continue
        decision, detail = override_tables(f)
        table(decision, f"{what}: decision and review (timestamps UTC)", index=False)
        table(detail, f"{what}: reason, governance and record (by revision)", index=False)


def extended_validation(rep: ReportData) -> None:
    """Everything beyond QMTL's five core rules: the extended layers (cohort, portfolio,
    benchmark, stress, paper/shadow, live monitoring) and the research model rules, as the
    verdict evaluated them (nothing appends extended-validation revisions after it)."""
    ext = rep.validation.extended if rep.validation is not None else None
    layers = qmtl_layers(rep, ext)
    table(layers, "QMTL's validation layers: configured by the world's policy in force, and what the verdict "
                  "found (a layer the policy does not configure is not evaluated)", index=False)
    if ext is not None and not ext.empty:
        table(ext, "extended layers and research model rules (not among the core rules of 4.1)", index=False)
    else:
        md("No extended-validation layer (cohort, portfolio, stress, live monitoring) or model rule was "
           "evaluated for this run.")


QMTL_LAYERS = ("cohort", "portfolio", "benchmark", "stress", "paper_shadow_consistency", "live_monitoring")


def qmtl_layers(rep: ReportData, ext: pd.DataFrame | None) -> pd.DataFrame:
    """One row per QMTL validation layer (:data:`QMTL_LAYERS`): whether the world's policy in
    force configures it (with its keys) and the status the verdict recorded for it, if any."""
    from qmtl_research.validation.policy import policy_of_world

    policy, _ = policy_of_world(rep.world)
    rows = []
    for layer in QMTL_LAYERS:
        section = getattr(policy, layer, None)
        keys = sorted(section.model_dump(exclude_none=True, exclude_unset=True)) if section is not None else []
        status = "not evaluated"
        if ext is not None and not ext.empty and "rule" in ext.columns:
            hit = ext[ext["rule"].astype(str) == layer]
            if len(hit) and "status" in hit.columns:
                status = str(hit["status"].iloc[-1])
        rows.append({"layer": layer, "configured": "yes" if section is not None else "no",
                     "settings": ", ".join(keys) if keys else "-", "verdict": status})
    return pd.DataFrame(rows)


def benchmark_comparison(rep: ReportData) -> None:
    from qmtl_research.validation import views

    frame = views.benchmark_comparison(rep.validation)
    if frame is None:
        not_available("Benchmark / challenger comparison")
        return
    table(frame, "model vs benchmarks and challengers: difference = value - reference value; `better` names "
                 "the side that wins (lower error or loss, higher accuracy or Sharpe)", index=False)


# --------------------------------------------------------------------- 5 / 6
def risks_and_limitations(rep: ReportData) -> None:
    items = [lit(i, one_line=True) for i in rep.model_card.key_limitations]
    if rep.strategy.synthetic:
        items.append("The data of this run is synthetic: the verdict validates the pipeline and the method, "
                     "not a real " + ("fund universe." if rep.strategy.universe.source == "synthetic" else "portfolio."))
    if (v := rep.validation) is not None:
        for _, r in v.rules[v.rules["status"].isin(["warn", "fail"])].iterrows():
            items.append(f"Rule `{r['rule']}` is **{r['status']}** ({r['reason_code']}): {lit(r['reason'])}")
    if (vol := rep.volatility) is not None and not vol.failures.empty:
        items.append(f"Stage 1 could not process {vol.failures['fund_id'].nunique()} fund(s) "
                     f"({len(vol.failures)} step(s)); see the failures table.")
    if (r := rep.rating) is not None and not r.exclusions.empty:
        h = r.summary["horizon_weeks"]
        at_h = r.exclusions[r.exclusions["horizon_weeks"] == h]
        short = int(at_h["reason"].str.contains("weeks", regex=False).sum())
        others = {int(k): int(n) for k, n in r.exclusions["horizon_weeks"].value_counts().sort_index().items() if k != h}
        items.append(f"At the verdict horizon ({h} weeks) stage 2 left out {len(at_h)} fund-settlements: "
                     f"{short} for too short a history (the regulator grades only funds with 3 years; persistence "
                     f"needs 156 + h weeks), {len(at_h) - short} for other reasons (missing benchmark, no stage-1 "
                     "forecast)" + ("; at the other horizons: " + ", ".join(f"{n} at h = {k}" for k, n in others.items())
                                   if others else "") + ".")
    md("\n".join(f"- {i}" for i in items) if items else "No limitation recorded.")


def recommendations(rep: ReportData) -> None:
    if not rep.has_run:
        md("No run selected.")
        return
    s = rep.summary
    status = str(s.get("status", "")).lower()
    stage = s.get("recommended_stage", "n/a")
    blocking = []
    if (v := rep.validation) is not None:
        blocking = v.rules[(v.rules["status"] == "fail") & (v.rules["severity"] == "blocking")]["rule"].tolist()
    if rep.strategy.universe.source == "qmtl_runs":
        md("This run is a **compatibility check**: it judges QMTL's fixture runs under QMTL's policy to show that "
           "this project reproduces QMTL's verdicts. It promotes nothing: "
           + ("every imported run got the verdict its fixture set expects." if status == "pass" else
              "some imported runs got a verdict other than their fixture set expects; see the rule outcomes in section 4."))
        return
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
    """Section 7: what changed since the previous report of this strategy and world, in inputs,
    code and results (:func:`qmtl_research.reporting.changes.diff_runs`, the diff
    ``qmtl-research report diff`` prints)."""
    if rep.previous is None:
        md("This is the first report version of this strategy in this world.")
        return
    from qmtl_research.reporting.changes import KINDS, diff_runs

    frame = diff_runs(rep.previous, rep)
    prev = rep.previous
    md(f"Compared with run `{prev.run['run_id']}`" + (f" (report {prev.version})" if prev.version else "")
       + ", the previous report of this strategy and world; the same comparison as "
       f"`qmtl-research report diff {rep.strategy.strategy_id} --world {rep.world.world_id}"
       + (f" {prev.version} {rep.version}`." if prev.version and rep.version else "`."))
    words = {"inputs": "Inputs (strategy, parameters, policy, model card, data, input files)",
             "code": "Code (commit, dirty flag, package versions)", "results": "Results (verdict, rules, metrics)"}
    for kind in KINDS:
        part = frame[frame["kind"] == kind].drop(columns="kind")
        if part.empty:
            md(f"**{words[kind]}**: no change.")
        else:
            md(f"**{words[kind]}**: {len(part)} change(s).")
            table(part, f"changes since the previous version: {kind}", index=False)
