"""VaR and Expected Shortfall backtests (each a pure function with its paper).

* :mod:`~qmtl_research.risk.backtests.var_tests` - Kupiec POF and TUFF, Christoffersen
  independence and conditional coverage, Christoffersen-Pelletier durations, Engle-Manganelli
  DQ, Basel traffic light and FRTB multiplier;
* :mod:`~qmtl_research.risk.backtests.es_tests` - Acerbi-Szekely Z1/Z2 (simulated p-values),
  McNeil-Frey (bootstrap), Du-Escanciano U and C;
* :mod:`~qmtl_research.risk.backtests.distributions` - predictive distributions (PIT, draws);
* :mod:`~qmtl_research.risk.backtests.suite` - every test on a series, a panel pooled and per series.

:data:`TESTS` is the registry (name -> kind, function, paper) the README and reports list.
"""
from qmtl_research.risk.backtests.distributions import Empirical, LocationScale
from qmtl_research.risk.backtests.es_tests import (acerbi_szekely, acerbi_szekely_z1, acerbi_szekely_z2,
                                                   cumulative_violations, du_escanciano_conditional,
                                                   du_escanciano_unconditional, mcneil_frey, simulate_z)
from qmtl_research.risk.backtests.suite import ES_P_VALUES, P_VALUES, run_panel, run_suite
from qmtl_research.risk.backtests.var_tests import (FRTB_MULTIPLIER, christoffersen_independence,
                                                    conditional_coverage, duration_test, dynamic_quantile,
                                                    frtb_multiplier, kupiec_pof, kupiec_tuff, traffic_light,
                                                    transition_counts, zone_thresholds)

#: name -> (kind, function, reference). One home for the list of tests.
TESTS = {
    "Kupiec POF": ("VaR", kupiec_pof, "Kupiec (1995), Journal of Derivatives 3(2)"),
    "Kupiec TUFF": ("VaR", kupiec_tuff, "Kupiec (1995), Journal of Derivatives 3(2)"),
    "Christoffersen independence": ("VaR", christoffersen_independence,
                                    "Christoffersen (1998), International Economic Review 39(4)"),
    "Christoffersen conditional coverage": ("VaR", conditional_coverage,
                                            "Christoffersen (1998), International Economic Review 39(4)"),
    "Christoffersen-Pelletier duration": ("VaR", duration_test,
                                          "Christoffersen and Pelletier (2004), J. Financial Econometrics 2(1)"),
    "Engle-Manganelli DQ": ("VaR", dynamic_quantile, "Engle and Manganelli (2004), JBES 22(4)"),
    "Basel traffic light / FRTB multiplier": ("VaR", frtb_multiplier,
                                              "BCBS (1996) backtesting framework; BCBS d457 (2019) para. 351"),
    "Acerbi-Szekely Z1": ("ES", acerbi_szekely_z1, "Acerbi and Szekely (2014), Risk, December"),
    "Acerbi-Szekely Z2": ("ES", acerbi_szekely_z2, "Acerbi and Szekely (2014), Risk, December"),
    "McNeil-Frey": ("ES", mcneil_frey, "McNeil and Frey (2000), Journal of Empirical Finance 7"),
    "Du-Escanciano U": ("ES", du_escanciano_unconditional, "Du and Escanciano (2017), Management Science 63(4)"),
    "Du-Escanciano C": ("ES", du_escanciano_conditional, "Du and Escanciano (2017), Management Science 63(4)"),
}

__all__ = ["TESTS", "Empirical", "LocationScale", "ES_P_VALUES", "P_VALUES", "run_panel", "run_suite",
           "acerbi_szekely", "acerbi_szekely_z1", "acerbi_szekely_z2", "cumulative_violations",
           "du_escanciano_conditional", "du_escanciano_unconditional", "mcneil_frey", "simulate_z",
           "FRTB_MULTIPLIER", "christoffersen_independence", "conditional_coverage", "duration_test",
           "dynamic_quantile", "frtb_multiplier", "kupiec_pof", "kupiec_tuff", "traffic_light",
           "transition_counts", "zone_thresholds"]
