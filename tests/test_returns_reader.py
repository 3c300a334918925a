"""One reader of returns files: risk.io (the CLI's wide and long files) reads through
data.loaders.read_table, with each caller's own messages."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qmtl_research.data.loaders import load_funds, read_table
from qmtl_research.errors import InputError
from qmtl_research.risk.io import read_long, read_returns


def test_a_blank_line_is_counted_in_the_line_an_error_names(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("date,A\n2022-01-03,0.01\n\n2022-01-04,abc\n")      # the bad value is on line 4
    with pytest.raises(InputError) as e:
        read_returns(p)
    assert e.value.where == f"{p}:4" and "'abc'" in e.value.what


def test_headers_stay_as_written_and_a_bom_is_read(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("\ufeffdate,KOSPI,Fund A\n2022-01-04,0.02,-0.01\n2022-01-03,0.01,0.03\n", encoding="utf-8")
    got = read_returns(p)
    assert list(got.columns) == ["KOSPI", "Fund A"]
    expected = pd.DataFrame({"KOSPI": [0.01, 0.02], "Fund A": [0.03, -0.01]},
                            index=pd.DatetimeIndex(["2022-01-03", "2022-01-04"], name="date"))
    pd.testing.assert_frame_equal(got, expected)


def test_csv_and_parquet_give_the_same_frame(tmp_path):
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"A": rng.normal(0, 0.01, 30), "B": rng.normal(0, 0.02, 30)},
                         index=pd.bdate_range("2022-01-03", periods=30, name="date"))
    frame.to_parquet(tmp_path / "r.parquet")                  # the dates as the Parquet index
    frame.reset_index().to_csv(tmp_path / "r.csv", index=False, float_format="%.17g")
    pd.testing.assert_frame_equal(read_returns(tmp_path / "r.parquet"), read_returns(tmp_path / "r.csv"),
                                  check_freq=False)
    pd.testing.assert_frame_equal(read_returns(tmp_path / "r.csv"), frame, check_freq=False)


@pytest.mark.parametrize("reader, what", [(read_returns, "returns file is empty"),
                                          (lambda p: read_long(p, "var"), "file is empty"),
                                          (load_funds, "funds file is empty")])
def test_an_empty_file_is_refused_by_every_caller(tmp_path, reader, what):
    p = tmp_path / "x.csv"
    p.write_text("")
    with pytest.raises(InputError) as e:
        reader(p)
    assert e.value.what == what and e.value.where == str(p)


def test_an_unknown_suffix_is_refused_where_only_csv_and_parquet_are_read(tmp_path):
    p = tmp_path / "r.txt"
    p.write_text("date,A\n2022-01-03,0.01\n")
    with pytest.raises(InputError) as e:
        read_returns(p)
    assert e.value.what == "unsupported file type '.txt'" and e.value.fix == "use .csv or .parquet"
    frame, src = read_table(p, "returns file")                 # the fund loader reads it as CSV
    assert src.is_csv and frame.to_dict("records") == [{"date": "2022-01-03", "a": "0.01"}]


def test_a_missing_file_names_the_caller_file(tmp_path):
    for reader, what in ((read_returns, "returns file not found"), (lambda p: read_long(p, "var"), "file not found")):
        with pytest.raises(InputError) as e:
            reader(tmp_path / "nope.csv")
        assert e.value.what == what
