"""Grading schemes (params/grading/*.yaml): band edges with their inclusive side, direction,
validation of bad schemes, and the registry."""
from __future__ import annotations

import numpy as np
import pytest

import qmtl_research  # noqa: F401
from qmtl_research.errors import ConfigError, InputError
from qmtl_research.grades import list_schemes, load_grade_table, load_scheme, load_schemes

EPS = 1e-9


@pytest.fixture(scope="module")
def table():
    return load_grade_table()


def test_the_grade_table_is_the_kr_2016_scheme(table):
    assert table.scheme_id == "kr-2016" and table.measure.kind == "weekly_std"
    assert table.measure.window_weeks == 156 and table.n_grades == 6
    assert list(table.bounds_ascending) == [0.5, 5.0, 10.0, 15.0, 25.0]


@pytest.mark.parametrize("std, grade", [
    (0.0, 6), (0.5, 6), (0.5 + EPS, 5), (3.0, 5), (5.0, 5), (5.0 + EPS, 4), (10.0, 4), (10.0 + EPS, 3),
    (15.0, 3), (15.0 + EPS, 2), (25.0, 2), (25.0 + EPS, 1), (80.0, 1),
])
def test_kr_2016_boundaries_are_inclusive_at_the_top(table, std, grade):
    assert table.grade_of(std) == grade


# CESR/10-673: class 1 0 <= v < 0.5, 2 [0.5, 2), 3 [2, 5), 4 [5, 10), 5 [10, 15), 6 [15, 25), 7 >= 25
@pytest.mark.parametrize("vol, cls", [
    (0.0, 1), (0.5 - EPS, 1), (0.5, 2), (2.0 - EPS, 2), (2.0, 3), (5.0, 4), (9.99, 4), (10.0, 5), (15.0, 6),
    (25.0 - EPS, 6), (25.0, 7), (60.0, 7),
])
def test_ucits_srri_classes_include_their_lower_edge(vol, cls):
    s = load_scheme("ucits-srri")
    assert s.measure.kind == "weekly_std" and s.measure.window_weeks == 260
    assert s.grade_of(vol) == cls


# 2017/653 Annex II point 2: 1 < 0.5, 2 [0.5, 5), 3 [5, 12), 4 [12, 20), 5 [20, 30), 6 [30, 80), 7 >= 80
@pytest.mark.parametrize("vev, cls", [
    (-0.1, 1), (0.4999, 1), (0.5, 2), (4.99, 2), (5.0, 3), (11.99, 3), (12.0, 4), (20.0, 5), (29.9, 5),
    (30.0, 6), (79.99, 6), (80.0, 7), (200.0, 7),
])
def test_priips_mrm_classes(vev, cls):
    s = load_scheme("priips-mrm")
    assert s.measure.kind == "priips_vev" and s.measure.min_history_years == 2 and s.measure.window_years == 5
    assert s.grade_of(vev) == cls


def test_direction_and_bounds(table):
    srri = load_scheme("ucits-srri")
    assert table.is_riskier(1, 2) and not table.is_riskier(6, 5)
    assert srri.is_riskier(7, 6) and not srri.is_riskier(1, 2)
    assert table.upper_bound(1) == float("inf") and table.lower_bound(1) == 25.0
    assert table.upper_bound(6) == 0.5 and table.lower_bound(6) == 0.0
    assert srri.upper_bound(1) == 0.5 and srri.lower_bound(7) == 25.0 and srri.upper_bound(7) == float("inf")
    to_riskier, to_safer = table.distance_to_boundary(12.0)  # grade 3: (10, 15]
    assert to_riskier == pytest.approx(3.0) and to_safer == pytest.approx(2.0)
    assert srri.bands_table()[1] == (2, "", "[0.5, 2)") and table.bands_table()[0][2] == "> 25"


def test_vectorised_grades_match_hand_values(table):
    x = np.array([0.0, 0.5, 0.50001, 4.99, 5.0, 7.0, 10.0, 10.2, 15.0, 15.01, 25.0, 25.01, 60.0, np.nan])
    got = table.grade_of(x)
    ref = np.array([6, 6, 5, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, np.nan])
    np.testing.assert_array_equal(got, ref)


def test_negative_std_is_refused(table):
    with pytest.raises(InputError, match="negative"):
        table.grade_of([-1.0])


def test_registry_lists_the_shipped_schemes_and_refuses_unknown_ones():
    assert {"kr-2016", "ucits-srri", "priips-mrm", "kr-daily-var"} <= set(list_schemes())
    with pytest.raises(ConfigError, match="unknown grading scheme 'nope'") as exc:
        load_scheme("nope")
    assert "kr-2016" in str(exc.value)
    with pytest.raises(ConfigError, match="listed twice"):
        load_schemes(["kr-2016", "kr-2016"])


def test_a_scheme_without_bands_is_refused_saying_where_to_get_them():
    with pytest.raises(ConfigError) as exc:
        load_scheme("kr-daily-var")
    msg = str(exc.value)
    assert "no band edges" in msg and "KOFIA" in msg and "kr-daily-var.yaml:" in msg


GOOD = """scheme_id: t
title: t
source: a test
effective_date: 2020-01-01
measure: {kind: weekly_std, window_weeks: 156}
bands:
  n_grades: 3
  edges_pct: [15.0, 25.0]
  inclusive: upper
  grade_1: riskiest
"""


def _write(tmp_path, text):
    p = tmp_path / "t.yaml"
    p.write_text(text)
    return p


def test_small_valid_scheme(tmp_path):
    t = load_scheme(_write(tmp_path, GOOD))
    assert t.grade_of(15.0) == 3 and t.grade_of(15.1) == 2 and t.grade_of(25.1) == 1


def test_a_user_declared_daily_var_scheme_loads(tmp_path):
    text = GOOD.replace("measure: {kind: weekly_std, window_weeks: 156}",
                        "measure: {kind: daily_var, window_years: 3, confidence: 0.975}")
    s = load_scheme(_write(tmp_path, text))
    assert s.measure.frequency == "daily" and s.grade_of(-0.2) == 3   # a VaR may be negative


@pytest.mark.parametrize("old, new, match", [
    ("[15.0, 25.0]", "[30.0, 25.0]", "increase strictly"),
    ("[15.0, 25.0]", "[25.0, 25.0]", "increase strictly"),
    ("[15.0, 25.0]", "[15.0]", "3 grades need 2 edges"),
    ("inclusive: upper", "inclusive: both", "inclusive"),
    ("grade_1: riskiest", "grade_1: top", "grade_1"),
    ("kind: weekly_std", "kind: monthly_std", "measure"),
    ("effective_date: 2020-01-01\n", "", "effective_date"),
])
def test_bad_schemes_are_config_errors_with_the_line(tmp_path, old, new, match):
    with pytest.raises(ConfigError, match=match) as exc:
        load_scheme(_write(tmp_path, GOOD.replace(old, new)))
    assert "t.yaml" in str(exc.value)
