"""Reading a run's metric blocks by dotted path (``returns.sharpe``, ``models.forecast.rmse.GARCH``).

Its own small module, below the validation layer: the metric blocks
(:mod:`qmtl_research.validation.metrics`) and the rules both read paths, and the rules (with the
policy schema built from them) load without numpy, pandas or scikit-learn.
"""
from __future__ import annotations

import math
from typing import Any, Mapping


def get_metric(blocks: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted metric path of a run's metric blocks.

    Parameters
    ----------
    blocks : mapping
        The run's metric blocks (``{"returns": {"sharpe": ...}, ...}``).
    path : str
        ``block.key`` (deeper paths allowed).

    Returns
    -------
    Any
        The value; None when absent or NaN.
    """
    node: Any = blocks
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if isinstance(node, float) and math.isnan(node):
        return None
    return node


__all__ = ["get_metric"]
