"""Daily snapshots by hand; the positions file (errors at file/line/field); the store's rules:
one snapshot per portfolio and date, appended in date order, reruns unchanged or refused."""
import pandas as pd
import pytest

from _audit_support import count, url  # noqa: F401  (fixture)
from qmtl_research.store.audit_repository import AuditRepository
from qmtl_research.data.snapshot import (DailySnapshot, PositionSnapshot, build_snapshots, demo_positions,
                                          read_positions, snapshots_frame)
from qmtl_research.errors import InputError, StoreError


def frames():
    idx = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"])
    q = pd.DataFrame({"005930": [10, 10, 5], "000660": [0, 4, 4]}, index=idx)
    p = pd.DataFrame({"005930": [70000, 71000, 69000], "000660": [130000, 131000, 133000]}, index=idx)
    cash = pd.Series([300000, -224000, 121000], index=idx)
    return q, p, cash


def test_snapshots_by_hand():
    q, p, cash = frames()
    s = build_snapshots(q, p, cash)
    assert [x.total_value for x in s] == [1_000_000, 710_000 + 524_000 - 224_000, 345_000 + 532_000 + 121_000]
    assert s[0].daily_return == 0 and s[0].cum_return == 0
    assert s[1].daily_return == pytest.approx(1_010_000 / 1_000_000 - 1)
    assert s[2].cum_return == pytest.approx(998_000 / 1_000_000 - 1)
    pos = {x.code: x for x in s[2].positions}
    assert pos["005930"].daily_pnl == pytest.approx(10 * (69000 - 71000))
    assert pos["000660"].weight == pytest.approx(532_000 / 998_000)
    assert len(s[0].positions) == 1           # zero quantities are not positions
    assert snapshots_frame(s)["date"].tolist() == ["2024-01-02", "2024-01-03", "2024-01-04"]


def test_chained_to_the_previous_snapshot():
    q, p, cash = frames()
    prev = DailySnapshot("2023-12-29", 800_000.0, 100_000.0, [PositionSnapshot("005930", 10, 70_000, 700_000, 0.875)],
                         0.01, 0.25)
    s = build_snapshots(q, p, cash, previous=prev)
    assert s[0].daily_return == pytest.approx(1_000_000 / 800_000 - 1)
    assert s[0].cum_return == pytest.approx(1.25 * 1.25 - 1)
    assert s[2].cum_return == pytest.approx(1.25 * 998_000 / 800_000 - 1)
    assert s[0].positions[0].daily_pnl == 0.0          # price unchanged since the previous snapshot
    with pytest.raises(InputError, match="not before"):
        build_snapshots(q, p, cash, previous=DailySnapshot("2024-01-02", 1.0, 1.0))


def test_duplicate_dates_refused():
    q, p, cash = frames()
    with pytest.raises(InputError, match="duplicate date"):
        build_snapshots(pd.concat([q, q.iloc[[0]]]), p, cash)


def write(tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text)
    return f


POSITIONS = """date,asset,quantity,price,cash
2024-01-02,005930,10,70000,300000
2024-01-02,000660,0,130000,
2024-01-03,005930,10,71000,-224000
2024-01-03,000660,4,131000,-224000
2024-01-04,005930,5,69000,121000
2024-01-04,000660,4,133000,
"""


def test_positions_file_gives_the_hand_computed_snapshots(tmp_path):
    pos = read_positions(write(tmp_path, "pos.csv", POSITIONS))
    assert list(pos.quantities.columns) == ["005930", "000660"]      # codes keep their leading zeros
    s = build_snapshots(pos.quantities, pos.prices, pos.cash)
    assert [x.total_value for x in s] == [1_000_000, 1_010_000, 998_000]
    assert pos.on("2024-01-03").quantities.shape == (1, 2)
    with pytest.raises(InputError, match="no positions dated 2024-01-05"):
        pos.on("2024-01-05")


def test_prices_file_fills_missing_prices(tmp_path):
    f = write(tmp_path, "pos.csv", "date,asset,quantity\n2024-01-02,A,10\n2024-01-03,A,10\n")
    pr = write(tmp_path, "px.csv", "date,asset,price\n2024-01-02,A,100\n2024-01-03,A,110\n")
    pos = read_positions(f, pr)
    s = build_snapshots(pos.quantities, pos.prices, pos.cash)
    assert [x.total_value for x in s] == [1000, 1100] and s[1].daily_return == pytest.approx(0.1)
    clash = write(tmp_path, "pos2.csv", "date,asset,quantity,price\n2024-01-02,A,10,101\n")
    with pytest.raises(InputError, match="two prices for A on 2024-01-02") as exc:
        read_positions(clash, pr)
    assert "pos2.csv, line 2, field 'price', asset A" in str(exc.value) and "px.csv, line 2" in str(exc.value)


