"""Grading schemes as data: the regulatory rules that turn a fund's return history into a
risk grade, their measures, and one registry (``params/grading/*.yaml``).

A scheme (:class:`GradingScheme`) declares

* the **measure** (one of :data:`MEASURES`):

  ``weekly_std``   annualised sample std (ddof = 1) of the last ``window_weeks`` weekly simple
                   returns x sqrt(periods_per_year), percent (Korea FSS 2016, UCITS SRRI);
  ``daily_std``    annualised sample std of the daily simple returns of the ``window_years``
                   calendar years before the settlement, percent;
  ``daily_var``    historical VaR (``confidence``, positive loss) of those daily simple returns,
                   percent of value, one day unless ``annualise`` (Korea FSS 2024 option);
  ``priips_vev``   PRIIPs VaR-equivalent volatility (Reg. (EU) 2017/653 Annex II, category 2):
                   Cornish-Fisher 97.5 % VaR in return space of the daily **log** returns, turned
                   into ``VEV = (sqrt(3.842 - 2 VaR) - 1.96) / sqrt(T)``, percent;

* the **bands**: ascending edges (percent of the measure), the side each edge belongs to
  (``inclusive: upper`` = bands ``(a, b]``, an edge value falls in the safer band;
  ``inclusive: lower`` = bands ``[a, b)``, an edge value falls in the riskier band), the number
  of grades and their direction (``grade_1: riskiest`` as in Korea, ``grade_1: safest`` as in
  the EU's 1..7 scales);
* the **minimum history** (full window unless the text allows less), the source document and
  its effective date.

The shipped schemes (``qmtl-research`` lists them with :func:`list_schemes`): ``kr-2016`` (the
paper's Table 1, the default), ``ucits-srri``, ``priips-mrm``; ``kr-daily-var`` ships the measure
only - its edges must be declared by the user from KOFIA's standard investment solicitation
rules, and the loader refuses it until they are.

With ``kr-2016`` (edges 0.5, 5, 10, 15, 25, ``inclusive: upper``, grade 1 riskiest)::

    std <= 0.5          -> 6      0.5  < std <= 5   -> 5
    5   < std <= 10     -> 4      10   < std <= 15  -> 3
    15  < std <= 25     -> 2      std > 25          -> 1

Over 400 lines because it is the registry of grading schemes with their measures (weekly std, daily
std/VaR, PRIIPs VEV); a scheme and its measure are read together.
"""
from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from qmtl_research.conventions import WEEKS_PER_YEAR
from qmtl_research.errors import ConfigError, InputError
from qmtl_research.identifiers import check_identifier
from qmtl_research.paths import params_dir
from qmtl_research.yamlio import load_model

#: the regulator measures the 3 years (156 weekly returns) before a settlement date (kr-2016)
GRADE_WINDOW_WEEKS = 156
DEFAULT_SCHEME = "kr-2016"
#: trading periods a year of daily data in the PRIIPs VEV (the ESAs' Q&A on 2017/653: 256 days)
PRIIPS_DAYS_PER_YEAR = 256


