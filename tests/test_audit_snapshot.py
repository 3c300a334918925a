"""Daily snapshots by hand; unique per date in memory and in the store."""
import pandas as pd
import pytest

from qmtl_research.audit.repository import AuditRepository
from qmtl_research.audit.snapshot import build_snapshots, snapshots_frame
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
    assert s[1].daily_return == pytest.approx(1_010_000 / 1_000_000 - 1)
    assert s[2].cum_return == pytest.approx(998_000 / 1_000_000 - 1)
    pos = {x.code: x for x in s[2].positions}
    assert pos["005930"].daily_pnl == pytest.approx(10 * (69000 - 71000))
    assert pos["000660"].weight == pytest.approx(532_000 / 998_000)
    assert len(s[0].positions) == 1           # zero quantities are not positions
    assert snapshots_frame(s)["date"].tolist() == ["2024-01-02", "2024-01-03", "2024-01-04"]


def test_duplicate_dates_refused():
    q, p, cash = frames()
    q2 = pd.concat([q, q.iloc[[0]]])
    with pytest.raises(InputError, match="duplicate date"):
        build_snapshots(q2, p, cash)


def test_store_unique_per_date(tmp_path):
    repo = AuditRepository.open(f"sqlite:///{tmp_path}/s.sqlite")
    q, p, cash = frames()
    snaps = build_snapshots(q, p, cash)
    assert repo.save_snapshots(snaps[:2], "demo") == 2
    with pytest.raises(StoreError, match="already stored"):
        repo.save_snapshots(snaps[1:], "demo")           # 2024-01-03 again: nothing written
    assert len(repo.snapshots("demo")) == 2
    assert repo.save_snapshots(snaps[2:], "demo") == 1
    assert repo.save_snapshots(snaps[:1], "other") == 1  # another portfolio may use the same date
    stored = repo.snapshots("demo")
    assert stored["total_value"].tolist() == [s.total_value for s in snaps]
    assert stored["positions"].iloc[2][0]["code"] == "005930"
