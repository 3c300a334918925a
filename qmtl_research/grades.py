"""The regulatory grade table (paper Table 1) as data, the quantity it is applied to
(annualised std of weekly returns) and the grade of a std — one home, used by the data
layer (disclosed grades of generated universes) and by the rating stage.

The table lives in ``params/rating/grade_table.yaml``. Boundary semantics:
a fund gets grade *k* when its annualised std (percent) is **<=** grade *k*'s
upper bound and **>** the upper bound of the next safer grade (*k* + 1).
Exactly one grade (the riskiest, grade 1) has no upper bound ("above 25 %").

With the paper's bounds (25, 15, 10, 5, 0.5)::

    std <= 0.5          -> 6      0.5  < std <= 5   -> 5
    5   < std <= 10     -> 4      10   < std <= 15  -> 3
    15  < std <= 25     -> 2      std > 25          -> 1
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from qmtl_research.errors import InputError
from qmtl_research.paths import params_dir
from qmtl_research.yamlio import load_model


class GradeBand(BaseModel):
    """One row of the grade table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    grade: int = Field(ge=1, description="1 = riskiest")
    label: str = ""
    upper_pct: float | None = Field(
        None, gt=0, description="inclusive upper bound of the annualised std in percent; "
                                "null for the riskiest grade (no upper bound)")


class GradeTable(BaseModel):
    """Validated grade table: grades 1..n, bounds strictly decreasing with the grade
    number (no overlap, sorted), exactly the riskiest grade unbounded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "grade table"
    unit: str = "percent annualised std of weekly returns"
    grades: list[GradeBand] = Field(min_length=2)

    @model_validator(mode="after")
    def _check_bounds(self) -> "GradeTable":
        numbers = [g.grade for g in self.grades]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"grades must be listed in order 1..{len(numbers)} without gaps or "
                             f"duplicates, got {numbers}")
        if self.grades[0].upper_pct is not None:
            raise ValueError("grade 1 (the riskiest) must have upper_pct: null (it means 'above "
                             "grade 2's bound')")
        missing = [g.grade for g in self.grades[1:] if g.upper_pct is None]
        if missing:
            raise ValueError(f"only grade 1 may have no upper bound; grades {missing} have none")
        for safer, riskier in zip(self.grades[2:], self.grades[1:-1]):
            if not safer.upper_pct < riskier.upper_pct:
                raise ValueError(
                    f"bounds overlap or are unsorted: grade {safer.grade} upper_pct {safer.upper_pct} "
                    f"must be below grade {riskier.grade} upper_pct {riskier.upper_pct} "
                    f"(bounds must strictly decrease from grade 2 to grade {len(self.grades)})")
        return self

    # ------------------------------------------------------------------ use
    @property
    def n_grades(self) -> int:
        return len(self.grades)

    @property
    def grade_numbers(self) -> list[int]:
        return [g.grade for g in self.grades]

    @property
    def bounds_ascending(self) -> np.ndarray:
        """Upper bounds from the safest grade up (0.5, 5, 10, 15, 25 for the paper)."""
        return np.array([g.upper_pct for g in reversed(self.grades[1:])], dtype=float)

    def upper_bound(self, grade: int) -> float:
        """Inclusive upper bound of ``grade`` in percent (``inf`` for grade 1)."""
        band = self.grades[grade - 1]
        return float("inf") if band.upper_pct is None else float(band.upper_pct)

    def lower_bound(self, grade: int) -> float:
        """Exclusive lower bound of ``grade`` in percent (0 for the safest grade)."""
        return 0.0 if grade == self.n_grades else float(self.grades[grade].upper_pct)

    def grade_of(self, std_pct):
        """Grade(s) of annualised std value(s) in percent.

        Parameters
        ----------
        std_pct : float or array-like
            Annualised standard deviation of weekly returns, **percent** (25.0 = 25 %),
            must be >= 0. NaN gives NaN.

        Returns
        -------
        int, or float ndarray of grades (NaN where the input is NaN).
        """
        x = np.asarray(std_pct, dtype=float)
        if np.any(x[~np.isnan(x)] < 0):
            raise InputError("a standard deviation is negative", where="grade_of(std_pct)",
                             fix="pass annualised std in percent (>= 0)")
        idx = np.searchsorted(self.bounds_ascending, x, side="left")  # bounds are inclusive
        grades = np.where(np.isnan(x), np.nan, (self.n_grades - idx).astype(float))
        if x.ndim == 0:
            return float("nan") if np.isnan(grades) else int(grades)
        return grades

    def distance_to_boundary(self, std_pct: float) -> tuple[float, float]:
        """Signed distance (percentage points) from ``std_pct`` to the nearest bound of its
        own grade band: returns ``(to_riskier, to_safer)`` where ``to_riskier`` = upper
        bound - std (>= 0; inf for grade 1) and ``to_safer`` = std - lower bound (> 0)."""
        g = self.grade_of(std_pct)
        return self.upper_bound(g) - std_pct, std_pct - self.lower_bound(g)


#: the regulator measures the 3 years (156 weekly returns) before a settlement date
GRADE_WINDOW_WEEKS = 156
from qmtl_research.conventions import WEEKS_PER_YEAR  # noqa: E402


def annualised_std_pct(weekly_returns, periods: int = WEEKS_PER_YEAR, axis: int | None = None):
    """Annualised standard deviation of weekly simple returns, in **percent**.

    ``std(returns, ddof=1) * sqrt(periods) * 100`` — the quantity the grade table is
    applied to. ``axis=None`` on 1-D input gives a float; with ``axis`` an array
    (NaN where fewer than two observations).
    """
    x = np.asarray(weekly_returns, dtype=float)
    if axis is None:
        return float(np.std(x, ddof=1) * np.sqrt(periods) * 100.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nanstd(x, axis=axis, ddof=1) * np.sqrt(periods) * 100.0


def default_grade_table_path() -> Path:
    return params_dir() / "rating" / "grade_table.yaml"


def load_grade_table(path: str | Path | None = None) -> GradeTable:
    """Load and validate a grade table (default ``params/rating/grade_table.yaml``);
    problems raise :class:`~qmtl_research.errors.ConfigError` naming file:line and field."""
    return load_model(GradeTable, Path(path) if path else default_grade_table_path(), "grade table")
