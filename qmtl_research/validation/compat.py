"""The one description of ``--qmtl-compat`` (QMTL's policy engine reproduced exactly).

A module of its own, free of heavy imports, so the CLI can print it in ``--help``
without loading the engine (pandas, scipy, sklearn)."""
from __future__ import annotations

COMPAT_NOTE = ("--qmtl-compat: reproduce QMTL's policy engine exactly (its profile choice, metric view and "
               "profile keys; no research_model_rules; status = fail if any rule fails, else warn if any warns; "
               "recommended_stage from the stage only: backtest -> backtest_only, paper -> paper_only, live -> "
               "paper_ok_live_candidate, as QMTL's code does; ruleset_hash QMTL's blake3). Default: the same core "
               "rule statuses plus this project's extensions; the stage reflects the outcome, as QMTL's design says "
               "(pass moves one stage up, warn holds, fail moves one stage down).")
