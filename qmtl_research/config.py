"""params/ loading: pydantic models for strategies, worlds and model cards.

Layout::

    params/strategies/<strategy>.yaml   what to run (universe, notebooks, seed)
    params/worlds/<world>.yaml          where it is judged (QMTL world policy + stage)
    params/model_cards/<card>.yaml      what the model is (QMTL model card + MRM fields)

Everything is loaded with ``yaml.SafeLoader`` and validated; problems are
reported with ``file:line`` and the field path (see :mod:`qmtl_research.yamlio`).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from qmtl_research.errors import ConfigError
from qmtl_research.identifiers import IDENTIFIER_TEXT, check_identifier, inside, is_identifier
from qmtl_research.paths import params_dir
from qmtl_research.yamlio import load_model

Stage = Literal["backtest", "paper", "live"]
#: universe sources that generate their data (a strategy on one must say ``synthetic: true``)
SYNTHETIC_SOURCES = ("synthetic", "audit_demo")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _identifier(value, info):
    """pydantic check: names that become paths are identifiers (qmtl_research.identifiers)."""
    names = value if isinstance(value, list) else [value]
    for v in names:
        if v is not None and not is_identifier(v):
            raise ValueError(f"{v!r} is not an identifier: use {IDENTIFIER_TEXT}")
    return value


class UniverseConfig(_Strict):
    """Which fund / asset universe a strategy studies."""

    source: Literal["synthetic", "real", "file", "audit_demo", "qmtl_runs"] = "synthetic"
    n_funds: int | None = Field(None, ge=1, description="synthetic: number of funds")
    seed: int = 20230831
    frequency: Literal["weekly", "daily"] = Field(
        "weekly", description="daily: the data are daily (files: one row per fund and day; synthetic/real: daily "
                              "series kept beside their weekly resample) for the daily grading measures")
    dataset: Literal["skfolio-2016-2022", "us-1999-2018"] = Field(
        "skfolio-2016-2022", description="real: which offline real universe (qmtl_research.data.real)")
    returns_path: str | None = None
    funds_path: str | None = None
    benchmarks_path: str | None = None
    runs_path: str | None = Field(None, description="qmtl_runs: QMTL run export (JSON)")


class NotebookStep(_Strict):
    """One stage of a strategy: computed by :mod:`qmtl_research.pipeline` with ``parameters``, then
    shown by ``notebooks/<notebook>.ipynb`` (papermill, with the same parameters)."""

    notebook: str
    parameters: dict[str, Any] = Field(default_factory=dict)


class LiveConfig(_Strict):
    """A strategy's live period (``qmtl-research runs live``): ``start``, the first live date;
    ``returns_path``, a returns file under ``data/`` (a ``date`` column and one return column),
    or None for the strategy portfolio's own daily returns."""

    start: dt.date
    returns_path: str | None = None


class StrategyConfig(_Strict):
    strategy_id: str
    title: str
    description: str = ""
    model_card: str
    worlds: list[str] = Field(min_length=1, description="first one is the default world")

    _names_are_identifiers = field_validator("strategy_id", "model_card", "worlds")(_identifier)
    universe: UniverseConfig = Field(description="required: a strategy names its data (a strategy without "
                                                 "it once ran silently on the synthetic universe)")
    notebooks: list[NotebookStep] = Field(min_length=1)
    seed: int = 42
    stage: Stage = "backtest"
    synthetic: bool = Field(False, description="data is synthetic: the report says so on every page")
    portfolio: dict[str, Any] | None = Field(
        None, description="portfolio strategies: weights/positions, validated by qmtl_research.data.portfolio")
    live: LiveConfig | None = Field(None, description="live period judged against the backtest (runs live)")

    @model_validator(mode="after")
    def _synthetic_labelled(self):
        """Generated data must be labelled: ``synthetic: true`` (the report's banner) whenever the
        universe's source is one of :data:`SYNTHETIC_SOURCES`."""
        if self.universe.source in SYNTHETIC_SOURCES and not self.synthetic:
            raise ValueError(f"universe source '{self.universe.source}' is generated data: set synthetic: true "
                             "(every report page then says so)")
        return self

    @property
    def default_world(self) -> str:
        return self.worlds[0]


class WorldConfig(_Strict):
    """A world: where strategies are judged. ``policy`` is a QMTL world policy
    (inline mapping) or ``policy_file`` a path to one, relative to params/."""

    world_id: str
    _world_id_is_identifier = field_validator("world_id")(_identifier)
    title: str = ""
    description: str = ""
    policy_version: str = "1"
    risk_tier: Literal["low", "medium", "high"] = "medium"
    client_critical: bool = False
    policy: dict[str, Any] | None = None
    policy_file: str | None = None

    def policy_path(self) -> Path | None:
        """``params/<policy_file>`` resolved and checked to stay under ``params/``."""
        return inside(params_dir() / self.policy_file, params_dir(), f"policy_file {self.policy_file!r}") \
            if self.policy_file else None


