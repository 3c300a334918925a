"""Every validation error of the user file schema: what, file, line, field, fund."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qmtl_research.data.loaders import load_panel
from qmtl_research.data.panel import FundPanel
from qmtl_research.data.checks import validate_panel
from qmtl_research.errors import InputError

# the 3-fund file set that the line numbers below refer to (data/sample/ is the 12-fund user sample)
SAMPLE = Path(__file__).resolve().parent / "fixtures" / "three_funds"
# returns.csv: line 1 header; F001 lines 2-28 (2022-07-01..2022-12-30),
# F002 lines 29-55, F003 lines 56-70 (2022-09-23..2022-12-30)


def _edit(path: Path, edit) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(edit(lines)) + "\n", encoding="utf-8")


def _set(lineno: int, text: str):
    def edit(lines):
        lines[lineno - 1] = text
        return lines
    return edit


@pytest.fixture
def files(tmp_path):
    for name in ("returns.csv", "funds.csv", "benchmarks.csv", "navs.csv"):
        shutil.copy(SAMPLE / name, tmp_path / name)
    return tmp_path


def _load(d: Path, returns="returns.csv", benchmarks="benchmarks.csv"):
    return load_panel(d / returns, d / "funds.csv", None if benchmarks is None else d / benchmarks)


def _error(d: Path, **kw) -> InputError:
    with pytest.raises(InputError) as info:
        _load(d, **kw)
    return info.value


# ------------------------------------------------------------------ the sample loads
def test_sample_loads_with_expected_shape_and_types(files):
    panel = _load(files)
    assert panel.fund_ids == ["F001", "F002", "F003"]
    assert len(panel.dates) == 27 and (panel.dates.day_of_week == 4).all()
    assert panel.returns.loc["2022-07-08", "F001"] == pytest.approx(0.014758)
    assert panel.returns["F003"].first_valid_index() == pd.Timestamp("2022-09-23")
    assert panel.returns["F003"].loc[:"2022-09-16"].isna().all()
    m = panel.metadata
    assert m.loc["F001", "settlement_month"] == 3 and m.loc["F002", "settlement_day"] == 2
    assert m["disclosed_grade"].tolist()[:2] == [2, 5] and pd.isna(m.loc["F003", "disclosed_grade"])
    assert m.loc["F003", "benchmark"] == "" and m.loc["F001", "fund_type_ko"] == "국내주식형"
    assert list(panel.benchmarks.columns) == ["EQ_INDEX", "BOND_INDEX"]
    assert panel.synthetic is False


def test_nav_file_gives_the_same_returns_to_rounding(files):
    from_nav = _load(files, returns="navs.csv")
    direct = _load(files)
    # NAVs are rounded to 4 decimals of ~1000, so returns agree to about 1e-6
    np.testing.assert_allclose(from_nav.returns.to_numpy(), direct.returns.to_numpy(), atol=2e-6, equal_nan=True)
    # hand check: 1014.9164 / 1000.156 - 1
    navs = pd.read_csv(files / "navs.csv")
    f1 = navs[navs.fund_id == "F001"]["nav"].to_numpy()
    assert from_nav.returns.loc["2022-07-08", "F001"] == pytest.approx(f1[2] / f1[1] - 1, rel=1e-12)


# ------------------------------------------------------------------ one edited line -> one error
ONE_LINE_ERRORS = [
    # file, line, new text, substrings of `what`, substrings of `where`
    ("returns.csv", 1, "date,fund,return", ["'fund_id'"], ["returns.csv"]),
    ("returns.csv", 4, "2022-07-08,F001,0.001", ["duplicate date 2022-07-08 for fund F001", "line 3 and line 4"],
     ["returns.csv, line 4", "fund F001"]),
    ("returns.csv", 3, "2022-07-07,F001,0.01", ["2022-07-07 is a Thursday"], ["line 3"]),
    ("returns.csv", 6, "2022-08-05,,0.01", ["empty fund_id"], ["line 6"]),
    ("funds.csv", 4, "F003,Sample money market fund,MMF,,2022-10-01,10,1,,MMF",
     ["F003", "2022-09-23", "inception date 2022-10-01"], ["funds.csv, line 4"]),
    ("funds.csv", 2, "F001,Sample,domestic equity,EQ_INDEX,2012-03-15,2,30,2,x",
     ["settlement_day 30 does not exist in month 2"], ["line 2", "fund F001"]),
    ("funds.csv", 3, "F002,Sample,domestic bond,BOND_INDEX,2015-02-30,11,2,5,x", ["unparseable date '2015-02-30'"],
     ["funds.csv, line 3", "field 'inception_date'", "fund F002"]),
    ("funds.csv", 2, "F001,Sample,domestic equity,KOSPI,2012-03-15,3,15,2,x",
     ["benchmark 'KOSPI'", "not in the benchmarks file"], ["funds.csv, line 2", "fund F001"]),
    ("benchmarks.csv", 3, "2022-07-08,EQ_INDEX,oops", ["non-numeric return 'oops'"],
     ["benchmarks.csv, line 3", "benchmark EQ_INDEX"]),
]


@pytest.mark.parametrize("file, line, text, what, where", ONE_LINE_ERRORS,
                         ids=[f"{f}:{n}" for f, n, *_ in ONE_LINE_ERRORS])
def test_one_bad_line_gives_an_error_naming_it(files, file, line, text, what, where):
    _edit(files / file, _set(line, text))
    e = _error(files)
    for part in what:
        assert part in e.what
    for part in where:
        assert part in e.where
    assert e.fix


# ------------------------------------------------------------------ returns file
def test_missing_column(files):
    _edit(files / "returns.csv", lambda ls: [",".join(line.split(",")[:2]) for line in ls])
    e = _error(files)
    assert "missing column" in e.what and "'return'" in e.what
    assert "returns.csv" in e.where and "line 1" in e.where


def test_same_date_for_two_funds_is_fine(files):
    panel = _load(files)  # F001 and F002 share every date: not a duplicate
    assert {"F001", "F002"} <= set(panel.fund_ids)
    assert panel.returns["F001"].dropna().index.intersection(panel.returns["F002"].dropna().index).size > 0


def test_non_monotonic_dates(files):
    def swap(ls):
        ls[3], ls[4] = ls[4], ls[3]       # lines 4 and 5 of F001 swapped
        return ls
    _edit(files / "returns.csv", swap)
    e = _error(files)
    assert "not increasing" in e.what and "F001" in e.what
    assert "line 5" in e.where and "fund F001" in e.where
    assert "sort" in e.fix


@pytest.mark.parametrize("value", ["", "nan", "NaN"])
def test_nan_return(files, value):
    _edit(files / "returns.csv", _set(30, f"2022-07-08,F002,{value}"))
    e = _error(files)
    assert "missing (NaN) return" in e.what
    assert "line 30" in e.where and "field 'return'" in e.where and "fund F002" in e.where


@pytest.mark.parametrize("value", ["inf", "-inf"])
def test_infinite_return(files, value):
    _edit(files / "returns.csv", _set(57, f"2022-09-30,F003,{value}"))
    e = _error(files)
    assert "infinite return" in e.what and "line 57" in e.where and "fund F003" in e.where


@pytest.mark.parametrize("value", ["-1", "-1.0", "-3.5"])
def test_return_at_or_below_minus_100_percent(files, value):
    _edit(files / "returns.csv", _set(10, f"2022-08-26,F001,{value}"))
    e = _error(files)
    assert "100 %" in e.what and "line 10" in e.where and "fund F001" in e.where
    assert "percent" in e.fix


def test_return_just_above_minus_one_is_accepted(files):
    _edit(files / "returns.csv", _set(10, "2022-08-26,F001,-0.999"))
    assert _load(files).returns.loc["2022-08-26", "F001"] == pytest.approx(-0.999)


def test_fund_in_returns_but_not_in_metadata(files):
    _edit(files / "returns.csv", lambda ls: ls + ["2022-12-23,F009,0.01", "2022-12-30,F009,0.02"])
    e = _error(files)
    assert "F009" in e.what and "no row in the funds file" in e.what
    assert "returns.csv, line 71" in e.where and "funds.csv" in e.where


@pytest.mark.parametrize("value", ["2022-13-01", "07/08/2022", "yesterday"])
def test_unparseable_date(files, value):
    _edit(files / "returns.csv", _set(3, f"{value},F001,0.01"))
    e = _error(files)
    assert "unparseable date" in e.what and value in e.what
    assert "line 3" in e.where and "field 'date'" in e.where and "fund F001" in e.where
    assert "YYYY-MM-DD" in e.fix


@pytest.mark.parametrize("value", ["1.2%", "abc", "0,5"])
def test_non_numeric_return(files, value):
    text = f'2022-07-08,F001,"{value}"' if "," in value else f"2022-07-08,F001,{value}"
    _edit(files / "returns.csv", _set(3, text))
    e = _error(files)
    assert "non-numeric return" in e.what and value in e.what
    assert "line 3" in e.where and "fund F001" in e.where


def test_gap_inside_a_fund_history(files):
    _edit(files / "returns.csv", lambda ls: ls[:3] + ls[4:])   # drop F001 2022-07-15 (line 4)
    e = _error(files)
    assert "gap in the history of fund F001" in e.what and "1 missing week(s) 2022-07-15..2022-07-15" in e.what
    assert "line 4" in e.where and "fund F001" in e.where


def test_nav_not_positive(files):
    _edit(files / "navs.csv", _set(5, "2022-07-15,F001,0"))
    e = _error(files, returns="navs.csv")
    assert "nav 0.0 is not positive" in e.what and "navs.csv, line 5" in e.where and "fund F001" in e.where


def test_both_nav_and_return(files):
    _edit(files / "returns.csv", lambda ls: [ls[0] + ",nav"] + [line + ",1" for line in ls[1:]])
    assert "both 'return' and 'nav'" in _error(files).what


def test_missing_file(files):
    with pytest.raises(InputError) as info:
        load_panel(files / "nope.csv", files / "funds.csv")
    assert "not found" in info.value.what and "nope.csv" in info.value.where


# ------------------------------------------------------------------ funds file
@pytest.mark.parametrize("value,shown", [("13", "'13'"), ("0", "'0'"), ("March", "'March'"), ("2.5", "'2.5'")])
def test_settlement_month_outside_1_12(files, value, shown):
    _edit(files / "funds.csv", _set(3, f"F002,Sample domestic bond fund,domestic bond,BOND_INDEX,2015-11-02,{value},2,5,x"))
    e = _error(files)
    assert f"settlement_month {shown} is not an integer in 1..12" in e.what
    assert "funds.csv, line 3" in e.where and "field 'settlement_month'" in e.where and "fund F002" in e.where


@pytest.mark.parametrize("value", ["7", "0", "2.5", "high"])
def test_grade_outside_1_6(files, value):
    _edit(files / "funds.csv", _set(2, f"F001,Sample,domestic equity,EQ_INDEX,2012-03-15,3,15,{value},x"))
    e = _error(files)
    assert f"disclosed_grade '{value}' is not an integer in 1..6" in e.what
    assert "funds.csv, line 2" in e.where and "field 'disclosed_grade'" in e.where and "fund F001" in e.where


def test_funds_missing_column(files):
    _edit(files / "funds.csv", lambda ls: [",".join(line.split(",")[:5] + line.split(",")[6:]) for line in ls])
    e = _error(files)
    assert "'settlement_month'" in e.what and "funds.csv" in e.where and "line 1" in e.where


def test_duplicate_fund_row(files):
    _edit(files / "funds.csv", lambda ls: ls + [ls[1]])
    e = _error(files)
    assert "fund F001 appears twice (line 2 and line 5)" in e.what and "line 5" in e.where


def test_fund_without_returns_is_reported_not_loaded(files):
    _edit(files / "funds.csv", lambda ls: ls + ["F004,Idle,MMF,,2010-01-04,1,4,,MMF"])
    panel = _load(files)
    assert "F004" not in panel.fund_ids and panel.notes["funds_without_returns"] == ["F004"]


# ------------------------------------------------------------------ benchmarks
def test_benchmark_named_without_benchmarks_file(files):
    e = _error(files, benchmarks=None)
    assert "no benchmarks file was given" in e.what and "fund F001" in e.where


def test_benchmark_not_covering_fund_weeks(files):
    _edit(files / "benchmarks.csv", lambda ls: [line for line in ls if not line.startswith("2022-12-30,BOND_INDEX")])
    e = _error(files)
    assert "benchmark 'BOND_INDEX' of fund F002 has no value on 2022-12-30" in e.what


# ------------------------------------------------------------------ parquet
def test_parquet_rows_are_named(files):
    df = pd.read_csv(files / "returns.csv")
    df.loc[4, "return"] = np.nan
    df.to_parquet(files / "returns.parquet", index=False)
    e = _error(files, returns="returns.parquet")
    assert "missing (NaN) return" in e.what and "returns.parquet, row 5" in e.where and "fund F001" in e.where


def test_parquet_with_datetime_dates_loads(files):
    df = pd.read_csv(files / "returns.csv", parse_dates=["date"])
    df.to_parquet(files / "returns.parquet", index=False)
    pd.testing.assert_frame_equal(_load(files, returns="returns.parquet").returns, _load(files).returns)


# ------------------------------------------------------------------ in-memory panels
def _panel() -> FundPanel:
    dates = pd.date_range("2022-01-07", periods=6, freq="W-FRI", name="date")
    r = pd.DataFrame({"A": [0.01, -0.02, 0.0, 0.01, 0.02, -0.01], "B": [np.nan, np.nan, 0.01, 0.02, 0.0, 0.01]},
                     index=dates)
    m = pd.DataFrame({"name": ["a", "b"], "fund_type": ["t", "t"], "benchmark": ["BM", ""],
                      "inception_date": pd.to_datetime(["2020-01-01", "2022-01-15"]),
                      "settlement_month": [12, 6], "settlement_day": [31, 30],
                      "disclosed_grade": pd.array([3, pd.NA], dtype="Int64")}, index=pd.Index(["A", "B"], name="fund_id"))
    b = pd.DataFrame({"BM": [0.01, -0.01, 0.0, 0.01, 0.01, 0.0]}, index=dates)
    return FundPanel(r, m, b)


def _replace(p: FundPanel, **kw) -> FundPanel:
    fields = dict(returns=p.returns, metadata=p.metadata, benchmarks=p.benchmarks)
    fields.update(kw)
    return FundPanel(**fields)


def test_validate_panel_accepts_a_good_panel():
    p = _panel()
    assert validate_panel(p) is p


def test_validate_panel_gap():
    p = _panel()
    r = p.returns.copy()
    r.loc["2022-01-28", "A"] = np.nan
    with pytest.raises(InputError) as info:
        validate_panel(_replace(p, returns=r))
    assert "gap in the history of fund A" in info.value.what and "2022-01-28" in info.value.where


def test_validate_panel_not_fridays():
    p = _panel()
    r = p.returns.copy()
    r.index = r.index - pd.Timedelta(days=1)
    with pytest.raises(InputError, match="not Fridays"):
        validate_panel(_replace(p, returns=r))


def test_validate_panel_unsorted_and_duplicate_dates():
    p = _panel()
    with pytest.raises(InputError, match="not increasing"):
        validate_panel(_replace(p, returns=p.returns.iloc[::-1]))
    with pytest.raises(InputError, match="duplicate dates"):
        validate_panel(_replace(p, returns=pd.concat([p.returns, p.returns.iloc[:1]]).sort_index()))


@pytest.mark.parametrize("value,match", [(-1.0, "100 %"), (np.inf, "infinite")])
def test_validate_panel_bad_values(value, match):
    p = _panel()
    r = p.returns.copy()
    r.loc["2022-01-21", "B"] = value
    with pytest.raises(InputError, match=match) as info:
        validate_panel(_replace(p, returns=r))
    assert "fund B" in info.value.where


def test_validate_panel_metadata_problems():
    p = _panel()
    with pytest.raises(InputError, match="not in metadata"):
        validate_panel(_replace(p, metadata=p.metadata.drop(index="B")))
    m = p.metadata.copy()
    m["disclosed_grade"] = pd.array([7, pd.NA], dtype="Int64")
    with pytest.raises(InputError, match="disclosed_grade 7") as info:
        validate_panel(_replace(p, metadata=m))
    assert "fund A" in info.value.where
    m = p.metadata.copy()
    m["settlement_month"] = [0, 6]
    with pytest.raises(InputError, match="settlement_month"):
        validate_panel(_replace(p, metadata=m))


def test_validate_panel_benchmark_problems():
    p = _panel()
    with pytest.raises(InputError, match="names benchmark 'BM'"):
        validate_panel(_replace(p, benchmarks=p.benchmarks.rename(columns={"BM": "X"})))
    b = p.benchmarks.copy()
    b.loc["2022-01-14", "BM"] = np.nan
    with pytest.raises(InputError, match="no value on 2022-01-14"):
        validate_panel(_replace(p, benchmarks=b))
