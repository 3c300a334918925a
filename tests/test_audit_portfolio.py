"""Portfolio specs: weights validated; demo data deterministic and labelled synthetic."""
import pytest

from qmtl_research.data.portfolio import (DEMO_STOCKS, demo_portfolio, load_portfolio, parse_spec,
                                           validate_weights)
from qmtl_research.config import load_strategy
from qmtl_research.errors import ConfigError, InputError


def test_demo_is_the_seed_portfolio_and_deterministic():
    a, b = demo_portfolio(), demo_portfolio()
    assert list(a.weights.index) == list(DEMO_STOCKS) and (a.weights == 0.1).all()
    assert a.synthetic and "SYNTHETIC" in a.label()
    assert a.asset_returns.equals(b.asset_returns)
    assert not demo_portfolio(seed=1).asset_returns.equals(a.asset_returns)


def test_weights_validation():
    with pytest.raises(InputError, match="sum to 0.9"):
        validate_weights({"A": 0.5, "B": 0.4})
    with pytest.raises(InputError, match="unknown asset"):
        validate_weights({"A": 0.5, "ZZZ": 0.5}, ["A", "B"])
    with pytest.raises(InputError, match="negative"):
        validate_weights({"A": 1.5, "B": -0.5})
    assert validate_weights({"A": 1.5, "B": -0.5}, allow_short=True).sum() == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="sum"):
        parse_spec({"weights": {"A": 0.3}})
    with pytest.raises(ConfigError):
        parse_spec({"weights": {"A": 1.0}, "typo": 1})


def test_strategies_load():
    demo = load_portfolio("audit-demo")
    assert demo.synthetic and demo.portfolio_id == "demo"
    real = load_portfolio("real-portfolio")
    assert not real.synthetic and real.weights.size == 20 and real.benchmark_returns.notna().all()
    cfg = load_strategy("real-portfolio")
    bad = cfg.model_copy(update={"portfolio": {"weights": {"AAPL": 0.5, "NOPE": 0.5}}})
    with pytest.raises(ConfigError, match="unknown asset"):
        load_portfolio(bad)