class ModelCard(_Strict):
    """QMTL model card (strategy_id, model_card_version, objective, data_overview,
    key_assumptions, key_limitations) plus the MRM sketch's fields."""

    strategy_id: str
    _strategy_id_is_identifier = field_validator("strategy_id")(_identifier)
    model_card_version: str
    objective: str
    data_overview: list[str] = Field(default_factory=list)
    key_assumptions: list[str] = Field(default_factory=list)
    key_limitations: list[str] = Field(default_factory=list)
    # MRM sketch (section 3.1) extras — optional so QMTL cards load unchanged
    title: str | None = None
    target_market: str | None = None
    asset_class: str | None = None
    hypothesis: str | None = None
    data_sources: list[str] = Field(default_factory=list)
    data_frequency: str | None = None
    preprocessing: list[str] = Field(default_factory=list)
    model_structure: list[str] = Field(default_factory=list)
    model_type: str | None = None
    risk_tier: Literal["low", "medium", "high"] | None = None
    owner: str | None = Field(None, description="the model's owner (a person or team): may not sign "
                              "independent-review decisions (SR 11-7 effective challenge)")
    developer: str | list[str] | None = Field(None, description="who built the model (one or several): "
                                              "may not sign independent-review decisions either")
    validator: str | None = None
    lifecycle_stage: str | None = None

    @property
    def developers(self) -> list[str]:
        """``developer`` as a list (empty when not declared)."""
        d = self.developer
        return [] if d is None else [d] if isinstance(d, str) else list(d)


def _available(kind: str) -> list[str]:
    folder = params_dir() / kind
    return sorted(p.stem for p in folder.glob("*.y*ml")) if folder.is_dir() else []


def _find(kind: str, name: str, label: str) -> Path:
    check_identifier(name, label, where=f"the {label} name given (params/{kind}/<name>.yaml)")
    for ext in (".yaml", ".yml"):
        path = params_dir() / kind / f"{name}{ext}"
        if path.is_file():
            return path
    avail = ", ".join(_available(kind)) or "(none)"
    raise ConfigError(f"unknown {label} '{name}'", where=str(params_dir() / kind),
                      fix=f"use one of: {avail}")


def list_strategies() -> list[str]:
    return _available("strategies")


def list_worlds() -> list[str]:
    return _available("worlds")


def load_strategy(name: str) -> StrategyConfig:
    path = _find("strategies", name, "strategy")
    cfg = load_model(StrategyConfig, path, f"strategy file {path.name}")
    if cfg.strategy_id != name:
        raise ConfigError(f"strategy_id '{cfg.strategy_id}' does not match the file name '{name}'",
                          where=str(path), fix="make them equal")
    return cfg


def load_world(name: str) -> WorldConfig:
    path = _find("worlds", name, "world")
    cfg = load_model(WorldConfig, path, f"world file {path.name}")
    if (cfg.policy is None) == (cfg.policy_file is None):
        raise ConfigError("a world needs exactly one of 'policy' (inline) or 'policy_file'",
                          where=str(path), fix="keep one of the two keys")
    return cfg


def load_model_card(name_or_path: str | Path) -> ModelCard:
    p = Path(name_or_path)
    path = p if p.suffix in (".yaml", ".yml") and p.is_file() else _find("model_cards", str(name_or_path), "model card")
    return load_model(ModelCard, path, f"model card {path.name}")


def load_strategy_card(cfg: StrategyConfig) -> ModelCard:
    """The model card a strategy names, checked to be *its* card: the card's ``strategy_id`` must
    be the strategy's (another strategy's card is refused). Called on every run."""
    card = load_model_card(cfg.model_card)
    if card.strategy_id != cfg.strategy_id:
        raise ConfigError(f"model card '{cfg.model_card}' belongs to strategy '{card.strategy_id}', not to "
                          f"'{cfg.strategy_id}'",
                          where=f"params/strategies/{cfg.strategy_id}.yaml field 'model_card'",
                          fix=f"name the card of '{cfg.strategy_id}' (or write one: `qmtl-research strategy new` "
                              "writes a skeleton bound to the strategy)")
    return card


def strategies_of_world(world: str) -> list[str]:
    return [s for s in list_strategies() if world in load_strategy(s).worlds]
