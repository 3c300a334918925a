"""Audit-layer settings (``params/audit.yaml``: the seed's ``config/audit.yaml``), validated.

::

    from qmtl_research.risk.audit_settings import load_audit_settings
    s = load_audit_settings()            # params/audit.yaml, or load_audit_settings("my.yaml")
    s.alerts.max_drawdown, s.alerts.daily_loss     # -0.10, -0.03
    s.benchmark                                    # "KOSPI"

File layout (one top-level ``audit:`` block, unknown keys are errors)::

    audit:
      snapshot: {enabled: true, time: "16:00", timezone: Asia/Seoul}
      benchmark: KOSPI            # KOSPI | SP500 | none
      alerts: {max_drawdown: -0.10, daily_loss: -0.03}

* ``snapshot.enabled``: ``false`` makes ``audit snapshot --save`` refuse (the command
  still computes and prints). ``snapshot.time`` (``HH:MM``, 24 h) in
  ``snapshot.timezone`` (an IANA zone) is when a scheduler (cron) should run the
  snapshot; the project has no scheduler of its own, the CLI prints it.
* ``benchmark`` names the benchmark series of ``audit performance`` among the series
  the project has (:data:`BENCHMARK_SERIES`): ``KOSPI`` is the demo data's
  **synthetic** KOSPI (the generator's market factor, series "KOSPI (synthetic)");
  ``SP500`` the real S&P 500 index of the skfolio data (series "S&P 500"); ``none``
  no benchmark. The seed's ``KOSDAQ`` is refused: no KOSDAQ series exists here.
* ``alerts`` thresholds are **returns as negative fractions** (the sign of a loss):
  ``max_drawdown: -0.10`` = a drawdown of 10 %, ``daily_loss: -0.03`` = a one-day
  return of -3 %. Each must lie in (-1, 0); ``null`` switches the alert off. What
  "reached" means: :mod:`qmtl_research.risk.alerts`.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from qmtl_research.errors import ConfigError
from qmtl_research.paths import params_dir
from qmtl_research.yamlio import line_of, load_model

#: benchmark choice -> (series name in the portfolio data, what it is)
BENCHMARK_SERIES: dict[str, tuple[str, str]] = {
    "KOSPI": ("KOSPI (synthetic)", "the audit demo's SYNTHETIC KOSPI (its market factor)"),
    "SP500": ("S&P 500", "the real S&P 500 index (skfolio data)"),
}
BENCHMARK_CHOICES = (*BENCHMARK_SERIES, "none")


class SnapshotSettings(BaseModel):
    """When the daily snapshot is taken (``audit.snapshot``; see the module docstring).

    Attributes
    ----------
    enabled : bool
        ``False`` makes ``audit snapshot --save`` refuse (it still computes and prints).
    time : str
        ``HH:MM``, 24-hour clock, in ``timezone``: when a scheduler should run the snapshot.
    timezone : str
        An IANA time zone name, e.g. ``Asia/Seoul``.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    time: str = "16:00"
    timezone: str = "Asia/Seoul"

    @field_validator("time", mode="before")
    @classmethod
    def _time(cls, v) -> str:
        if not isinstance(v, str):
            raise ValueError(f"time must be a quoted \"HH:MM\" string (YAML reads an unquoted 16:00 as the number "
                             f"960; got {v!r})")
        m = re.fullmatch(r"(\d{2}):(\d{2})", str(v))
        if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            raise ValueError(f"time {v!r} is not a 24-hour HH:MM time (e.g. \"16:00\"; quote it in YAML)")
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as Asia/Seoul") from None
        return v


class AlertSettings(BaseModel):
    """Alert limits as negative return fractions (``None`` = off).

    Attributes
    ----------
    max_drawdown : float or None
        Drawdown limit, a fraction in (-1, 0): ``-0.10`` = a drawdown of 10 %.
    daily_loss : float or None
        One-day return limit, a fraction in (-1, 0): ``-0.03`` = a one-day return of -3 %.
    """

    model_config = ConfigDict(extra="forbid")

    max_drawdown: float | None = -0.10
    daily_loss: float | None = -0.03

    @field_validator("max_drawdown", "daily_loss")
    @classmethod
    def _negative_fraction(cls, v, info):
        if v is not None and not (-1.0 < v < 0.0):
            example = "-0.10 for a 10 % drawdown" if info.field_name == "max_drawdown" else "-0.03 for a 3 % loss"
            raise ValueError(f"{v!r} is not a negative fraction in (-1, 0): limits are returns, e.g. {example}")
        return v


