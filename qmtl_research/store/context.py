"""RunContext: the run a stage writes to, or a notebook reads from.

A run is one EvaluationRun of the store, keyed ``(world_id, strategy_id, run_id)``. The
runner (``make report``) creates it, snapshots the strategy configuration into it, loads the
universe once, runs each stage in the package (each stage writes its section through
:meth:`qmtl_research.results.SectionResults.record`), evaluates the run, and then executes the
notebooks as views: with a ``run_id`` a notebook reads the recorded results; without one
(*exploration mode*, JupyterLab) it computes them itself and nothing is stored.

Every notebook starts with a papermill ``parameters`` cell holding at least::

    strategy = "demo"     # params/strategies/<strategy>.yaml
    world = None          # params/worlds/<world>.yaml; None = the strategy's default world
    run_id = None         # set by `make report`; None = exploration mode (nothing stored)
    store_url = None      # None = QMTL_STORE_URL or the default SQLite store
    run_dir = None        # run folder for exported files; None = .cache/scratch/<strategy>

and then ``ctx = RunContext.from_params(strategy, world, run_id, store_url, run_dir)``.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from qmtl_research.config import (ModelCard, StrategyConfig, WorldConfig, load_strategy, load_strategy_card,
                                  load_world)
from qmtl_research.paths import cache_dir
from qmtl_research.store.repository import EvaluationStore, RunKey


def exploration_note(strategy: str, world: str) -> str:
    """What a notebook prints first in exploration mode."""
    return (f"EXPLORATION MODE: no run_id, so this notebook computes strategy '{strategy}' (world '{world}') itself and "
            f"stores nothing; these outputs belong to no evaluated run or report. `make report STRATEGY={strategy}` "
            "executes it under papermill for a stored, judged run.")


class RunContext:
    """Identity of a run plus lazy access to its store, configuration and panel.

    Parameters
    ----------
    strategy : name of ``params/strategies/<strategy>.yaml``.
    world : world id (default: the strategy's first world).
    run_id : the run; ``None`` is exploration mode (``recording`` is False, nothing is written).
    store_url : SQLAlchemy URL (default ``QMTL_STORE_URL`` or the SQLite file under ``data/``).
    run_dir : folder for exported files (default ``.cache/scratch/<strategy>``).
    config : the strategy configuration to use; by default a recorded run's own snapshot (what
        the runner validated when it created the run), else the YAML file.
    store : an open :class:`EvaluationStore` (the runner shares its own).
    panel : the universe the run's stages use (the runner passes the one it loaded).
    """

    def __init__(self, strategy: str, world: str | None = None, run_id: str | None = None,
                 store_url: str | None = None, run_dir: str | Path | None = None, *,
                 config: StrategyConfig | None = None, store: EvaluationStore | None = None, panel=None):
        self.strategy_id = strategy
        self.run_id = run_id
        self.store_url = store_url
        if store is not None:
            self.__dict__["store"] = store
        self.strategy: StrategyConfig = config or self._recorded_config() or load_strategy(strategy)
        self.world_id = world or self.strategy.default_world
        self.run_dir = Path(run_dir) if run_dir else cache_dir() / "scratch" / strategy
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._panel = panel

    @classmethod
    def from_params(cls, strategy: str, world: str | None = None, run_id: str | None = None,
                    store_url: str | None = None, run_dir: str | Path | None = None) -> "RunContext":
        """The context of a notebook's parameters cell. In exploration mode (no ``run_id``: the
        notebook opened in JupyterLab, not executed by papermill for a run) it says so first."""
        ctx = cls(strategy, world, run_id, store_url, run_dir)
        if run_id is None:
            print(exploration_note(ctx.strategy_id, ctx.world_id))
        return ctx

    def _recorded_config(self) -> StrategyConfig | None:
        if self.run_id is None:
            return None
        for run in self.store.list_runs(strategy_id=self.strategy_id):
            if run["run_id"] == self.run_id:
                snap = (run.get("params") or {}).get("strategy")
                return StrategyConfig.model_validate(snap) if snap else None
        return None

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
        return load_strategy_card(self.strategy)

    @property
    def seed(self) -> int:
        return self.strategy.seed

    # ----------------------------------------------------------------- data
    def panel(self):
        """The strategy's universe as a validated FundPanel (loaded once per context)."""
        if self._panel is None:
            from qmtl_research.data.universe import load_universe

            self._panel = load_universe(self.strategy.universe)
        return self._panel

    # -------------------------------------------------------------- results
    def results(self) -> dict[tuple[str, str], Any]:
        """Everything recorded for the run (empty in exploration mode)."""
        return self.store.get_results(self.key) if self.recording else {}

    def path(self, name: str) -> Path:
        """A file in the run folder (exports such as CSVs)."""
        return self.run_dir / name
