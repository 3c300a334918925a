"""Everything a Validation Report shows, read from the store (through the results contract) and
params/ (never typed by hand)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qmtl_research.config import ModelCard, StrategyConfig, WorldConfig
from qmtl_research.results import (DataResults, RatingResults, RiskResults, ValidationResults, VolatilityResults,
                                   check_results)


@dataclass
class ReportData:
    strategy: StrategyConfig
    world: WorldConfig
    model_card: ModelCard
    run: dict | None = None
    results: dict[tuple[str, str], Any] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    version: str | None = None
    previous: "ReportData | None" = None
    store: Any = None
    manifest: dict | None = None       # the report manifest of a previous version (its provenance)

    @classmethod
    def load(cls, ctx, version: str | None = None, previous_run_id: str | None = None) -> "ReportData":
        """The run of ``ctx`` (a :class:`~qmtl_research.store.context.RunContext`); every recorded
        section is checked against the results contract."""
        data = cls(ctx.strategy, ctx.world, ctx.model_card, version=version)
        if ctx.recording:
            data.store = ctx.store
            data.run = ctx.store.get_run(ctx.key)
            data.results = ctx.store.get_results(ctx.key)
            check_results(data.results)
            data.history = ctx.store.history(ctx.key)
            if previous_run_id:
                from qmtl_research.store import RunKey

                pkey = RunKey(ctx.world_id, ctx.strategy_id, previous_run_id)
                reports = [r for r in ctx.store.list_reports(ctx.strategy_id, ctx.world_id)
                           if r["run_id"] == previous_run_id]
                data.previous = cls(ctx.strategy, ctx.world, ctx.model_card,
                                    run=ctx.store.get_run(pkey), results=ctx.store.get_results(pkey),
                                    version=reports[-1]["version"] if reports else None,
                                    manifest=reports[-1]["manifest"] if reports else None)
        return data

    # ------------------------------------------------------------------ sections (typed)
    @property
    def data(self) -> DataResults | None:
        return DataResults.read(self.results)

    @property
    def volatility(self) -> VolatilityResults | None:
        return VolatilityResults.read(self.results)

    @property
    def rating(self) -> RatingResults | None:
        return RatingResults.read(self.results)

    @property
    def risk(self) -> RiskResults | None:
        return RiskResults.read(self.results)

    @property
    def validation(self) -> ValidationResults | None:
        return ValidationResults.read(self.results)

    # ------------------------------------------------------------------ governance
    @property
    def approval(self):
        """The approval block of the run (:func:`qmtl_research.governance.approvals.approval_block`;
        the report being rendered counts as registered), or None without a run."""
        if not self.has_run:
            return None
        from qmtl_research.store import RunKey
        from qmtl_research.governance.approvals import approval_block

        if "_approval" not in self.__dict__:
            key = RunKey(self.run["world_id"], self.run["strategy_id"], self.run["run_id"])
            self.__dict__["_approval"] = approval_block(self.store, key, rendering=self.version)
        return self.__dict__["_approval"]

    @property
    def lifecycle_stage(self) -> str | None:
        """The lifecycle stage derived from the recorded decisions (the model card's before any),
        with where it comes from: a decision on this run, or another run's (named as such)."""
        block = self.approval
        return block.stage_wording if block is not None else self.model_card.lifecycle_stage

    @property
    def findings(self):
        """The findings log of the strategy in the world (latest revision each), or None without a run."""
        if not self.has_run:
            return None
        from qmtl_research.governance.findings import findings_frame

        return findings_frame(self.store, self.run["world_id"], self.run["strategy_id"])

    @property
    def live(self) -> dict | None:
        """The live run judged against this run (recorded by the report run of a strategy that
        declares ``live:``, :func:`qmtl_research.governance.live.live_run_of`), or None."""
        if not self.has_run or self.store is None:
            return None
        if "_live" not in self.__dict__:
            from qmtl_research.store import RunKey
            from qmtl_research.governance.live import live_run_of

            key = RunKey(self.run["world_id"], self.run["strategy_id"], self.run["run_id"])
            self.__dict__["_live"] = live_run_of(self.store, key)
        return self.__dict__["_live"]

    @property
    def provenance(self) -> dict | None:
        """How the run was made (commit, dirty flag, input hashes, packages), recorded with it
        (:func:`qmtl_research.reporting.provenance.run_provenance`); None for older runs."""
        return ((self.run or {}).get("params") or {}).get("provenance")

    # ------------------------------------------------------------------ run
    @property
    def has_run(self) -> bool:
        return self.run is not None

    @property
    def summary(self) -> dict:
        return (self.run or {}).get("summary") or {}

    @property
    def status(self) -> str:
        if not self.run:
            return "no run"
        return str(self.summary.get("status") or f"not evaluated ({self.run['status']})")