class AuditSettings(BaseModel):
    """The ``audit:`` block of ``params/audit.yaml`` (see the module docstring).

    Attributes
    ----------
    snapshot : SnapshotSettings
        When the daily snapshot is taken.
    benchmark : {"KOSPI", "SP500", "none"}
        The benchmark series of ``audit performance`` (:data:`BENCHMARK_SERIES`).
    alerts : AlertSettings
        Drawdown and daily-loss limits (negative fractions).
    """

    model_config = ConfigDict(extra="forbid")

    snapshot: SnapshotSettings = Field(default_factory=SnapshotSettings)
    benchmark: Literal["KOSPI", "SP500", "none"] = "KOSPI"
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    _source: str | None = PrivateAttr(default=None)

    @field_validator("benchmark", mode="before")
    @classmethod
    def _benchmark(cls, v):
        if isinstance(v, str) and v.upper() == "KOSDAQ":
            raise ValueError("the project has no KOSDAQ series; use KOSPI (the demo's synthetic KOSPI), "
                             "SP500 (the real S&P 500 index) or none")
        return v

    @property
    def source(self) -> str:
        """Where the settings came from (file path, or ``defaults``)."""
        return self._source or "defaults"

    def where(self, *field: str) -> str:
        """``file:line field 'audit.x.y'`` of a setting, for error messages.

        Parameters
        ----------
        *field : str
            The setting's path below ``audit``, e.g. ``("alerts", "daily_loss")``.

        Returns
        -------
        str
            ``file:line field 'audit...'`` (no line when it is not found; no file for defaults).
        """
        dotted = ".".join(("audit", *field))
        if self._source is None:
            return f"audit settings field '{dotted}'"
        ln = line_of(self._source, ("audit", *field))
        return f"{self._source}:{ln} field '{dotted}'" if ln else f"{self._source} field '{dotted}'"

    def benchmark_series(self) -> str | None:
        """The series name the ``benchmark`` choice stands for (None for ``none``)."""
        return None if self.benchmark == "none" else BENCHMARK_SERIES[self.benchmark][0]


class _AuditFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audit: AuditSettings


def default_settings_path() -> Path:
    """``params/audit.yaml`` of the project's params directory."""
    return params_dir() / "audit.yaml"


def load_audit_settings(path: str | Path | None = None) -> AuditSettings:
    """Load ``params/audit.yaml`` (or ``path``); errors name file:line and the field.

    Parameters
    ----------
    path : str, Path or None
        The settings file; ``None`` reads :func:`default_settings_path`.

    Returns
    -------
    AuditSettings
        The validated settings, their :attr:`AuditSettings.source` set to the file.
    """
    p = Path(path) if path else default_settings_path()
    settings = load_model(_AuditFile, p, "audit settings").audit
    settings._source = str(p)
    return settings


def resolve_benchmark(data, settings: AuditSettings, choice: str | None = None):
    """``(returns, series name)`` of the benchmark chosen by ``choice`` (else ``settings.benchmark``)
    in a :class:`~qmtl_research.data.portfolio.PortfolioData`; ``(None, None)`` for ``none``.

    Raises ConfigError naming the setting (file:line) when the portfolio's data has no such series.

    Parameters
    ----------
    data : PortfolioData
        The portfolio's data; its ``benchmark_returns`` must be the chosen series.
    settings : AuditSettings
        Gives ``benchmark`` when ``choice`` is not set, and file:line for errors.
    choice : str or None
        ``--benchmark-index`` (``KOSPI``, ``SP500`` or ``none``), overriding the settings.

    Returns
    -------
    (pandas.Series or None, str or None)
        The benchmark's returns (as stored in ``data``) and its series name.
    """
    code = choice or settings.benchmark
    if code not in BENCHMARK_CHOICES:
        raise ConfigError(f"unknown benchmark {code!r}", where="--benchmark-index",
                          fix=f"use one of: {', '.join(BENCHMARK_CHOICES)}")
    if code == "none":
        return None, None
    name, what = BENCHMARK_SERIES[code]
    have = data.benchmark_returns
    if have is None or have.name != name:
        where = "--benchmark-index" if choice else settings.where("benchmark")
        has = f"its benchmark is {have.name!r}" if have is not None else "it has no benchmark"
        fix_code = next((c for c, (n, _) in BENCHMARK_SERIES.items() if have is not None and n == have.name), "none")
        raise ConfigError(f"benchmark {code} ({what}) is not in the data of {data.label()}; {has}", where=where,
                          fix=f"choose --benchmark-index {fix_code} (or set audit.benchmark: {fix_code})")
    return have, name
