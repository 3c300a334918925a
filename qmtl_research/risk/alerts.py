"""Audit alerts (the seed's ``alerts`` of ``config/audit.yaml``): the days a portfolio
reached its drawdown limit or lost more than its daily limit.

::

    from qmtl_research.risk.alerts import check_alerts
    from qmtl_research.risk.audit_settings import load_audit_settings
    alerts = check_alerts(daily_returns, load_audit_settings())
    # DataFrame[date, alert, value, threshold, message], ordered by date then alert

Conventions (returns are per-period **simple** returns as fractions; limits are
negative fractions, see :mod:`qmtl_research.risk.audit_settings`):

* ``drawdown_t = W_t / max(1, max_{s<=t} W_s) - 1`` with compounded wealth
  ``W_t = prod_{s<=t} (1 + r_s)`` starting at ``W = 1`` before the first return
  (negative or 0; the negative of :func:`qmtl_research.measures.drawdown_series`).
* ``max_drawdown`` alert: **once per drawdown episode**, on the first day whose
  drawdown reaches the limit (``drawdown_t <= max_drawdown``). An episode starts at a
  wealth peak and ends at the next new peak (``drawdown == 0``); later days of the
  same episode, even deeper ones or ones that dip below the limit again after a
  partial recovery, raise no further alert. ``value`` is that day's drawdown.
* ``daily_loss`` alert: **every day** whose return is at or below the limit
  (``r_t <= daily_loss``); ``value`` is the day's return.
* "At or below" allows :data:`TOLERANCE` (1e-12) so that a loss of exactly 3 % that
  came out of prices as -0.029999999999999 still counts.

The drawdown depends on where the series starts: pass the whole history you mean
(e.g. every stored snapshot of a portfolio), then keep the dates you want to report.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from qmtl_research import measures
from qmtl_research.errors import InputError
from qmtl_research.risk.input_checks import check_returns

TOLERANCE = 1e-12
ALERT_COLUMNS = ["date", "alert", "value", "threshold", "message"]


def drawdowns(returns: pd.Series) -> pd.Series:
    """Drawdown after each period (negative or 0, see the module docstring), on the returns' index.

    Parameters
    ----------
    returns : pandas.Series
        Per-period simple returns as fractions (0.01 = 1 %), finite.

    Returns
    -------
    pandas.Series
        ``drawdown`` on ``returns.index``: a fraction <= 0 (-0.2 = 20 % below the running peak).
    """
    r = check_returns(returns, where="alert returns")
    return pd.Series(-measures.drawdown_series(r) + 0.0, index=returns.index, name="drawdown")


def check_alerts(returns: pd.Series, settings) -> pd.DataFrame:
    """The alerts of ``returns`` under ``settings``.

    Parameters
    ----------
    returns : pandas.Series
        Per-period simple returns as fractions, on a DatetimeIndex.
    settings : AuditSettings or AlertSettings
        :class:`~qmtl_research.risk.audit_settings.AuditSettings` or its ``alerts``; the limits
        ``max_drawdown`` and ``daily_loss`` are negative fractions (``None`` = off).

    Returns
    -------
    pandas.DataFrame
        Columns ``date`` (Timestamp), ``alert`` (``"max_drawdown"`` |
        ``"daily_loss"``), ``value`` (the drawdown or the return, a negative fraction),
        ``threshold`` (the limit) and ``message`` (one sentence), sorted by date then alert;
        empty (same columns) when nothing was reached.
    """
    if not isinstance(returns, pd.Series) or not isinstance(returns.index, pd.DatetimeIndex):
        raise InputError("alert returns must be a Series with a DatetimeIndex", where="check_alerts")
    limits = getattr(settings, "alerts", settings)
    if returns.empty:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    r = pd.Series(check_returns(returns, where="alert returns"), index=returns.index)
    rows = []
    mdd = limits.max_drawdown
    if mdd is not None:
        dd = drawdowns(r).to_numpy()
        armed = True
        for i, d in enumerate(dd):
            if d == 0.0:
                armed = True             # a new peak ends the episode
            elif armed and d <= mdd + TOLERANCE:
                armed = False
                rows.append((r.index[i], "max_drawdown", float(d), float(mdd),
                             f"drawdown {d:.2%} reached the limit {mdd:.2%} (first day of this drawdown episode)"))
    loss = limits.daily_loss
    if loss is not None:
        hit = np.flatnonzero(r.to_numpy() <= loss + TOLERANCE)
        for i in hit:
            v = float(r.iat[i])
            rows.append((r.index[i], "daily_loss", v, float(loss),
                         f"daily return {v:.2%} is at or below the daily loss limit {loss:.2%}"))
    out = pd.DataFrame(rows, columns=ALERT_COLUMNS)
    if out.empty:
        return out
    return out.sort_values(["date", "alert"], kind="stable").reset_index(drop=True)


def alerts_text(alerts: pd.DataFrame, settings) -> list[str]:
    """Lines for the CLI: a header with the limits and one line per alert.

    Parameters
    ----------
    alerts : pandas.DataFrame
        :func:`check_alerts`' table.
    settings : AuditSettings or AlertSettings
        The limits shown in the header (as percents; ``off`` when ``None``).

    Returns
    -------
    list of str
        The header, then ``"  none"`` or one line per alert.
    """
    limits = getattr(settings, "alerts", settings)
    fmt = lambda v: "off" if v is None else f"{v:.2%}"  # noqa: E731
    head = f"🚨 Alerts (max drawdown {fmt(limits.max_drawdown)}, daily loss {fmt(limits.daily_loss)})"
    if alerts.empty:
        return [head, "  none"]
    return [head] + [f"  {pd.Timestamp(a.date).date()}  {a.alert:<12} {a.message}" for a in alerts.itertuples()]
