"""RunContext: what a parameterised notebook knows about the run it belongs to.

Every notebook starts with a papermill ``parameters`` cell holding at least::

    strategy = "demo"     # params/strategies/<strategy>.yaml
    world = None          # params/worlds/<world>.yaml; None = the strategy's default world
    run_id = None         # set by `make report`; None = exploration mode (nothing stored)
    store_url = None      # None = QMTL_STORE_URL or the default SQLite store
    run_dir = None        # run folder for exported files; None = .cache/scratch/<strategy>

and then ``ctx = RunContext.from_params(strategy, world, run_id, store_url, run_dir)``.
In exploration mode (``run_id is None``) ``ctx.record`` writes nothing to the
store, so a quant can run any notebook in JupyterLab without touching runs.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from qmtl_research.config import (ModelCard, StrategyConfig, WorldConfig, load_model_card,
                                  load_strategy, load_world)
from qmtl_research.paths import cache_dir
from qmtl_research.store import EvaluationStore, RunKey


class RunContext:
    def __init__(self, strategy: str, world: str | None = None, run_id: str | None = None,
                 store_url: str | None = None, run_dir: str | Path | None = None):
        self.strategy_id = strategy
        self.strategy: StrategyConfig = load_strategy(strategy)
        self.world_id = world or self.strategy.default_world
        self.run_id = run_id
        self.store_url = store_url
        self.run_dir = Path(run_dir) if run_dir else cache_dir() / "scratch" / strategy
        self.run_dir.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_params(cls, strategy: str, world: str | None = None, run_id: str | None = None,
                    store_url: str | None = None, run_dir: str | Path | None = None) -> "RunContext":
        return cls(strategy, world, run_id, store_url, run_dir)

    # ------------------------------------------------------------- identity
    @property
    def recording(self) -> bool:
        """True when results go to the Evaluation Store (a real run)."""
        return self.run_id is not None

    @property
    def key(self) -> RunKey:
        if self.run_id is None:
            raise RuntimeError("exploration mode: no run_id, nothing is stored")
        return RunKey(self.world_id, self.strategy_id, self.run_id)

    @cached_property
    def store(self) -> EvaluationStore:
        return EvaluationStore.open(self.store_url)

    @cached_property
    def world(self) -> WorldConfig:
        return load_world(self.world_id)

    @cached_property
    def model_card(self) -> ModelCard:
        return load_model_card(self.strategy.model_card)

    @property
    def seed(self) -> int:
        return self.strategy.seed

    # ----------------------------------------------------------------- data
    def load_panel(self, **overrides):
        """The strategy's universe as a validated FundPanel (``overrides`` update
        the universe config, e.g. ``n_funds=``)."""
        from qmtl_research.data.universe import load_universe

        cfg = self.strategy.universe.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        return load_universe(cfg)

    # -------------------------------------------------------------- results
    def record(self, section: str, name: str, value: Any) -> Any:
        """Store ``value`` under section/name for this run (no-op in exploration mode).
        Returns ``value`` so a notebook can record and display in one line."""
        if self.recording:
            self.store.put_result(self.key, section, name, value)
        return value

    def results(self, section: str | None = None) -> dict[tuple[str, str], Any]:
        return self.store.get_results(self.key, section) if self.recording else {}

    def result(self, section: str, name: str, default: Any = None) -> Any:
        if not self.recording:
            return default
        return self.store.get_results(self.key, section).get((section, name), default)

    def path(self, name: str) -> Path:
        """A file in the run folder (exports such as CSVs)."""
        return self.run_dir / name
