"""Factor attribution adds up and equals least squares."""
import numpy as np
import pandas as pd
import pytest

from qmtl_research.risk.attribution import factor_attribution
from qmtl_research.data.portfolio import real_portfolio
from qmtl_research.errors import InputError


def test_real_attribution_adds_up_and_equals_lstsq():
    d = real_portfolio(start="2015-01-02")
    r, f = d.portfolio_returns, d.factor_returns
    res = factor_attribution(r, f)
    t = res.table.set_index("factor")
    assert list(t.index) == ["MTUM", "QUAL", "SIZE", "USMV", "VLUE", "alpha", "residual"]
    assert t["contribution"].sum() == pytest.approx(res.total, abs=1e-12)
    common = pd.concat([r, f], axis=1, join="inner")
    X = np.column_stack([np.ones(len(common)), common[f.columns].to_numpy()])
    beta, *_ = np.linalg.lstsq(X, common.iloc[:, 0].to_numpy(), rcond=None)
    np.testing.assert_allclose(t.loc[list(f.columns), "exposure"].to_numpy(), beta[1:], rtol=1e-8, atol=1e-12)
    assert abs(t.loc["residual", "contribution"]) < 1e-10
    assert res.compounded_total == pytest.approx(np.prod(1 + common.iloc[:, 0].to_numpy()) - 1)


def test_exact_factor_model_recovered():
    rng = np.random.default_rng(1)
    idx = pd.bdate_range("2020-01-01", periods=300)
    f = pd.DataFrame(rng.standard_normal((300, 2)) * 0.01, index=idx, columns=["F1", "F2"])
    r = 0.0002 + 0.7 * f["F1"] - 0.3 * f["F2"]
    t = factor_attribution(r, f).table.set_index("factor")
    assert t.loc["F1", "exposure"] == pytest.approx(0.7) and t.loc["F2", "exposure"] == pytest.approx(-0.3)
    assert t.loc["F1", "contribution"] == pytest.approx(0.7 * f["F1"].sum())
    assert t.loc["alpha", "contribution"] == pytest.approx(0.0002 * 300)
    with pytest.raises(InputError, match="common"):
        factor_attribution(r.iloc[:10], f)