@pytest.mark.parametrize("text, where, message", [
    ("date,asset,quantity,price\n2024-01-02,A,10,100\n2024-01-02,A,5,100\n", "line 3, field 'asset', asset A",
     "appears twice on 2024-01-02 (line 2 and line 3)"),
    ("date,asset,quantity,price\n2024-01-02,A,ten,100\n", "line 2, field 'quantity', asset A", "non-numeric"),
    ("date,asset,quantity,price\n2024-01-02,A,-1,100\n", "line 2, field 'quantity', asset A", "negative quantity"),
    ("date,asset,quantity,price\n2024-01-02,A,1,0\n", "line 2, field 'price', asset A", "not positive"),
    ("date,asset,quantity,price\n2024-01-02,A,1,\n", "line 2, field 'price', asset A", "no price for A"),
    ("date,asset,quantity,price\n2024-13-02,A,1,5\n", "line 2, field 'date', asset A", "unparseable date"),
    ("date,asset,quantity,price\n2024-01-02,,1,5\n", "line 2, field 'asset'", "empty asset"),
    ("date,asset,price\n2024-01-02,A,5\n", "header (line 1)", "missing column(s) 'quantity'"),
    ("date,asset,quantity,price,colour\n2024-01-02,A,1,5,red\n", "header (line 1)", "unknown column(s) 'colour'"),
    ("date,asset,quantity,price,cash\n2024-01-02,A,1,5,10\n2024-01-02,B,1,5,11\n", "line 3, field 'cash', asset B",
     "two different cash amounts on 2024-01-02"),
    ("date,asset,quantity,price,cash\n2024-01-02,A,1,5,-10\n", "date 2024-01-02", "not > 0"),
    ("date,asset,quantity,price\n", "pos.csv", "no data rows"),
])
def test_positions_file_errors(tmp_path, text, where, message):
    f = write(tmp_path, "pos.csv", text)
    with pytest.raises(InputError) as exc:
        read_positions(f)
    assert message in str(exc.value) and where in str(exc.value) and str(f) in str(exc.value), str(exc.value)


def test_positions_parquet(tmp_path):
    df = pd.read_csv(write(tmp_path, "pos.csv", POSITIONS), dtype={"asset": str})
    df["date"] = pd.to_datetime(df["date"])
    df.to_parquet(tmp_path / "pos.parquet")
    pos = read_positions(tmp_path / "pos.parquet")
    assert [x.total_value for x in build_snapshots(pos.quantities, pos.prices, pos.cash)] == [1_000_000, 1_010_000,
                                                                                             998_000]


def test_demo_positions():
    pos = demo_positions()
    assert pos.synthetic and len(pos.quantities) == 20 and pos.quantities.index[-1] == pd.Timestamp("2024-12-31")
    assert (pos.quantities.nunique() == 1).all()                     # bought on 2024-01-02 and held
    first = pos.quantities.iloc[0] * demo_positions(end="2024-01-02", days=1).prices.iloc[0]
    assert (first <= 10_000_000).all() and (first > 9_000_000).all()  # 10 % of 100,000,000 each, whole shares
    assert pos.cash.iloc[0] == pytest.approx(100_000_000 - first.sum())
    assert (pos.prices == pos.prices.round()).all().all()            # whole KRW
    with pytest.raises(InputError, match="2024-01-02"):
        demo_positions(end="2023-06-30")


def test_store_rules(url):  # noqa: F811
    repo = AuditRepository.open(url)
    q, p, cash = frames()
    snaps = build_snapshots(q, p, cash)
    out = repo.save_snapshots(snaps[:2], "demo")
    assert out.rows_written == 2 and out.records[0].status == "stored"
    again = repo.save_snapshots(snaps[:2], "demo")
    assert again.unchanged and "already stored, unchanged" in again.lines()[0]
    mixed = repo.save_snapshots(snaps[1:], "demo")                     # 01-03 again (same) + 01-04 (new)
    assert [(r.status, r.rows) for r in mixed.records] == [("unchanged", 1), ("stored", 1)]
    assert count(url, "daily_snapshots") == 3
    other = build_snapshots(q * 2, p, cash)
    with pytest.raises(StoreError, match="different content") as exc:
        repo.save_snapshots(other[2:], "demo")
    assert "total_value: stored 998000.0, new 1875000.0" in str(exc.value)
    assert "portfolio_id=demo, date=2024-01-04" in str(exc.value)
    # a date before the last stored one would make the stored returns after it wrong
    early = build_snapshots(q.iloc[:1], p.iloc[:1], cash.iloc[:1])
    early[0].date = "2023-12-29"
    with pytest.raises(StoreError, match="comes before the last stored one"):
        repo.save_snapshots(early, "demo")
    # a new date must carry its returns against the last stored snapshot
    idx = pd.to_datetime(["2024-01-05"])
    unchained = build_snapshots(q.iloc[[2]].set_axis(idx), p.iloc[[2]].set_axis(idx), cash.iloc[[2]].set_axis(idx))
    with pytest.raises(StoreError, match="does not carry its returns"):
        repo.save_snapshots(unchained, "demo")
    chained = build_snapshots(q.iloc[[2]].set_axis(idx), p.iloc[[2]].set_axis(idx), cash.iloc[[2]].set_axis(idx),
                              previous=repo.previous_snapshot("demo", "2024-01-05"))
    assert chained[0].daily_return == 0.0 and chained[0].cum_return == pytest.approx(998_000 / 1_000_000 - 1)
    assert repo.save_snapshots(chained, "demo").rows_written == 1
    assert repo.save_snapshots(snaps[:1], "other").rows_written == 1  # another portfolio may use the same date
    stored = repo.snapshots("demo")
    assert stored["total_value"].tolist() == [1_000_000, 1_010_000, 998_000, 998_000]
    assert stored["positions"].iloc[2][0] == {"code": "005930", "quantity": 5.0, "price": 69000.0, "value": 345000.0,
                                              "weight": pytest.approx(345 / 998), "daily_pnl": -20000.0}
    prev = repo.previous_snapshot("demo", "2024-01-04")
    assert prev.date == "2024-01-03" and prev.positions[1].code == "000660"
    assert repo.snapshot_returns("demo").index[0] == pd.Timestamp("2024-01-02")
