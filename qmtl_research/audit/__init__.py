"""Audit layer (the seed's S7): performance reports, factor attribution, daily
snapshots, risk reports, and their tables in the Evaluation Store.

* :mod:`~qmtl_research.audit.portfolio` - portfolio specs (validated weights), demo and real data.
* :mod:`~qmtl_research.audit.performance` - :class:`PerformanceReport` / :func:`analyze`.
* :mod:`~qmtl_research.audit.attribution` - OLS factor attribution that adds up.
* :mod:`~qmtl_research.audit.snapshot` - daily snapshots from positions and prices; the positions file.
* :mod:`~qmtl_research.audit.risk_report` - VaR, Monte Carlo and stress report.
* :mod:`~qmtl_research.audit.settings` - ``params/audit.yaml`` (snapshot, benchmark, alert limits).
* :mod:`~qmtl_research.audit.alerts` - :func:`check_alerts`: drawdown and daily-loss alerts.
* :mod:`~qmtl_research.audit.repository` - persistence: one transaction per command run
  (``with AuditRepository.open(url).transaction() as tx: ...``), reruns unchanged or refused.
"""
from qmtl_research.audit.alerts import ALERT_COLUMNS, check_alerts
from qmtl_research.audit.attribution import AttributionResult, factor_attribution
from qmtl_research.audit.performance import PerformanceReport, analyze, period_bounds
from qmtl_research.audit.portfolio import (DEMO_STOCKS, DEMO_WEIGHTS, PortfolioData, PortfolioSpec, demo_portfolio,
                                           load_portfolio, real_portfolio, validate_weights)
from qmtl_research.audit.risk_report import RiskReport, generate_report, save_report
from qmtl_research.audit.settings import AuditSettings, load_audit_settings, resolve_benchmark
from qmtl_research.audit.snapshot import (DailySnapshot, Positions, PositionSnapshot, build_snapshots, demo_positions,
                                          read_positions, snapshots_frame)

__all__ = ["AttributionResult", "factor_attribution", "PerformanceReport", "analyze",
           "period_bounds", "DEMO_STOCKS", "DEMO_WEIGHTS", "PortfolioData", "PortfolioSpec", "demo_portfolio",
           "load_portfolio", "real_portfolio", "validate_weights", "RiskReport", "generate_report", "save_report",
           "DailySnapshot", "PositionSnapshot", "Positions", "build_snapshots", "snapshots_frame", "read_positions",
           "demo_positions", "ALERT_COLUMNS", "check_alerts", "AuditSettings", "load_audit_settings",
           "resolve_benchmark"]
