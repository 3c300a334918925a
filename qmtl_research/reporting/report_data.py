"""Everything a Validation Report shows, read from the store and params/ (never typed by hand)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from qmtl_research.config import ModelCard, StrategyConfig, WorldConfig
from qmtl_research.reporting.context import RunContext


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

    @classmethod
    def load(cls, ctx: RunContext, version: str | None = None, previous_run_id: str | None = None) -> "ReportData":
        data = cls(ctx.strategy, ctx.world, ctx.model_card, version=version)
        if ctx.recording:
            data.run = ctx.store.get_run(ctx.key)
            data.results = ctx.store.get_results(ctx.key)
            data.history = ctx.store.history(ctx.key)
            if previous_run_id:
                from qmtl_research.store import RunKey

                pkey = RunKey(ctx.world_id, ctx.strategy_id, previous_run_id)
                data.previous = cls(ctx.strategy, ctx.world, ctx.model_card,
                                    run=ctx.store.get_run(pkey), results=ctx.store.get_results(pkey))
        return data

    # ------------------------------------------------------------------ access
    @property
    def has_run(self) -> bool:
        return self.run is not None

    def get(self, section: str, name: str, default: Any = None) -> Any:
        return self.results.get((section, name), default)

    def section(self, section: str) -> dict[str, Any]:
        return {n: v for (s, n), v in self.results.items() if s == section}

    @property
    def summary(self) -> dict:
        return (self.run or {}).get("summary") or {}

    @property
    def status(self) -> str:
        if not self.run:
            return "no run"
        return str(self.summary.get("status") or f"not evaluated ({self.run['status']})")

    def frame(self, section: str, name: str) -> pd.DataFrame | None:
        v = self.get(section, name)
        return v if isinstance(v, pd.DataFrame) else None
