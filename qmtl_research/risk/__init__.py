"""Risk engine: pure computation shared by the audit layer, notebooks and validation rules.

* :mod:`~qmtl_research.risk.var` - historical (seed / Basel / numpy conventions),
  parametric normal and Student-t, filtered historical VaR and CVaR.
* :mod:`~qmtl_research.risk.montecarlo` - the seed's Monte Carlo (univariate or
  multivariate; historical, normal, t), chunked and reproducible.
* :mod:`~qmtl_research.risk.stress` - user-defined shocks and historical replays.
* :mod:`~qmtl_research.risk.backtest` - rolling VaR backtests, Kupiec,
  Christoffersen, Basel traffic light.

Losses are positive numbers; returns are fractions (0.01 = 1 %).
"""
from qmtl_research.risk.backtest import (BacktestResult, backtest_var, christoffersen_independence, kupiec_pof,
                                         rolling_var_forecasts, traffic_light)
from qmtl_research.risk.montecarlo import MonteCarloConfig, MonteCarloResult, make_config, simulate
from qmtl_research.risk.stress import (HISTORICAL_WINDOWS, StressScenario, historical_scenarios, load_scenarios,
                                       stress_test)
from qmtl_research.risk.var import (CONVENTIONS, METHODS, VaRResult, filtered_historical_var, historical_var,
                                    normal_var_es, parametric_var, t_var_es, value_at_risk, var_table)

__all__ = ["BacktestResult", "backtest_var", "christoffersen_independence", "kupiec_pof", "rolling_var_forecasts",
           "traffic_light", "MonteCarloConfig", "MonteCarloResult", "make_config", "simulate",
           "HISTORICAL_WINDOWS", "StressScenario", "historical_scenarios", "load_scenarios", "stress_test",
           "CONVENTIONS", "METHODS", "VaRResult", "filtered_historical_var", "historical_var", "normal_var_es",
           "parametric_var", "t_var_es", "value_at_risk", "var_table"]
