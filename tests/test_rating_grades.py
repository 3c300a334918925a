"""Grade table (paper Table 1): boundaries, validation of bad tables."""
from __future__ import annotations

import numpy as np
import pytest

import qmtl_research  # noqa: F401
from qmtl_research.errors import ConfigError, InputError
from qmtl_research.grades import load_grade_table

EPS = 1e-9


@pytest.fixture(scope="module")
def table():
    return load_grade_table()


@pytest.mark.parametrize("std, grade", [
    (0.0, 6), (0.5, 6), (0.5 + EPS, 5), (3.0, 5), (5.0, 5), (5.0 + EPS, 4), (10.0, 4), (10.0 + EPS, 3),
    (15.0, 3), (15.0 + EPS, 2), (25.0, 2), (25.0 + EPS, 1), (80.0, 1),
])
def test_boundaries_are_inclusive_at_the_top(table, std, grade):
    assert table.grade_of(std) == grade


def test_vectorised_grades_match_hand_values(table):
    x = np.array([0.0, 0.5, 0.50001, 4.99, 5.0, 7.0, 10.0, 10.2, 15.0, 15.01, 25.0, 25.01, 60.0, np.nan])
    got = table.grade_of(x)
    ref = np.array([6, 6, 5, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, np.nan])
    np.testing.assert_array_equal(got, ref)
    assert np.isnan(got[-1])


def test_negative_std_is_refused(table):
    with pytest.raises(InputError, match="negative"):
        table.grade_of([-1.0])


def test_bounds_and_distance(table):
    assert table.upper_bound(1) == float("inf") and table.lower_bound(1) == 25.0
    assert table.upper_bound(6) == 0.5 and table.lower_bound(6) == 0.0
    to_riskier, to_safer = table.distance_to_boundary(12.0)  # grade 3: (10, 15]
    assert to_riskier == pytest.approx(3.0) and to_safer == pytest.approx(2.0)


GOOD = """name: t
grades:
  - grade: 1
    upper_pct: null
  - grade: 2
    upper_pct: 25.0
  - grade: 3
    upper_pct: 15.0
"""


def _write(tmp_path, text):
    p = tmp_path / "table.yaml"
    p.write_text(text)
    return p


def test_small_valid_table(tmp_path):
    t = load_grade_table(_write(tmp_path, GOOD))
    assert t.grade_of(15.0) == 3 and t.grade_of(15.1) == 2 and t.grade_of(25.1) == 1


def test_unsorted_bounds_are_a_config_error_with_the_line(tmp_path):
    bad = GOOD.replace("upper_pct: 15.0", "upper_pct: 30.0")
    with pytest.raises(ConfigError) as exc:
        load_grade_table(_write(tmp_path, bad))
    msg = str(exc.value)
    assert "overlap or are unsorted" in msg and "table.yaml:" in msg


def test_overlapping_equal_bounds_are_refused(tmp_path):
    bad = GOOD.replace("upper_pct: 15.0", "upper_pct: 25.0")
    with pytest.raises(ConfigError, match="overlap or are unsorted"):
        load_grade_table(_write(tmp_path, bad))


def test_bounded_riskiest_grade_and_gaps_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="grade 1"):
        load_grade_table(_write(tmp_path, GOOD.replace("upper_pct: null", "upper_pct: 40.0")))
    with pytest.raises(ConfigError, match="in order"):
        load_grade_table(_write(tmp_path, GOOD.replace("grade: 3", "grade: 4")))
    with pytest.raises(ConfigError, match="greater than 0"):
        load_grade_table(_write(tmp_path, GOOD.replace("upper_pct: 15.0", "upper_pct: -1.0")))
