"""Alerts against hand-computed cases (drawdown episodes, daily losses, limits)."""
import empyrical
import numpy as np
import pandas as pd
import pytest

from qmtl_research.risk.alerts import ALERT_COLUMNS, check_alerts, drawdowns
from qmtl_research.data.portfolio import real_portfolio
from qmtl_research.risk.audit_settings import AlertSettings, AuditSettings
from qmtl_research.errors import InputError

SEED = AuditSettings()          # max_drawdown -0.10, daily_loss -0.03


def series(values, start="2024-01-01"):
    return pd.Series(values, index=pd.bdate_range(start, periods=len(values)), dtype=float)


def test_hand_computed_episodes_and_daily_losses():
    # wealth 1.05 1.008 .96768 .9386496 .9574226 .9286999 1.1144399 .9807071 .9905142 .9806090
    r = series([0.05, -0.04, -0.04, -0.03, 0.02, -0.03, 0.20, -0.12, 0.01, -0.01])
    a = check_alerts(r, SEED)
    assert list(a.columns) == ALERT_COLUMNS
    dd = a[a.alert == "max_drawdown"]
    # day 4: .96*.96*.97 - 1 = -0.106048 (first crossing); day 6 (-11.55 %) is the same episode;
    # day 7 is a new peak, day 8 (-12 %) starts the second alert
    assert list(dd.date) == [r.index[3], r.index[7]]
    assert dd.value.tolist() == pytest.approx([0.96 * 0.96 * 0.97 - 1, -0.12])
    assert (dd.threshold == -0.10).all()
    loss = a[a.alert == "daily_loss"]
    # -0.03 exactly is "at or below" the limit
    assert list(loss.date) == [r.index[i] for i in (1, 2, 3, 5, 7)]
    assert loss.value.tolist() == pytest.approx([-0.04, -0.04, -0.03, -0.03, -0.12])
    assert list(a.date) == sorted(a.date)
    assert "first day of this drawdown episode" in dd.message.iloc[0] and "-10.00%" in dd.message.iloc[0]


def test_wealth_starts_at_one_and_limit_is_inclusive():
    a = check_alerts(series([-0.11, 0.0]), AlertSettings(max_drawdown=-0.10, daily_loss=None))
    assert a.alert.tolist() == ["max_drawdown"] and a.value.iloc[0] == pytest.approx(-0.11)
    exactly = check_alerts(series([0.0, -0.10]), AlertSettings(max_drawdown=-0.10, daily_loss=None))
    assert len(exactly) == 1
    just_above = check_alerts(series([-0.0999]), AlertSettings(max_drawdown=-0.10, daily_loss=-0.10))
    assert just_above.empty and list(just_above.columns) == ALERT_COLUMNS


def test_switched_off_and_empty():
    r = series([-0.2, -0.2])
    assert check_alerts(r, AlertSettings(max_drawdown=None, daily_loss=None)).empty
    assert check_alerts(pd.Series([], index=pd.DatetimeIndex([]), dtype=float), SEED).empty
    only_loss = check_alerts(r, AlertSettings(max_drawdown=None, daily_loss=-0.03))
    assert only_loss.alert.tolist() == ["daily_loss", "daily_loss"]


def test_bad_input():
    with pytest.raises(InputError, match="NaN"):
        check_alerts(series([0.01, np.nan]), SEED)
    with pytest.raises(InputError, match="DatetimeIndex"):
        check_alerts(pd.Series([0.01, 0.02]), SEED)


def test_drawdowns_match_empyrical_on_real_data():
    r = real_portfolio(start="2007-01-03", end="2012-12-31").portfolio_returns
    dd = drawdowns(r)
    assert dd.min() == pytest.approx(empyrical.max_drawdown(r), abs=1e-12)
    wealth = (1 + r).cumprod()
    np.testing.assert_allclose(dd.to_numpy(), (wealth / np.maximum(wealth.cummax(), 1.0) - 1).to_numpy(), atol=1e-12)
    a = check_alerts(r, SEED)
    loss_days = r.index[r <= -0.03]
    assert list(a[a.alert == "daily_loss"].date) == list(loss_days)
    first = a[a.alert == "max_drawdown"].date.iloc[0]
    assert first == dd.index[np.argmax(dd.to_numpy() <= -0.10)]     # the GFC crossing
