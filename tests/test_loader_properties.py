"""Property-based tests (hypothesis) of the loaders: for any input they either return the data
(read back exactly) or refuse it with an :class:`~qmtl_research.errors.QMTLResearchError` that
names where, never with another exception; one corrupted cell is found at its own line."""
from __future__ import annotations

import json
import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from qmtl_research.data.checks import MAX_RETURN, not_date_only
from qmtl_research.errors import ConfigError, InputError, QMTLResearchError
from qmtl_research.risk.io import read_returns
from qmtl_research.validation.qmtl_runs import load_runs
from qmtl_research.yamlio import load_yaml

# derandomize: the same examples on every run (CI and here), like every other number of `make test`
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

returns_values = st.floats(min_value=-0.999, max_value=MAX_RETURN, allow_nan=False, allow_infinity=False)


@st.composite
def return_tables(draw):
    n = draw(st.integers(min_value=1, max_value=30))
    cols = draw(st.lists(st.text(string.ascii_uppercase, min_size=1, max_size=4), min_size=1, max_size=3,
                         unique=True))
    start = draw(st.dates(min_value=pd.Timestamp("1990-01-01").date(), max_value=pd.Timestamp("2030-01-01").date()))
    dates = pd.date_range(start, periods=n, freq="D")
    values = {c: draw(st.lists(returns_values, min_size=n, max_size=n)) for c in cols}
    return pd.DataFrame(values, index=pd.DatetimeIndex(dates, name="date"))


@SETTINGS
@given(frame=return_tables())
def test_valid_return_tables_read_back_exactly(frame, tmp_path):
    path = tmp_path / "r.csv"
    frame.to_csv(path, float_format="%.17g")
    got = read_returns(path)
    assert list(got.index) == list(frame.index) and list(got.columns) == list(frame.columns)
    np.testing.assert_array_equal(got.to_numpy(), frame.to_numpy())      # exactly the numbers written


@SETTINGS
@given(frame=return_tables(), data=st.data())
def test_one_bad_cell_is_refused_at_its_line(frame, data, tmp_path):
    i = data.draw(st.integers(0, len(frame) - 1))
    col = data.draw(st.sampled_from(list(frame.columns)))
    kind = data.draw(st.sampled_from(["minus-100", "huge", "text", "time", "zone"]))
    text = frame.astype(object).map(lambda v: repr(float(v)))
    text.index = [str(d.date()) for d in frame.index]
    if kind == "minus-100":
        text.iloc[i, list(frame.columns).index(col)] = repr(data.draw(st.floats(-1e6, -1.0)))
    elif kind == "huge":
        text.iloc[i, list(frame.columns).index(col)] = repr(data.draw(st.floats(MAX_RETURN * 1.0001, 1e300)))
    elif kind == "text":
        text.iloc[i, list(frame.columns).index(col)] = data.draw(st.sampled_from(["abc", "1,5", "--", "%"]))
    else:
        hh = data.draw(st.integers(0, 23))
        text.index = [d if k != i else (f"{d}T{hh:02d}:30" if kind == "time" else f"{d}+0{hh % 10}:00")
                      for k, d in enumerate(text.index)]
    path = tmp_path / "r.csv"
    text.rename_axis("date").to_csv(path)
    with pytest.raises(InputError) as exc:
        read_returns(path)
    assert exc.value.where.startswith(f"{path}:{i + 2}"), (kind, exc.value.where)
    assert exc.value.fix


@SETTINGS
@given(d=st.dates(), hh=st.integers(0, 23), mm=st.integers(0, 59),
       zone=st.sampled_from(["", "Z", "+09:00", "-05:00", "+0900"]))
def test_dates_with_a_time_or_a_zone_are_told_apart(d, hh, mm, zone):
    plain = d.isoformat()
    assert not not_date_only(pd.Series([plain])).iloc[0]
    assert not_date_only(pd.Series([f"{plain}T{hh:02d}:{mm:02d}{zone}"])).iloc[0]
    assert not_date_only(pd.Series([f"{plain} {hh:02d}:{mm:02d}"])).iloc[0]
    if zone:
        assert not_date_only(pd.Series([f"{plain}{zone}"])).iloc[0]
    stamp = pd.Series([pd.Timestamp(d) + pd.Timedelta(hours=hh, minutes=mm)])
    assert bool(not_date_only(stamp).iloc[0]) == (hh != 0 or mm != 0)
    assert not_date_only(stamp.dt.tz_localize("UTC")).iloc[0]         # a zone is refused even at midnight


# text without the characters YAML 1.1 reads as line breaks (NEL U+0085, LS U+2028, PS U+2029): PyYAML's
# own safe_dump writes them into plain scalars and reads them back as spaces, so no loader can round-trip them
# (a PyYAML limitation, found by this test); and without lone surrogates, which no UTF-8 file can hold
yaml_text = st.text(alphabet=st.characters(blacklist_characters="\x85\u2028\u2029", blacklist_categories=("Cs",)),
                    max_size=8)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | yaml_text,
                           lambda kids: st.lists(kids, max_size=4) | st.dictionaries(yaml_text, kids, max_size=4),
                           max_leaves=20)


@SETTINGS
@given(value=json_values)
def test_any_json_is_a_run_export_or_an_input_error(value, tmp_path):
    path = tmp_path / "runs.json"
    path.write_text(json.dumps(value))
    try:
        runs = load_runs(path)
    except InputError as exc:
        assert exc.where and exc.fix, exc
    else:
        assert runs and all(r.strategy_id and r.run_id for r in runs)


@SETTINGS
@given(value=json_values)
def test_any_yaml_loads_or_is_a_config_error(value, tmp_path):
    import yaml

    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(value, allow_unicode=True))
    assert load_yaml(path) == value
    path.write_text(yaml.safe_dump(value, allow_unicode=True)[: len(yaml.safe_dump(value)) // 2] + "\n  - : [")
    try:
        load_yaml(path)
    except ConfigError as exc:
        assert exc.where and exc.fix


hangul = st.text(alphabet=st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3), min_size=1, max_size=6)


@SETTINGS
@given(lines=st.lists(st.text(string.ascii_letters + " ", max_size=10), min_size=0, max_size=5), word=hangul)
def test_cp949_files_are_refused_at_the_first_bad_line(lines, word, tmp_path):
    text = "\n".join([*(f"k{i}: {v!r}" for i, v in enumerate(lines)), f"title: {word}", ""])
    raw = text.encode("cp949")
    assume(raw != text.encode("utf-8"))
    path = tmp_path / "s.yaml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError) as exc:
        load_yaml(path)
    assert "not UTF-8" in exc.value.what and exc.value.where == f"{path}:{len(lines) + 1}"
    assert "iconv -f cp949" in exc.value.fix
    runs = tmp_path / "runs.json"
    runs.write_bytes(json.dumps([{"strategy_id": word}], ensure_ascii=False).encode("cp949"))
    with pytest.raises(QMTLResearchError, match="not UTF-8"):
        load_runs(runs)
