"""The stage registry: the one list of a strategy's stages (name = notebook name), what each
needs, the results section it writes, and where its parameters and runner live.

Both :mod:`qmtl_research.pipeline` (which runs stages) and the layers a stage calls back into
(:mod:`qmtl_research.validation.assessment` asks what a strategy studies) import this module;
it imports neither of them. A stage's parameter model and runner are named here as
``"module:attribute"`` and loaded on first use, so reading the registry loads no stage code.

==========  ============  ==========  =================================  ==================================
stage       needs         section     runner (qmtl_research.pipeline)    computes
==========  ============  ==========  =================================  ==================================
volatility  a fund panel  volatility  ``run_volatility``                 :func:`~qmtl_research.volatility.run_stage1`
rating      a fund panel  rating      ``run_rating``                     :func:`~qmtl_research.rating.run_rating_study`
var         a portfolio   risk        ``run_var``                        :func:`~qmtl_research.risk.study.run_risk_study`
validation  nothing       validation  ``run_strategy`` itself            :func:`~qmtl_research.validation.assessment.assess` (+ verdict)
==========  ============  ==========  =================================  ==================================
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal

from qmtl_research.errors import ConfigError

if TYPE_CHECKING:
    from qmtl_research.config import StrategyConfig


def _load(ref: Any) -> Any:
    """``"package.module:attribute"`` -> that object; anything else is returned as it is."""
    if not isinstance(ref, str):
        return ref
    module, _, attribute = ref.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class Stage:
    """One stage of a strategy.

    Parameters
    ----------
    name : str
        The stage's name, which is also its notebook's name (``notebooks/<name>.ipynb``).
    params_ref : type or str
        The pydantic model of its parameters, or ``"module:Class"`` naming it.
    run_ref : callable, str or None
        ``run(params, inputs, progress) -> (product, section results)``, or ``"module:function"``
        naming it; None for the validation stage, which :func:`~qmtl_research.pipeline.run_strategy`
        runs itself.
    needs : {"panel", "portfolio", "none"}
        What the stage studies: a fund panel, a portfolio, or nothing of its own.
    description : str
        One line, printed as the stage runs.
    section : str or None
        The results section it writes (:data:`qmtl_research.results.SECTIONS`); None: ``name``.
    """

    name: str
    params_ref: Any
    run_ref: Any
    needs: Literal["panel", "portfolio", "none"]
    description: str
    section: str | None = None

    @property
    def params(self) -> type:
        """The pydantic model of the stage's parameters."""
        return _load(self.params_ref)

    @property
    def run(self) -> Callable | None:
        """The stage's runner (None: the validation stage)."""
        return None if self.run_ref is None else _load(self.run_ref)

    @property
    def results_section(self) -> str:
        """The results section the stage writes."""
        return self.section or self.name


_P = "qmtl_research.pipeline"

STAGES: dict[str, Stage] = {
    "volatility": Stage("volatility", f"{_P}:VolatilityParams", f"{_P}:run_volatility", "panel",
                        "stage 1: 1-month volatility forecasts (GARCH, LSTM, GARCH-LSTM, naive)"),
    "rating": Stage("rating", f"{_P}:RatingParams", f"{_P}:run_rating", "panel",
                    "stage 2: regulatory grade classification (SVC kernels vs rule and persistence)"),
    "var": Stage("var", f"{_P}:RiskParams", f"{_P}:run_var", "portfolio",
                 "risk study: VaR/CVaR, Monte Carlo, stress, backtest, performance, attribution", section="risk"),
    "validation": Stage("validation", f"{_P}:ValidationParams", None, "none",
                        "verdict under the world policy (rules, recommended stage)"),
}


def input_kind(strategy: StrategyConfig) -> Literal["panel", "portfolio", "runs"]:
    """What the strategy's stages study.

    Parameters
    ----------
    strategy : StrategyConfig
        A loaded strategy (``params/strategies/<name>.yaml``).

    Returns
    -------
    {"panel", "portfolio", "runs"}
        A fund panel (volatility, rating), a portfolio (var) or QMTL run exports (validation
        only, ``universe.source: qmtl_runs``).

    Raises
    ------
    ConfigError
        Fund stages and portfolio stages in one strategy, or fund stages on a universe that is
        not a fund panel.
    """
    needs = {STAGES[s.notebook].needs for s in strategy.notebooks if s.notebook in STAGES}
    where = f"params/strategies/{strategy.strategy_id}.yaml"
    if {"panel", "portfolio"} <= needs:
        raise ConfigError("a strategy studies either a fund panel (volatility, rating) or a portfolio (var), "
                          "not both", where=f"{where}: notebooks", fix="split it into two strategies")
    if "portfolio" in needs:
        return "portfolio"
    if "panel" in needs:
        if strategy.universe.source not in ("synthetic", "real", "file"):
            raise ConfigError(f"universe source '{strategy.universe.source}' is not a fund panel, but the strategy "
                              f"has fund stages", where=f"{where}: universe.source",
                              fix="use source synthetic, real or file for volatility/rating")
        return "panel"
    if strategy.universe.source == "qmtl_runs":
        return "runs"
    return "portfolio" if strategy.portfolio is not None or strategy.universe.source == "audit_demo" else "panel"
