"""Stress tests: user shocks by hand, historical replays, scenario files."""
import pandas as pd
import pytest

from qmtl_research.errors import ConfigError, InputError
from qmtl_research.risk.stress import StressScenario, historical_scenarios, load_scenarios, stress_test


def test_user_shocks_by_hand():
    w = {"A": 0.5, "B": 0.3, "C": 0.2}
    sc = [StressScenario(name="s1", shocks={"A": -0.2, "B": -0.1}, default_shock=-0.05),
          StressScenario(name="s2", shocks={"A": 0.1, "B": 0.1, "C": 0.1, "Z": -0.9})]
    df = stress_test(w, sc, portfolio_value=1000.0)
    assert df["portfolio_loss"].tolist() == pytest.approx([0.5 * 0.2 + 0.3 * 0.1 + 0.2 * 0.05, -0.1])
    assert df["loss_amount"].tolist() == pytest.approx([140.0, -100.0])
    with pytest.raises(InputError, match="no shock for C"):
        stress_test(w, {"s": {"A": -0.1, "B": -0.1}})


def test_historical_replay_by_hand():
    idx = pd.bdate_range("2020-01-27", "2020-04-10")
    r = pd.DataFrame({"A": 0.0, "B": 0.0}, index=idx)
    r.loc["2020-02-10", "A"] = -0.10
    r.loc["2020-03-02", "A"] = 0.05
    r.loc["2020-03-16", "B"] = -0.20
    df = historical_scenarios(r, {"A": 0.6, "B": 0.4})
    row = df.set_index("scenario").loc["COVID 2020-02 to 2020-03"]
    assert row["portfolio_loss"] == pytest.approx(-(0.6 * (0.9 * 1.05 - 1) + 0.4 * -0.2))
    assert df.attrs["not_covered"] == ["GFC 2008-09 to 2009-03", "Rates shock 2022"]


def test_scenario_files(tmp_path):
    names = [s.name for s in load_scenarios()]
    assert "Equity crash -30 %" in names
    assert "KR semiconductor shock" in [s.name for s in load_scenarios(portfolio_id="demo")]
    assert "KR semiconductor shock" not in [s.name for s in load_scenarios(portfolio_id="real-ew20")]
    (tmp_path / "bad.yaml").write_text("name: x\nshocks:\n  A: -1.5\n")
    with pytest.raises((ConfigError, InputError)):
        load_scenarios(tmp_path)
    (tmp_path / "bad.yaml").write_text("name: x\nshock: {A: -0.1}\n")
    with pytest.raises(ConfigError):
        load_scenarios(tmp_path)
