"""The outline of a Validation Report: its sections with their numbers, and the evidence each holds.

One home for two registries the report and the regulatory mapping share:

* :data:`RESULTS_PARTS`: the subsections of section 4 (Results), numbered 4.1, 4.2, ... in the
  order shown, each present only when the run holds its results (a portfolio report has no
  stage 1 or 2); :func:`results_parts` is what section 4 prints and what the mapping cites.
* :data:`EVIDENCE`: the items of evidence a report can hold (e.g. the VaR backtest), each with the
  section it is printed in and whether *this* report holds it. The regulatory mapping
  (``params/governance/regulatory_mapping.yaml``) names these ids, never free text: a row cites
  the section numbers of the evidence present and names the evidence absent as a gap.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

#: fixed top-level sections (the report notebook's headings), id -> (number, title)
TOP_SECTIONS: dict[str, tuple[str, str]] = {
    "summary": ("0", "Summary"),
    "scope": ("1", "Scope & Objective"),
    "model": ("2", "Model description"),
    "method": ("3", "Validation method"),
    "risks": ("5", "Risks & limitations"),
    "recommendations": ("6", "Recommendations"),
    "findings": ("6.1", "Findings log"),
    "changes": ("7", "Changes since the previous version"),
    "appendix": ("Appendix A", "conventions and recorded results"),
    "provenance": ("Appendix B", "provenance"),
    "signoff": ("Sign-off", "signatures"),
}


@dataclass(frozen=True)
class ResultsPart:
    """A subsection of section 4: id, title and whether the run holds it."""

    id: str
    title: str
    present: Callable


def _validation(rep) -> bool:
    return rep.validation is not None


#: section 4's subsections, in the order shown (the function printing each lives in the section
#: modules; :func:`qmtl_research.reporting.results_sections.section_4` pairs them by id)
RESULTS_PARTS: tuple[ResultsPart, ...] = (
    ResultsPart("rules", "Rule outcomes", lambda rep: True),
    ResultsPart("volatility", "Stage 1: volatility forecasting", lambda rep: rep.volatility is not None),
    ResultsPart("fund_backtests", "Stage 1: fund VaR and ES backtests (outcomes analysis)",
                lambda rep: rep.volatility is not None and rep.volatility.var_backtests is not None),
    ResultsPart("rating", "Stage 2: risk-grade classification", lambda rep: rep.rating is not None),
    ResultsPart("risk", "Risk: VaR, Monte Carlo, stress, backtests, performance", lambda rep: rep.risk is not None),
    ResultsPart("extended", "Extended validation", lambda rep: True),
    ResultsPart("metrics", "Metrics snapshot", lambda rep: True),
    ResultsPart("overrides", "Override information", lambda rep: True),
    ResultsPart("benchmark", "Benchmark and challenger comparison", lambda rep: True),
    ResultsPart("live", "Live monitoring", lambda rep: rep.live is not None),
)


def results_parts(rep) -> list[tuple[str, str, str]]:
    """(id, number, title) of the subsections of section 4 this report shows, numbered 4.1, 4.2, ..."""
    shown = [p for p in RESULTS_PARTS if p.present(rep)]
    return [(p.id, f"4.{i}", p.title) for i, p in enumerate(shown, start=1)]


def section_numbers(rep) -> dict[str, tuple[str, str]]:
    """Every section of this report: id -> (number, title); section 4's parts as ``results.<id>``."""
    out = dict(TOP_SECTIONS)
    out.update({f"results.{pid}": (num, title) for pid, num, title in results_parts(rep)})
    return out


def _extended_rule(rep, *names: str) -> bool:
    v = rep.validation
    return v is not None and v.extended is not None and v.extended["rule"].isin(names).any()


def _thresholds_measured(rep) -> bool:
    """The run recorded its rules' checks (a batch of imported QMTL runs records verdicts only)."""
    from qmtl_research.validation.engine import checks_frame

    return not checks_frame((rep.run or {}).get("validation")).empty


def _frame(rep, attr: str) -> bool:
    v = rep.validation
    frame = getattr(v, attr, None) if v is not None else None
    return frame is not None and not frame.empty


@dataclass(frozen=True)
class Evidence:
    """One item of evidence: what it is, the section printing it, and whether a report holds it."""

    what: str
    section: str
    present: Callable


