"""Small, hand-made results that follow the contract (qmtl_research.results), for the tests
of the readers (evidence, report). Numbers are chosen by hand so that expected verdicts are known."""
from __future__ import annotations

import pandas as pd

from qmtl_research.results import DataResults, RatingResults, VolatilityResults

MODELS = ["GARCH", "LSTM", "GARCH-LSTM", "Naive"]


def data_section(n_periods: int = 341, frequency: str = "weekly (W-FRI), simple returns") -> DataResults:
    return DataResults(description={"source": "hand-made", "synthetic": True, "start": "2016-06-24",
                                    "end": "2022-12-30", "n_periods": n_periods, "n_series": 3,
                                    "frequency": frequency, "fingerprint": "0" * 64},
                       composition=pd.DataFrame({"n_funds": [3]}, index=pd.Index(["equity"], name="fund_type")))


def var_backtests_sample(zone="green", z2_p=0.5) -> pd.DataFrame:
    """volatility/var_backtests as the pipeline writes it: pooled rows of GARCH at 97.5/99 % (hand-made)."""
    return pd.DataFrame([{"model": "GARCH", "level": lv, "scope": "pooled", "fund_id": "", "n_funds": 3, "n": 300,
                          "exceptions": 3, "expected": 300 * (1 - lv), "zone": zone, "multiplier": 1.5,
                          "z1_p": 0.4, "z2_p": z2_p, "mf_p": 0.3, "de_u_p": 0.6, "de_c_p": 0.7}
                         for lv in (0.975, 0.99)])


def volatility_section(rmse=(2.0, 2.2361, 1.7321, 3.0), var_backtests=True) -> VolatilityResults:
    t2 = pd.DataFrame({"MSE": [r * r for r in rmse], "RMSE": list(rmse), "QLIKE": [0.5] * 4},
                      index=pd.Index(MODELS, name="model"))
    frame = lambda *cols: pd.DataFrame(columns=list(cols))  # noqa: E731
    return VolatilityResults(
        config={"models": MODELS}, table2=t2, table2_walk_forward=t2, table2_cv=t2,
        forecasts=frame("fund_id", "origin", "info_date", "fit_date", "y", *MODELS),
        design_comparison=pd.DataFrame({"RMSE (walk_forward)": list(rmse)}, index=pd.Index(MODELS, name="model")),
        mcs=frame("loss", "model", "mcs_pvalue", "in_mcs"),
        garch_diagnostics=frame("design", "fund_id", "fit_date", "flags"),
        garch_diagnostics_summary=frame("design", "estimations"), training=frame("design", "model"),
        table3=pd.DataFrame({"std": [10.0]}, index=pd.Index(["equity"], name="fund_type")),
        fig9_regimes=pd.DataFrame({"GARCH": [1.0], "n_points": [10]}, index=pd.Index(["all"], name="regime")),
        top20=pd.DataFrame({"fund_id": ["A"], "date": ["2020-03-27"], "realised": [40.0]}),
        dm_tests=pd.DataFrame({"loss": ["MSE"], "model_a": ["GARCH"], "model_b": ["LSTM"], "dm_stat": [0.1],
                               "p_value": [0.9], "better": ["no significant difference"]}),
        failures=pd.DataFrame(columns=["fund_id", "step", "message"]),
        summary={"best_model": MODELS[list(rmse).index(min(rmse))], "rmse": dict(zip(MODELS, rmse)),
                 "qlike": dict.fromkeys(MODELS, 0.5), "split": "walk_forward", "test_start": "2020-01-03",
                 "n_funds": 3, "n_test_points": 100, "ordering_text": "hand-made"},
        var_backtests=var_backtests_sample() if var_backtests is True else (var_backtests or None))


def rating_section(best=0.7, rule=0.65, persistence=0.72) -> RatingResults:
    t4 = pd.DataFrame({"accuracy": [best, rule, persistence], "macro_f1": [0.6, 0.6, 0.7]},
                      index=pd.Index(["RBF", "Regulatory rule", "Persistence"], name="approach"))
    empty = lambda *cols: pd.DataFrame(columns=list(cols))  # noqa: E731
    return RatingResults(
        config={"screen_threshold": 0.1}, table4=t4,
        horizons=pd.DataFrame({"horizon_weeks": [4] * 3, "approach": list(t4.index), "accuracy": t4["accuracy"].to_list()}),
        pearson=pd.DataFrame({"std_known_pct": [1.0]}, index=["std_known_pct"]),
        screen=pd.DataFrame({"feature": ["blended_std_pct"], "abs_r_with_std": [0.9], "kept": [True]}),
        confusion=empty("approach", "true_grade", "predicted_grade", "count"),
        per_grade=empty("approach", "grade", "precision", "recall"),
        best_params=empty("approach", "fold", "params"), grades=pd.DataFrame({"grade 1": [3]}),
        exclusions=empty("fund_id", "settlement_date", "reason", "horizon_weeks"),
        early_warning=empty("fund_id", "current_grade", "predicted_grade", "probability"),
        early_warning_not_scored=empty("fund_id", "reason"),
        summary={"best_kernel": "RBF", "best_accuracy": best, "rule_accuracy": rule,
                 "persistence_accuracy": persistence, "winner": "Persistence", "horizon_weeks": 4,
                 "split": "walk_forward", "n_samples": 500, "n_test_predictions": 400})


def as_results(*sections) -> dict:
    return {(s.SECTION, k): v for s in sections for k, v in s.items()}
