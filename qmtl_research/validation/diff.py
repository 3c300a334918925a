"""Policy diff: judge the same runs under an old and a new policy and list every run whose
status, recommended stage, selection or rule statuses change; warn when more than 5 % of the
runs change status (QMTL's policy-diff tooling; each export file is one batch).

``impact_ratio`` is QMTL's ``scripts/policy_diff.py`` measure: the share of runs with any change
(selection, stage, status or a rule's status). The CLI gate (exit 1) is the status share."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from qmtl_research.validation.engine import evaluate_batch
from qmtl_research.validation.policy import Policy
from qmtl_research.validation.qmtl_runs import RunRecord

WARN_SHARE = 0.05


@dataclass
class PolicyDiff:
    table: pd.DataFrame        # every run: old/new status, stage and selection, changed flags
    n_runs: int
    n_status_changed: int
    n_changed: int
    n_affected: int = 0        # QMTL: any change of selection, stage, status or rule statuses

    @property
    def impact_ratio(self) -> float:
        """QMTL's impact ratio: runs affected / runs."""
        return self.n_affected / self.n_runs if self.n_runs else 0.0

    @property
    def status_change_share(self) -> float:
        return self.n_status_changed / self.n_runs if self.n_runs else 0.0

    @property
    def warn(self) -> bool:
        """True when more than 5 % of the runs change status."""
        return self.status_change_share > WARN_SHARE

    def changed(self) -> pd.DataFrame:
        return self.table[self.table["changed"]].reset_index(drop=True)

    def to_json(self) -> dict:
        return {"n_runs": self.n_runs, "n_status_changed": self.n_status_changed, "n_changed": self.n_changed,
                "status_change_share": self.status_change_share, "warn": self.warn,
                "n_affected": self.n_affected, "impact_ratio": self.impact_ratio,
                "changed": self.changed().to_dict(orient="records")}


def policy_diff(old: Policy, new: Policy, batches: list[tuple[str, list[RunRecord]]], stage: str | None = None,
                *, old_version: str | None = None, new_version: str | None = None,
                qmtl_compat: bool = False) -> PolicyDiff:
    """``batches``: [(label, runs)], each judged as one batch under both policies."""
    rows = []
    for label, runs in batches:
        before = evaluate_batch(runs, old, stage, policy_version=old_version, qmtl_compat=qmtl_compat)
        after = evaluate_batch(runs, new, stage, policy_version=new_version, qmtl_compat=qmtl_compat)
        for a, b in zip(before, after):
            rule_changes = sorted(n for n in set(a.results) | set(b.results)
                                  if getattr(a.results.get(n), "status", None) != getattr(b.results.get(n), "status", None))
            changed = a.status != b.status or a.recommended_stage != b.recommended_stage
            rows.append({"batch": label, "strategy_id": a.run.strategy_id, "run_id": a.run.run_id,
                         "old_status": a.status, "new_status": b.status,
                         "old_stage": a.recommended_stage, "new_stage": b.recommended_stage,
                         "old_selected": a.selected, "new_selected": b.selected,
                         "status_changed": a.status != b.status, "changed": changed,
                         "affected": changed or a.selected != b.selected or bool(rule_changes),
                         "rule_changes": ", ".join(rule_changes),
                         "new_failures": ", ".join(sorted(set(b.failing()) - set(a.failing())))})
    table = pd.DataFrame(rows, columns=["batch", "strategy_id", "run_id", "old_status", "new_status", "old_stage",
                                        "new_stage", "old_selected", "new_selected", "status_changed", "changed",
                                        "affected", "rule_changes", "new_failures"])
    return PolicyDiff(table, len(table), int(table["status_changed"].sum()), int(table["changed"].sum()),
                      int(table["affected"].sum()))
