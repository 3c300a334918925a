"""Realised-vol targets against hand computations."""
import math

import numpy as np
import pandas as pd
import pytest

from qmtl_research.volatility.targets import (realized_vol, regulatory_vol, stage2_vol,
                                              variance_to_target_scale)


def _weekly(values):
    return pd.Series(values, index=pd.date_range("2020-01-03", periods=len(values), freq="W-FRI"))


def test_realized_vol_matches_hand_computation():
    r = _weekly([0.01, -0.02, 0.03, 0.00, 0.05])
    vol = realized_vol(r, window=4)
    # window ending at week 4: values 0.01, -0.02, 0.03, 0.00; mean 0.005
    dev2 = (0.005 ** 2) + (0.025 ** 2) + (0.025 ** 2) + (0.005 ** 2)
    expected4 = math.sqrt(dev2 / 3) * math.sqrt(52) * 100
    # window ending at week 5: -0.02, 0.03, 0.00, 0.05; mean 0.015
    dev2b = 0.035 ** 2 + 0.015 ** 2 + 0.015 ** 2 + 0.035 ** 2
    expected5 = math.sqrt(dev2b / 3) * math.sqrt(52) * 100
    assert vol.iloc[:3].isna().all()
    assert vol.iloc[3] == pytest.approx(expected4, rel=1e-12)
    assert vol.iloc[4] == pytest.approx(expected5, rel=1e-12)
    assert expected4 == pytest.approx(15.0111, abs=1e-4)   # sqrt(0.0013/3) * sqrt(52) * 100


def test_long_windows_and_frames():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(0, 0.02, size=(200, 3)),
                         index=pd.date_range("2016-06-24", periods=200, freq="W-FRI"), columns=["a", "b", "c"])
    reg = regulatory_vol(frame)
    s2 = stage2_vol(frame)
    last = frame.iloc[-156:].to_numpy()
    assert np.allclose(reg.iloc[-1].to_numpy(), last.std(axis=0, ddof=1) * np.sqrt(52) * 100)
    assert np.allclose(s2.iloc[-1].to_numpy(), frame.iloc[-152:].to_numpy().std(axis=0, ddof=1) * np.sqrt(52) * 100)
    assert reg.iloc[:155].isna().all().all() and reg.iloc[155:].notna().all().all()


def test_variance_mapping_closed_form():
    # weekly variances 1e-4 .. 4e-4 of a series divided by scale 2 before fitting
    v = np.array([1e-4, 2e-4, 3e-4, 4e-4])
    expected = math.sqrt(2.5e-4 * 4 * 52) * 100
    assert variance_to_target_scale(v, scale=2.0) == pytest.approx(expected)
    # constant weekly variance s^2 -> annualised s*sqrt(52)*100
    assert variance_to_target_scale(np.full(4, 0.02 ** 2)) == pytest.approx(0.02 * math.sqrt(52) * 100)


def test_window_must_allow_ddof1():
    with pytest.raises(ValueError):
        realized_vol(_weekly([0.01, 0.02]), window=1)