#: every item of evidence a report can hold (one home; the regulatory mapping cites these ids)
EVIDENCE: dict[str, Evidence] = {
    "model_card": Evidence("model card: structure, assumptions, limitations", "model", lambda rep: True),
    "stage_setup": Evidence("stage set-up (parameters of every stage)", "method",
                            lambda rep: any(x is not None for x in (rep.volatility, rep.rating, rep.risk))),
    "screen": Evidence("inputs kept by the Pearson screen", "method", lambda rep: rep.rating is not None),
    "data_description": Evidence("data description and composition", "method", lambda rep: rep.data is not None),
    "input_hashes": Evidence("commit, dirty flag, every input file with its sha256 and git state, data fingerprint",
                             "provenance", lambda rep: rep.provenance is not None),
    "thresholds": Evidence("every threshold of every rule in force, with its measured value", "method",
                           lambda rep: _validation(rep) and _thresholds_measured(rep)),
    "validation_health": Evidence("validation health (metric coverage, rules executed, policy age)", "method",
                                  _validation),
    "rule_outcomes": Evidence("rule outcomes under the world policy", "results.rules", _validation),
    "volatility_challengers": Evidence("stage 1 against GARCH, LSTM and naive challengers", "results.volatility",
                                       lambda rep: rep.volatility is not None),
    "volatility_walk_forward": Evidence("stage 1 walk-forward errors, Diebold-Mariano tests and model confidence set",
                                        "results.volatility", lambda rep: rep.volatility is not None),
    "fund_var_backtests": Evidence("fund VaR and ES backtests of the stage-1 forecasts", "results.fund_backtests",
                                   lambda rep: rep.volatility is not None and rep.volatility.var_backtests is not None),
    "rating_challengers": Evidence("stage 2 against the regulatory rule and persistence", "results.rating",
                                   lambda rep: rep.rating is not None),
    "rating_by_horizon": Evidence("stage 2 out-of-time accuracy by prediction horizon", "results.rating",
                                  lambda rep: rep.rating is not None and not rep.rating.horizons.dropna(
                                      subset=["accuracy"]).empty),
    "var_backtest": Evidence("VaR backtest (Kupiec, Christoffersen, Basel zone) and ES backtests", "results.risk",
                             lambda rep: rep.risk is not None),
    "stress": Evidence("stress scenarios", "results.risk", lambda rep: rep.risk is not None and len(rep.risk.stress) > 0),
    "montecarlo": Evidence("Monte Carlo simulation", "results.risk",
                           lambda rep: rep.risk is not None and bool(rep.risk.montecarlo)),
    "benchmark_comparison": Evidence("model against benchmarks and challengers", "results.benchmark",
                                     lambda rep: _frame(rep, "benchmark_comparison")),
    "live_monitoring": Evidence("live monitoring rules", "results.extended",
                                lambda rep: _extended_rule(rep, "live_monitoring")),
    "live_run": Evidence("live run against this backtest: 30/60/90-day Sharpe, drawdown and ES, decay and the "
                         "demotion decision", "results.live", lambda rep: rep.live is not None),
    "stress_rule": Evidence("stress-loss rule", "results.extended", lambda rep: _extended_rule(rep, "stress")),
    "overrides": Evidence("override record of this run", "results.overrides", _validation),
    "limitations": Evidence("limitations and failing rules", "risks", lambda rep: True),
    "recommendation": Evidence("recommendation and its monitoring conditions", "recommendations",
                               lambda rep: rep.has_run),
    "findings_log": Evidence("findings log (severity, owner, due date, status)", "findings",
                             lambda rep: rep.findings is not None),
    "changes": Evidence("changes in inputs, code and results since the previous version", "changes",
                        lambda rep: rep.previous is not None),
    "raci": Evidence("roles and responsibilities (RACI)", "scope", lambda rep: True),
    "approvals": Evidence("approval decisions bound to this run, and who may sign", "summary",
                          lambda rep: rep.approval is not None),
    "signatures": Evidence("signature block filled from the recorded decisions", "signoff",
                           lambda rep: rep.approval is not None),
}


def cite(rep, evidence_id: str) -> str:
    """``'4.2 Risk: ... — VaR backtest (...)'``: where this report prints one item of evidence."""
    ev = EVIDENCE[evidence_id]
    number, title = section_numbers(rep)[ev.section]
    return f"{number} {title}: {ev.what}"
