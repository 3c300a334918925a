"""The shipped stage-1 models' names: the one place they are spelled.

The registry (:mod:`.registry`, the only list of models) registers the shipped models under
these names; the paper's hypotheses (GARCH-LSTM < LSTM < GARCH), the default model under
validation and the estimators' own messages import them from here. A leaf module (it imports
nothing), so the estimators can use the names without importing the registry, which builds them.
"""
from __future__ import annotations

GARCH = "GARCH"
LSTM = "LSTM"
GARCH_LSTM = "GARCH-LSTM"       # the paper's hybrid: the default model under validation
NAIVE = "Naive"
EWMA = "EWMA"
GJR_GARCH = "GJR-GARCH"
HAR = "HAR"
