"""Model governance: what people and processes do with a validation verdict.

Above :mod:`qmtl_research.validation` (which computes verdicts) and on top of the Evaluation Store:

* :mod:`~qmtl_research.governance.raci` - the RACI matrix and the lifecycle transitions (``params/governance/``).
* :mod:`~qmtl_research.governance.signoff` - who may sign: role and independence checks.
* :mod:`~qmtl_research.governance.runs` - EvaluationRun lifecycle: store, re-evaluate, history revisions.
* :mod:`~qmtl_research.governance.recording` - the validation stage's section and the run's freeze.
* :mod:`~qmtl_research.governance.overrides` - overrides with a review window.
* :mod:`~qmtl_research.governance.approvals` - approval decisions and the derived lifecycle stage.
* :mod:`~qmtl_research.governance.findings` - the findings log.
* :mod:`~qmtl_research.governance.events` - validation events: sync, query, export.
* :mod:`~qmtl_research.governance.stream` - the event-stream consumer and its state view.
* :mod:`~qmtl_research.governance.monitoring` / :mod:`~qmtl_research.governance.live` - live runs against
  their backtest, demotion candidates.
* :mod:`~qmtl_research.governance.invariants` - QMTL's governance invariants of a world.

Nothing is imported here, so importing one submodule loads only what it needs.
"""