# =================================================================== measures (pure functions)
def annualised_std_pct(weekly_returns, periods: int = WEEKS_PER_YEAR, axis: int | None = None):
    """Annualised standard deviation of periodic simple returns, in **percent**.

    Parameters
    ----------
    weekly_returns : array-like
        Simple returns as fractions (0.01 = +1 %), one period each (weekly by default).
    periods : int
        Periods a year (52 weekly, 252 daily).
    axis : int, optional
        ``None`` on 1-D input gives a float; with ``axis`` an array (NaN where fewer than two
        observations, NaNs ignored).

    Returns
    -------
    float or ndarray
        ``std(returns, ddof=1) * sqrt(periods) * 100`` (25.0 = 25 %).
    """
    x = np.asarray(weekly_returns, dtype=float)
    if axis is None:
        return float(np.std(x, ddof=1) * np.sqrt(periods) * 100.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nanstd(x, axis=axis, ddof=1) * np.sqrt(periods) * 100.0


def daily_var_pct(daily_returns, confidence: float = 0.975, convention: str = "linear",
                  annualise: bool = False, periods_per_year: int = 252) -> float:
    """Historical Value-at-Risk of daily simple returns, in percent, as a **positive loss**.

    Parameters
    ----------
    daily_returns : array-like
        Daily simple returns (fractions), no NaN.
    confidence : float
        VaR confidence (0.975 = 97.5 %).
    convention : str
        Quantile convention of :func:`qmtl_research.risk.var.historical_var` (``"linear"`` is
        ``-numpy.quantile(r, 1 - confidence)``).
    annualise, periods_per_year :
        Scale the one-day VaR by ``sqrt(periods_per_year)`` (square-root-of-time) when ``annualise``.

    Returns
    -------
    float
        VaR in percent of value (2.0 = a 2 % one-day loss); negative when even the lower quantile
        is a gain.
    """
    from qmtl_research.risk.var import historical_var

    var = historical_var(np.asarray(daily_returns, dtype=float), confidence, convention=convention).var * 100.0
    return float(var * math.sqrt(periods_per_year)) if annualise else float(var)


def cornish_fisher_var_from_moments(sigma: float, skew: float, excess_kurtosis: float, n_periods: float) -> float:
    """PRIIPs Cornish-Fisher 97.5 % VaR in return space from the moments (Reg. (EU) 2017/653,
    Annex II, point 12).

    Parameters
    ----------
    sigma : float
        Std of the one-period log returns (population, ``sqrt(M2)``), fraction.
    skew, excess_kurtosis : float
        ``mu1 = M3 / sigma^3`` and ``mu2 = M4 / sigma^4 - 3``.
    n_periods : float
        ``N``, trading periods in the recommended holding period (256 x T for daily prices).

    Returns
    -------
    float
        ``sigma sqrt(N) (-1.96 + 0.474 mu1 / sqrt(N) - 0.0687 mu2 / N + 0.146 mu1^2 / N) - 0.5 sigma^2 N``,
        a log-return fraction (negative = a loss).
    """
    n = float(n_periods)
    if not n > 0:
        raise InputError(f"N = {n_periods} trading periods is not positive", where="cornish_fisher_var_from_moments",
                         fix="N = periods a year x holding period in years")
    return (sigma * math.sqrt(n) * (-1.96 + 0.474 * skew / math.sqrt(n) - 0.0687 * excess_kurtosis / n
                                    + 0.146 * skew ** 2 / n) - 0.5 * sigma ** 2 * n)


def vev_from_var(var_return_space: float, holding_period_years: float) -> float:
    """VaR-equivalent volatility (Annex II, point 13) as a fraction:
    ``(sqrt(3.842 - 2 VaR) - 1.96) / sqrt(T)``; NaN when ``3.842 - 2 VaR < 0``."""
    inside = 3.842 - 2.0 * var_return_space
    return float((math.sqrt(inside) - 1.96) / math.sqrt(holding_period_years)) if inside >= 0 else float("nan")


def cornish_fisher_var_return_space(log_returns, n_periods: float) -> float:
    """PRIIPs Cornish-Fisher 97.5 % VaR in return space of observed log returns.

    Parameters
    ----------
    log_returns : array-like
        Observed log returns ``ln(P_t / P_{t-1})`` of one period each (daily), no NaN.
    n_periods : float
        ``N``, the number of trading periods in the recommended holding period.

    Returns
    -------
    float
        :func:`cornish_fisher_var_from_moments` of the sample's moments.

    Notes
    -----
    The moments are those of Annex II point 12: ``M1`` the mean, ``M2 = mean((r - M1)^2)`` etc.
    (population moments, divided by the number of observations M0), ``sigma = sqrt(M2)``,
    ``mu1 = M3 / sigma^3`` (``scipy.stats.skew(bias=True)``) and ``mu2 = M4 / sigma^4 - 3``
    (``scipy.stats.kurtosis(bias=True)``). The mean does not enter the VaR. A window of constant
    returns (sigma = 0) has VaR 0.
    """
    from scipy import stats

    r = np.asarray(log_returns, dtype=float)
    if r.size < 3 or not np.isfinite(r).all():
        raise InputError(f"the Cornish-Fisher VaR needs at least 3 finite returns, got {r.size}",
                         where="cornish_fisher_var_return_space", fix="pass the window's daily log returns")
    sigma = float(np.std(r, ddof=0))
    if sigma == 0.0:
        return 0.0
    return cornish_fisher_var_from_moments(sigma, float(stats.skew(r, bias=True)),
                                           float(stats.kurtosis(r, fisher=True, bias=True)), n_periods)


def priips_vev_pct(daily_returns, holding_period_years: float,
                   periods_per_year: int = PRIIPS_DAYS_PER_YEAR) -> float:
    """PRIIPs VaR-equivalent volatility (Reg. (EU) 2017/653, Annex II, point 13), in percent.

    Parameters
    ----------
    daily_returns : array-like
        Daily **simple** returns (fractions), no NaN; turned into log returns ``ln(1 + r)``
        (the regulation's ``ln(P_t / P_{t-1})``).
    holding_period_years : float
        ``T``, the recommended holding period in years.
    periods_per_year : int
        Trading periods a year (256 for daily prices), so ``N = periods_per_year * T``.

    Returns
    -------
    float
        ``(sqrt(3.842 - 2 VaR) - 1.96) / sqrt(T) * 100`` with ``VaR`` from
        :func:`cornish_fisher_var_return_space`.

    Notes
    -----
    For normal returns (no skew, no excess kurtosis) with daily std ``s``:
    ``3.842 - 2 VaR ~= (1.96 + s sqrt(N))^2`` so ``VEV ~= s sqrt(periods_per_year)``, the
    annualised volatility, whatever ``T``.
    """
    if not holding_period_years > 0:
        raise InputError(f"holding period {holding_period_years} years is not positive",
                         where="priips_vev_pct(holding_period_years)", fix="give the recommended holding period in years")
    r = np.asarray(daily_returns, dtype=float)
    if (r <= -1).any():
        raise InputError("a daily return of -100 % or less has no log return", where="priips_vev_pct",
                         fix="returns are fractions (0.01 = +1 %)")
    var = cornish_fisher_var_return_space(np.log1p(r), periods_per_year * holding_period_years)
    return vev_from_var(var, holding_period_years) * 100.0


# =================================================================== scheme models
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WeeklyStd(_Strict):
    """Annualised std of the last ``window_weeks`` weekly simple returns (ddof = 1), percent."""

    kind: Literal["weekly_std"]
    window_weeks: int = Field(ge=10, description="weekly returns in the window (156 = 3 years)")
    periods_per_year: int = Field(WEEKS_PER_YEAR, ge=1)
    min_weeks: int | None = Field(None, ge=10, description="fewest observed weeks graded (default: the full window)")

    @property
    def frequency(self) -> str:
        return "weekly"

    def describe(self) -> str:
        return f"annualised std of {self.window_weeks} weekly returns (x sqrt({self.periods_per_year}))"


class _Daily(_Strict):
    window_years: float = Field(gt=0, description="calendar years of daily returns before the settlement")
    min_history_years: float | None = Field(
        None, gt=0, description="shortest history graded, years (default: the full window)")

    @property
    def frequency(self) -> str:
        return "daily"

    @model_validator(mode="after")
    def _history(self):
        if self.min_history_years is not None and self.min_history_years > self.window_years:
            raise ValueError(f"min_history_years {self.min_history_years} exceeds window_years {self.window_years}")
        return self


class DailyStd(_Daily):
    """Annualised std of the daily simple returns of the window (ddof = 1), percent."""

    kind: Literal["daily_std"]
    periods_per_year: int = Field(252, ge=1)

    def describe(self) -> str:
        return f"annualised std of {self.window_years:g} years of daily returns (x sqrt({self.periods_per_year}))"


class DailyVar(_Daily):
    """Historical VaR of the daily simple returns of the window, percent, positive loss."""

    kind: Literal["daily_var"]
    confidence: float = Field(0.975, gt=0.5, lt=1)
    convention: str = Field("linear", description="quantile convention (qmtl_research.risk.var.CONVENTIONS)")
    annualise: bool = False
    periods_per_year: int = Field(252, ge=1)

    @field_validator("convention")
    @classmethod
    def _conv(cls, v: str) -> str:
        from qmtl_research.risk.var import CONVENTIONS

        if v not in CONVENTIONS:
            raise ValueError(f"unknown quantile convention {v!r}; use one of {list(CONVENTIONS)}")
        return v

    def describe(self) -> str:
        scale = f", x sqrt({self.periods_per_year})" if self.annualise else ", one day"
        return f"historical {self.confidence:.1%} VaR of {self.window_years:g} years of daily returns{scale}"


class PriipsVev(_Daily):
    """PRIIPs VEV from the daily log returns of the window, percent."""

    kind: Literal["priips_vev"]
    holding_period_years: float = Field(gt=0, description="T, the recommended holding period (years)")
    periods_per_year: int = Field(PRIIPS_DAYS_PER_YEAR, ge=1)

    def describe(self) -> str:
        return (f"PRIIPs VEV (Cornish-Fisher 97.5% VaR of {self.window_years:g} years of daily log returns, "
                f"T = {self.holding_period_years:g} years, N = {self.periods_per_year} x T)")


Measure = Annotated[Union[WeeklyStd, DailyStd, DailyVar, PriipsVev], Field(discriminator="kind")]
MEASURES = ("weekly_std", "daily_std", "daily_var", "priips_vev")


class Bands(_Strict):
    """Band edges of a scheme (see the module docstring)."""

    n_grades: int = Field(ge=2)
    edges_pct: list[float] = Field(min_length=1, description="ascending edges between bands, percent")
    inclusive: Literal["upper", "lower"] = Field(
        description="upper: bands (a, b], an edge value is in the safer band; lower: bands [a, b)")
    grade_1: Literal["riskiest", "safest"]
    labels: list[str] = Field(default_factory=list, description="grade 1 .. n")

    @model_validator(mode="after")
    def _check(self) -> "Bands":
        e = self.edges_pct
        if len(e) != self.n_grades - 1:
            raise ValueError(f"{self.n_grades} grades need {self.n_grades - 1} edges, got {len(e)}")
        if any(not b > a for a, b in zip(e, e[1:])):
            raise ValueError(f"edges_pct must increase strictly (no overlap, sorted), got {e}")
        if self.labels and len(self.labels) != self.n_grades:
            raise ValueError(f"labels: {len(self.labels)} given for {self.n_grades} grades")
        return self


class GradingScheme(_Strict):
    """A validated grading scheme (``params/grading/<scheme_id>.yaml``)."""

    scheme_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    jurisdiction: str = ""
    source: str = Field(description="the document that defines the rule")
    effective_date: _dt.date
    measure: Measure
    bands: Bands | None = None
    bands_source: str = Field("", description="where the band edges come from (needed when bands are missing)")
    settlement: str = Field("", description="when the grade is set (e.g. each annual settlement)")
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _bands_declared(self) -> "GradingScheme":
        if self.bands is None:
            raise ValueError(f"scheme {self.scheme_id} has no band edges: declare 'bands' (n_grades, edges_pct, "
                             f"inclusive, grade_1) from {self.bands_source or 'the rule text'}")
        return self

    # ------------------------------------------------------------------ the old GradeTable API
    @property
    def name(self) -> str:
        return self.title

    @property
    def n_grades(self) -> int:
        return self.bands.n_grades

    @property
    def grade_numbers(self) -> list[int]:
        return list(range(1, self.n_grades + 1))

    @property
    def bounds_ascending(self) -> np.ndarray:
        """Band edges from the safest band up (0.5, 5, 10, 15, 25 for kr-2016), percent."""
        return np.asarray(self.bands.edges_pct, dtype=float)

    @property
    def unit(self) -> str:
        return f"percent: {self.measure.describe()}"

    def _band(self, grade: int) -> int:
        """0-based band from the safest."""
        if grade not in self.grade_numbers:
            raise InputError(f"grade {grade} is not a grade of {self.scheme_id} (1..{self.n_grades})",
                             where=f"scheme {self.scheme_id}")
        return self.n_grades - grade if self.bands.grade_1 == "riskiest" else grade - 1

    def is_riskier(self, a: int, b: int) -> bool:
        """True when grade ``a`` is riskier than grade ``b`` under this scheme's direction."""
        return self._band(a) > self._band(b)

    def risk_rank(self, grades):
        """0 (safest) .. n - 1 (riskiest) for grade(s), direction-free."""
        g = np.asarray(grades, dtype=float)
        return (self.n_grades - g) if self.bands.grade_1 == "riskiest" else (g - 1)

    def upper_bound(self, grade: int) -> float:
        """Upper edge of ``grade``'s band in percent (``inf`` for the riskiest)."""
        i = self._band(grade)
        return float("inf") if i == self.n_grades - 1 else float(self.bands.edges_pct[i])

    def lower_bound(self, grade: int) -> float:
        """Lower edge of ``grade``'s band in percent (``-inf`` for the safest band of a measure that
        may be negative, 0 for a std)."""
        i = self._band(grade)
        if i == 0:
            return 0.0 if self.measure.kind.endswith("_std") else float("-inf")
        return float(self.bands.edges_pct[i - 1])

    def grade_of(self, value_pct):
        """Grade(s) of measure value(s) in percent.

        Parameters
        ----------
        value_pct : float or array-like
            The scheme's measure in **percent** (25.0 = 25 %). NaN gives NaN. A std must be >= 0.

        Returns
        -------
        int, or float ndarray of grades (NaN where the input is NaN).
        """
        x = np.asarray(value_pct, dtype=float)
        if self.measure.kind.endswith("_std") and np.any(x[~np.isnan(x)] < 0):
            raise InputError("a standard deviation is negative", where=f"grade_of ({self.scheme_id})",
                             fix="pass the annualised std in percent (>= 0)")
        side = "left" if self.bands.inclusive == "upper" else "right"
        band = np.searchsorted(self.bounds_ascending, x, side=side)
        grade = (self.n_grades - band) if self.bands.grade_1 == "riskiest" else band + 1
        grades = np.where(np.isnan(x), np.nan, grade.astype(float))
        if x.ndim == 0:
            return float("nan") if np.isnan(grades) else int(grades)
        return grades

    def distance_to_boundary(self, value_pct: float) -> tuple[float, float]:
        """``(to_riskier, to_safer)``: the distance (percentage points) from ``value_pct`` up to its band's
        upper edge (inf for the riskiest band) and down to its lower edge."""
        g = self.grade_of(value_pct)
        return self.upper_bound(g) - value_pct, value_pct - self.lower_bound(g)

    def bands_table(self) -> list[tuple[int, str, str]]:
        """(grade, label, interval) rows, grade 1 first, intervals written with their inclusive side."""
        rows = []
        for g in self.grade_numbers:
            lo, hi = self.lower_bound(g), self.upper_bound(g)
            left = "[" if self.bands.inclusive == "lower" else "("
            right = "]" if self.bands.inclusive == "upper" else ")"
            if math.isinf(hi):
                text = f"{'>=' if self.bands.inclusive == 'lower' else '>'} {lo:g}"
            elif self._band(g) == 0:
                text = f"{'<=' if self.bands.inclusive == 'upper' else '<'} {hi:g}"
            else:
                text = f"{left}{lo:g}, {hi:g}{right}"
            label = self.bands.labels[g - 1] if self.bands.labels else ""
            rows.append((g, label, text))
        return rows


#: the name stage 2 and the data layer used before schemes: the kr-2016 scheme is the grade table
GradeTable = GradingScheme


# =================================================================== registry
def schemes_dir() -> Path:
    return params_dir() / "grading"


def list_schemes() -> list[str]:
    """Scheme ids shipped in ``params/grading/`` (including those whose bands the user must declare)."""
    folder = schemes_dir()
    return sorted(p.stem for p in folder.glob("*.y*ml")) if folder.is_dir() else []


def scheme_path(name: str) -> Path:
    check_identifier(name, "grading scheme", where="the scheme name (params/grading/<name>.yaml)")
    for ext in (".yaml", ".yml"):
        p = schemes_dir() / f"{name}{ext}"
        if p.is_file():
            return p
    raise ConfigError(f"unknown grading scheme {name!r}", where=str(schemes_dir()),
                      fix=f"use one of: {', '.join(list_schemes()) or '(none)'}, or add params/grading/{name}.yaml")


def load_scheme(name_or_path: str | Path = DEFAULT_SCHEME) -> GradingScheme:
    """Load and validate a scheme by id (``params/grading/<id>.yaml``) or by path; problems raise
    :class:`~qmtl_research.errors.ConfigError` naming file:line and field (a scheme without bands
    says where to get them)."""
    p = Path(name_or_path)
    path = p if p.suffix in (".yaml", ".yml") else scheme_path(str(name_or_path))
    scheme = load_model(GradingScheme, path, f"grading scheme {path.name}")
    if p.suffix not in (".yaml", ".yml") and scheme.scheme_id != str(name_or_path):
        raise ConfigError(f"scheme_id {scheme.scheme_id!r} does not match the file name {path.stem!r}",
                          where=str(path), fix="make them equal")
    return scheme


def load_schemes(names) -> dict[str, GradingScheme]:
    """Several schemes by id, in the given order (duplicates refused)."""
    names = list(names)
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"grading scheme(s) {dup} listed twice", where="schemes", fix="list each scheme once")
    return {n: load_scheme(n) for n in names}


def default_grade_table_path() -> Path:
    return scheme_path(DEFAULT_SCHEME)


def load_grade_table(path: str | Path | None = None) -> GradingScheme:
    """The paper's grade table = the ``kr-2016`` scheme (or the scheme file at ``path``)."""
    return load_scheme(path if path else DEFAULT_SCHEME)
