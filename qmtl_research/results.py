"""The results contract: every section and key a run records, declared once.

A run of a strategy records its evidence in the Evaluation Store as named results
``(section, name) -> value``. This module is the only place where those names exist:

* each section is a dataclass (:class:`DataResults`, :class:`VolatilityResults`,
  :class:`RatingResults`, :class:`RiskResults`, :class:`ValidationResults`) whose fields are
  the section's keys, each declared with :func:`result` (kind, description, required columns);
* :meth:`SectionResults.record` is the section's one writer (the stages call it, in
  production and in tests); it checks every value against its declaration first and writes
  nothing when one is wrong;
* :meth:`SectionResults.read` is the typed reader (evidence, report sections, notebooks and
  tests read through it). A section that is absent reads as ``None`` (the stage is not part of
  the strategy); a declared key that is missing, a key that is not declared, or a value of the
  wrong kind raises :class:`ResultsError` naming the stage that should have written it.

Kinds: ``frame`` (DataFrame; index kept), ``series`` (Series, stored as a one-column frame),
``mapping`` (a JSON-able dict).

>>> from qmtl_research.results import RatingResults
>>> rating = RatingResults.read(store.get_results(key))      # doctest: +SKIP
>>> rating.table4.loc["RBF", "accuracy"]                     # doctest: +SKIP

Over 400 lines because it is the results contract: every section and key a run records is declared
here once, on purpose in one file.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import pandas as pd

from qmtl_research.errors import QMTLResearchError

KINDS = ("frame", "series", "mapping")
Results = Mapping[tuple[str, str], Any]


class ResultsError(QMTLResearchError):
    """A recorded result does not follow the contract (missing, unknown or of the wrong kind)."""


def result(kind: str, doc: str, *, required: bool = True, columns: tuple[str, ...] = (),
           fields: tuple[str, ...] = (), artifact: bool = False) -> Any:
    """Declare one key of a section.

    Parameters
    ----------
    kind : "frame" | "series" | "mapping"
    doc : what the value is, with units.
    required : a required key must be recorded whenever the section is.
    columns : frames: columns (or the index name) that must be present.
    fields : mappings: keys that must be present.
    artifact : frames that can be large (a forecast panel): written as a Parquet file in the run
        folder, the store keeping its path, sha256 and row count (checked when read back).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown result kind {kind!r}")
    meta = {"kind": kind, "doc": doc, "required": required, "columns": tuple(columns), "fields": tuple(fields),
            "artifact": artifact}
    return field(default=None, metadata=meta)


@dataclass(frozen=True)
class KeySpec:
    section: str
    name: str
    kind: str
    doc: str
    required: bool
    columns: tuple[str, ...]
    fields: tuple[str, ...]
    artifact: bool = False


def _sha256(path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_artifact(frame: pd.DataFrame, folder, section: str, name: str) -> dict:
    """Write a large result frame as ``<folder>/<section>.<name>.parquet`` (never over an existing
    file) and return the pointer the store keeps: ``{"artifact", "sha256", "rows"}``."""
    from pathlib import Path

    path = Path(folder) / f"{section}.{name}.parquet"
    if path.exists():
        raise ResultsError(f"artifact {path.name} already exists in the run folder", where=str(path),
                           fix="results are write-once: a stage records its section once per run")
    frame.to_parquet(path)
    return {"artifact": str(path.resolve()), "sha256": _sha256(path), "rows": int(len(frame))}


def read_artifact(pointer: dict, spec: KeySpec) -> pd.DataFrame:
    """The frame behind an artifact pointer; its sha256 must match what the store recorded."""
    from pathlib import Path

    path = Path(pointer["artifact"])
    where = f"{spec.section}/{spec.name} (written by the stage as {path})"
    if not path.is_file():
        raise ResultsError(f"the artifact of result {spec.section}/{spec.name} is missing", where=where,
                           fix="the run folder was moved or pruned; restore it or re-run the strategy")
    if _sha256(path) != pointer["sha256"]:
        raise ResultsError(f"the artifact of result {spec.section}/{spec.name} changed since the run recorded it",
                           where=where, fix="artifacts are immutable; restore the original or re-run")
    return pd.read_parquet(path)


@dataclass
class SectionResults:
    """Base of the section dataclasses (see the module docstring)."""

    SECTION: ClassVar[str] = ""
    STAGE: ClassVar[str] = ""

    # ------------------------------------------------------------ contract
    @classmethod
    def specs(cls) -> list[KeySpec]:
        return [KeySpec(cls.SECTION, f.name, f.metadata["kind"], f.metadata["doc"], f.metadata["required"],
                        f.metadata["columns"], f.metadata["fields"], f.metadata["artifact"])
                for f in dataclasses.fields(cls) if "kind" in f.metadata]

    @classmethod
    def spec(cls, name: str) -> KeySpec:
        for s in cls.specs():
            if s.name == name:
                return s
        raise ResultsError(f"'{cls.SECTION}/{name}' is not a key of the results contract",
                           where=f"qmtl_research.results.{cls.__name__}",
                           fix=f"use one of: {', '.join(s.name for s in cls.specs())}")

    # ------------------------------------------------------------- checks
    @classmethod
    def _check(cls, spec: KeySpec, value: Any) -> None:
        where = f"{spec.section}/{spec.name} (written by {cls.STAGE})"
        expected = {"frame": pd.DataFrame, "series": pd.Series, "mapping": dict}[spec.kind]
        if not isinstance(value, expected):
            raise ResultsError(f"result {spec.section}/{spec.name} must be a {spec.kind}, got {type(value).__name__}",
                               where=where, fix="record the value the contract declares (qmtl_research.results)")
        if spec.kind == "frame":
            have = set(map(str, value.columns)) | {str(n) for n in value.index.names if n is not None}
            missing = [c for c in spec.columns if c not in have]
            if missing:
                raise ResultsError(f"result {spec.section}/{spec.name} lacks columns {missing}", where=where,
                                   fix="the writer must produce every declared column")
        if spec.kind == "mapping":
            missing = [k for k in spec.fields if k not in value]
            if missing:
                raise ResultsError(f"result {spec.section}/{spec.name} lacks fields {missing}", where=where,
                                   fix="the writer must produce every declared field")

    def validate(self) -> "SectionResults":
        """Check every key against its declaration (required keys present, kinds, columns)."""
        for spec in self.specs():
            value = getattr(self, spec.name)
            if value is None:
                if spec.required:
                    raise ResultsError(f"required result {spec.section}/{spec.name} is missing",
                                       where=f"{type(self).__name__} built by {self.STAGE}",
                                       fix="the stage must produce every required key of its section")
                continue
            self._check(spec, value)
        return self

    # -------------------------------------------------------------- write
    def items(self) -> list[tuple[str, Any]]:
        return [(s.name, getattr(self, s.name)) for s in self.specs() if getattr(self, s.name) is not None]

    def record(self, ctx) -> "SectionResults":
        """The section's one writer: validate everything, then store each key for the run of
        ``ctx`` (a :class:`~qmtl_research.store.context.RunContext`; no-op in exploration mode)."""
        self.validate()
        if ctx.recording:
            specs = {s.name: s for s in self.specs()}
            folder = ctx.run_dir / ctx.run_id          # one folder per run: artifacts are never shared
            if any(specs[n].artifact for n, _ in self.items()):
                folder.mkdir(parents=True, exist_ok=True)
            items = [(name, write_artifact(v, folder, self.SECTION, name) if specs[name].artifact else v)
                     for name, v in self.items()]
            ctx.store.put_results(ctx.key, self.SECTION, items)
        return self

    # --------------------------------------------------------------- read
    @classmethod
    def read(cls, results: Results, *, required: bool = False):
        """The section from recorded ``results`` (``store.get_results(key)``).

        Returns None when nothing of the section was recorded (unless ``required``); raises
        :class:`ResultsError` for a missing required key, an unknown key or a wrong kind."""
        mine = {name: v for (section, name), v in results.items() if section == cls.SECTION}
        if not mine:
            if required:
                raise ResultsError(f"no '{cls.SECTION}' results were recorded for this run",
                                   where=f"expected from {cls.STAGE}",
                                   fix="add the stage to the strategy, or run it before reading its results")
            return None
        declared = {s.name: s for s in cls.specs()}
        unknown = sorted(set(mine) - set(declared))
        if unknown:
            raise ResultsError(f"results {[f'{cls.SECTION}/{n}' for n in unknown]} are not in the contract",
                               where=f"recorded for this run, section of {cls.STAGE}",
                               fix=f"declare them in qmtl_research.results.{cls.__name__} or stop recording them")
        values = {}
        for name, spec in declared.items():
            if name not in mine:
                if spec.required:
                    raise ResultsError(f"result {cls.SECTION}/{name} is missing", where=f"should be written by {cls.STAGE}",
                                       fix="re-run the stage; a run records every required key of a section")
                continue
            v = mine[name]
            if spec.artifact and isinstance(v, dict) and "artifact" in v:
                v = read_artifact(v, spec)
            if spec.kind == "series" and isinstance(v, pd.DataFrame):
                v = v.iloc[:, 0]
            cls._check(spec, v)
            values[name] = v
        return cls(**values)


# ======================================================================= sections
@dataclass
class DataResults(SectionResults):
    """What data the run studied (written by the runner from the panel the stages used)."""

    SECTION: ClassVar[str] = "data"
    STAGE: ClassVar[str] = "the data layer (qmtl_research.data.describe)"

    description: dict = result("mapping", "source, synthetic flag, dates, frequency, counts, fingerprint",
                               fields=("source", "synthetic", "start", "end", "n_series", "frequency",
                                       "fingerprint"))
    composition: pd.DataFrame = result("frame", "one row per fund type (fund panels) or asset (portfolios): "
                                       "counts, history lengths in periods, weights")


@dataclass
class VolatilityResults(SectionResults):
    """Stage 1: volatility forecasts and their evaluation (errors realised - forecast; MSE in %^2,
    RMSE in percentage points of annualised std, QLIKE unit-free)."""

    SECTION: ClassVar[str] = "volatility"
    STAGE: ClassVar[str] = "stage 1 (qmtl_research.volatility.run_stage1)"

    config: dict = result("mapping", "stage-1 settings: models, verdict design, test start, refits, GARCH, LSTM, seed")
    forecasts: pd.DataFrame = result("frame", "the walk-forward forecast panel: one row per fund and forecast origin "
                                     "(the 'now' origin included), each model's 1-month annualised std forecast (%)",
                                     columns=("fund_id", "origin", "info_date", "fit_date", "y"), artifact=True)
    table2: pd.DataFrame = result("frame", "Table 2 of the verdict design: MSE, RMSE, QLIKE per model",
                                  columns=("model", "MSE", "RMSE", "QLIKE"))
    table2_walk_forward: pd.DataFrame = result("frame", "Table 2 of the walk-forward design", columns=("model", "RMSE"))
    table2_cv: pd.DataFrame = result("frame", "Table 2 of the paper's K-fold CV (empty when not run)",
                                     columns=("model", "RMSE"))
    design_comparison: pd.DataFrame = result("frame", "walk-forward and K-fold CV side by side", columns=("model",))
    table3: pd.DataFrame = result("frame", "Table 3: error by fund type", columns=("fund_type", "std"))
    fig9_regimes: pd.DataFrame = result("frame", "Figure 9: RMSE by regime", columns=("regime", "n_points"))
    top20: pd.DataFrame = result("frame", "Figure 10: the 20 highest realised 1-month vols",
                                 columns=("fund_id", "date", "realised"))
    dm_tests: pd.DataFrame = result("frame", "Diebold-Mariano tests (HLN) for every model pair, MSE and QLIKE loss",
                                    columns=("loss", "model_a", "model_b", "dm_stat", "p_value", "better"))
    mcs: pd.DataFrame = result("frame", "model confidence set (arch.bootstrap.MCS) per loss",
                               columns=("loss", "model", "mcs_pvalue", "in_mcs"))
    challengers: pd.DataFrame = result("frame", "every model against the model under validation: RMSE, QLIKE, "
                                       "Diebold-Mariano (HAC, HLN) statistic and p-value, MCS membership",
                                       columns=("model", "role", "dm_mse", "p_mse", "in_mcs_mse"), required=False)
    garch_diagnostics: pd.DataFrame = result("frame", "degenerate GARCH(1,1) estimations (persistence, beta = 0, bounds)",
                                             columns=("design", "fund_id", "fit_date", "flags"))
    garch_diagnostics_summary: pd.DataFrame = result("frame", "GARCH estimations and degenerate ones per design")
    training: pd.DataFrame = result("frame", "every LSTM fit: design, fit date, samples, epochs, losses")
    loss_by_fund: pd.DataFrame = result("frame", "each fund's contribution to each model's MSE (%^2) and QLIKE on "
                                        "Table 2's points: n_points, total, mean, share of the model's total",
                                        columns=("loss", "model", "fund_id", "total", "share"), required=False)
    loss_robust: pd.DataFrame = result("frame", "each loss's mean (Table 2) beside its median, 10 % trimmed mean and "
                                       "median fund mean; the top fund's share and whether it dominates (> 50 %)",
                                       columns=("loss", "model", "mean", "median", "trimmed_mean", "top_share",
                                                "dominated"), required=False)
    failures: pd.DataFrame = result("frame", "funds stage 1 could not process, with the reason",
                                    columns=("fund_id", "step", "message"))
    summary: dict = result("mapping", "best model, RMSE/QLIKE per model, designs, test start, refits, MCS, text",
                           fields=("best_model", "rmse", "qlike", "split", "test_start", "n_funds", "n_test_points",
                                   "ordering_text"))
    # fund-level VaR/ES of the stage-1 models and their backtests (qmtl_research.risk.fund_var;
    # written by the pipeline's volatility stage, optional for runs recorded before them)
    var_forecasts: pd.DataFrame = result("frame", "one-week VaR/ES (positive losses, fractions) per fund, origin and "
                                         "model at 97.5 % and 99 %, the realised return and its PIT",
                                         columns=("fund_id", "origin", "model", "return", "pit"), artifact=True,
                                         required=False)
    var_backtests: pd.DataFrame = result("frame", "the VaR/ES backtest suite per model and level: pooled and per fund "
                                         "(exceptions, zone, FRTB multiplier, p-values)",
                                         columns=("model", "level", "scope", "fund_id", "exceptions", "zone"),
                                         required=False)
    var_not_tested: pd.DataFrame = result("frame", "fund-weeks and funds without a backtested VaR/ES, with the reason",
                                          columns=("fund_id", "model", "reason"), required=False)
    var_summary: dict = result("mapping", "fund-level VaR/ES settings, pooled results and shares of funds rejected",
                               fields=("models", "levels", "pooled", "share_rejected_5pct"), required=False)


#: the row of ``rating.label_comparison`` that holds each column's denominator (test fund-settlements)
LABEL_COMPARISON_COUNT_ROW = "n scored (test fund-settlements)"


@dataclass
class RatingResults(SectionResults):
    """Stage 2: grade classification (accuracies are fractions 0..1)."""

    SECTION: ClassVar[str] = "rating"
    STAGE: ClassVar[str] = "stage 2 (qmtl_research.rating.run_rating_study)"

    config: dict = result("mapping", "stage-2 settings: horizons, kernels, grid, split, stage-1 model, screen")
    table4: pd.DataFrame = result("frame", "Table 4: accuracy, macro-F1, share > 1 grade off, by approach",
                                  columns=("approach", "accuracy", "macro_f1"))
    horizons: pd.DataFrame = result("frame", "accuracy by horizon (weeks before settlement) and approach",
                                    columns=("horizon_weeks", "approach", "accuracy"))
    pearson: pd.DataFrame = result("frame", "Figure 7: Pearson correlations of the candidate indicators")
    screen: pd.DataFrame = result("frame", "Pearson screen: |r| with std per indicator, kept or dropped",
                                  columns=("feature", "abs_r_with_std", "kept"))
    confusion: pd.DataFrame = result("frame", "confusion counts (long)",
                                     columns=("approach", "true_grade", "predicted_grade", "count"))
    per_grade: pd.DataFrame = result("frame", "precision/recall per grade and approach",
                                     columns=("approach", "grade", "precision", "recall"))
    best_params: pd.DataFrame = result("frame", "grid-search parameters chosen per outer fold and kernel",
                                       columns=("approach", "fold", "params"))
    grades: pd.DataFrame = result("frame", "labelled settlements by year and grade (counts)")
    label_comparison: pd.DataFrame = result("frame", "accuracy with the computed Table-1 grade and with the grade disclosed "
                                            "in the prospectus (the paper's target) as label; the row "
                                            f"{LABEL_COMPARISON_COUNT_ROW!r} counts the fund-settlements scored",
                                            required=False,
                                            columns=("approach",))
    exclusions: pd.DataFrame = result("frame", "fund-settlements without a sample, with the reason and horizon",
                                      columns=("fund_id", "settlement_date", "reason", "horizon_weeks"))
    early_warning: pd.DataFrame = result("frame", "funds whose predicted grade at the next settlement differs "
                                         "from the current grade", columns=("fund_id", "current_grade",
                                                                           "predicted_grade", "probability"))
    early_warning_not_scored: pd.DataFrame = result("frame", "funds without a warning decision, with the reason (e.g. "
                                                    "their horizon's model does not beat persistence)",
                                                    columns=("fund_id", "reason"))
    summary: dict = result("mapping", "best kernel and accuracies vs the rule and persistence, verdict text",
                           fields=("best_kernel", "best_accuracy", "rule_accuracy", "persistence_accuracy",
                                   "winner", "horizon_weeks", "split", "n_samples", "n_test_predictions"))
    scored: pd.DataFrame = result("frame", "test fund-settlements each approach scored at the verdict horizon: n_scored "
                                  "(its own rows: the challengers also score funds without a benchmark), n_common "
                                  "(scored by every approach: Table 4's denominator), accuracy on its own rows",
                                  required=False, columns=("approach", "n_scored", "n_common", "accuracy_own_rows"))
    approximation: pd.DataFrame = result("frame", "when an SVC was fitted on the kernel approximation (training set "
                                         "above exact_kernel_max_samples): exact vs approximated accuracy (fractions) "
                                         "of each approximated approach on a random subset, same folds, and the "
                                         "difference (approximated - exact)", required=False,
                                         columns=("approach", "n_subset", "exact_accuracy", "approximated_accuracy",
                                                  "difference"))
    schemes: pd.DataFrame = result("frame", "grading schemes configured (params/grading): the one in force (named) "
                                   "first, measure, bands with their inclusive side, source, effective date",
                                   required=False, columns=("scheme", "in_force", "measure", "bands", "source"))
    scheme_grades: pd.DataFrame = result("frame", "grade (grade[<scheme>]) and measure value in percent (value[<scheme>]) "
                                         "of every fund-settlement under every scheme, with a one-line reason where "
                                         "a scheme's grade differs from its bands on the named scheme's value",
                                         required=False, columns=("fund_id", "settlement_date", "reason"))
    scheme_exclusions: pd.DataFrame = result("frame", "fund-settlements a scheme could not grade, with the reason",
                                             required=False, columns=("fund_id", "settlement_date", "scheme", "reason"))
    grade_calibration: pd.DataFrame = result("frame", "calibration of P(grade = k) on the walk-forward test set: the "
                                             "SVC's Platt probabilities vs the GARCH predictive grade distribution "
                                             "(same rows): n, multiclass Brier score, log loss, accuracy of the most "
                                             "probable grade; better = the lower Brier score",
                                             required=False, columns=("approach", "n", "brier", "log_loss", "better"))
    grade_reliability: pd.DataFrame = result("frame", "reliability bins of both approaches (one-vs-rest pairs): mean "
                                             "forecast, observed frequency, pairs per bin",
                                             required=False, columns=("approach", "bin_mean_forecast",
                                                                      "observed_frequency", "n_pairs"))
    grade_outlook: pd.DataFrame = result("frame", "P(grade = k) at each early-warning fund's next settlement from "
                                         "the GARCH predictive distribution: the most probable grade and P(change)",
                                         required=False, columns=("fund_id", "next_settlement", "current_grade",
                                                                  "predictive_grade", "p_change"))
    grade_predictive: pd.DataFrame = result("frame", "the GARCH predictive grade distribution P(grade = k) of every "
                                            "walk-forward test fund-settlement, with the true grade",
                                            required=False, columns=("fund_id", "prediction_date", "true_grade"))


@dataclass
class RiskResults(SectionResults):
    """Portfolio risk and audit (losses are positive fractions of value unless stated)."""

    SECTION: ClassVar[str] = "risk"
    STAGE: ClassVar[str] = "the risk study (qmtl_research.risk.study.run_risk_study)"

    config: dict = result("mapping", "risk-study settings: confidences, lookbacks, Monte Carlo, backtest, conventions")
    portfolio: pd.DataFrame = result("frame", "assets, names and weights", columns=("asset", "weight"))
    var_table: pd.DataFrame = result("frame", "1-day VaR/CVaR by method and confidence",
                                     columns=("method", "confidence", "VaR", "CVaR"))
    montecarlo: dict = result("mapping", "Monte Carlo summary (holding-period VaR/CVaR, percentiles)",
                              fields=("var_95", "var_99", "cvar_95", "cvar_99"))
    stress: pd.DataFrame = result("frame", "stress scenarios: portfolio loss (positive) and amount",
                                  columns=("scenario", "kind", "portfolio_loss", "loss_amount"))
    backtest: dict = result("mapping", "VaR backtest: exceptions, Kupiec, Christoffersen, Basel zone",
                            fields=("n", "exceptions", "expected_exceptions", "zone"))
    backtest_series: pd.DataFrame = result("frame", "daily return, VaR forecast and exception flag of the backtest",
                                           columns=("return", "var", "exception"))
    performance: dict = result("mapping", "PerformanceReport of the audit layer (its conventions)")
    attribution: pd.DataFrame = result("frame", "factor attribution: exposure x factor return per factor",
                                       columns=("factor", "exposure", "contribution"), required=False)
    portfolio_returns: pd.Series = result("series", "daily simple returns of the portfolio")
    benchmark_returns: pd.Series = result("series", "daily simple returns of the benchmark", required=False)
    alerts: pd.DataFrame = result("frame", "audit alerts: days the drawdown or the daily loss reached the limits of "
                                  "params/audit.yaml", columns=("date", "alert", "value", "threshold", "message"))
    es_backtest: pd.DataFrame = result("frame", "the VaR/ES backtest suite of the rolling forecasts per level (Kupiec, "
                                       "Christoffersen, durations, DQ, zone, Acerbi-Szekely, McNeil-Frey, "
                                       "Du-Escanciano)", columns=("level", "exceptions", "z2", "z2_p"), required=False)


@dataclass
class ValidationResults(SectionResults):
    """The verdict: rules, thresholds, metrics and health under the world policy."""

    SECTION: ClassVar[str] = "validation"
    STAGE: ClassVar[str] = "the validation stage (qmtl_research.validation.assessment.assess)"

    rules: pd.DataFrame = result("frame", "rule outcomes", columns=("rule", "status", "severity", "owner",
                                                                   "reason_code", "reason"))
    thresholds: pd.DataFrame = result("frame", "every bound of the profile in force",
                                      columns=("section", "key", "metric", "bound", "value"))
    summary: dict = result("mapping", "status, recommended stage, profile, policy version, ruleset hash",
                           fields=("status", "recommended_stage", "profile", "policy_version", "ruleset_hash"))
    metrics: dict = result("mapping", "QMTL metric blocks the rules judged")
    health: dict = result("mapping", "validation health (coverage, rules executed, errors, policy age)")
    benchmark_comparison: pd.DataFrame = result("frame", "model vs benchmarks and challengers",
                                                columns=("comparison", "candidate", "value", "reference",
                                                         "reference_value", "difference"))
    extended: pd.DataFrame = result("frame", "extended layers and model rules", columns=("rule", "status"))
    overrides: pd.DataFrame = result("frame", "overrides of this run")
    verdicts: pd.DataFrame = result("frame", "QMTL imports: one row per imported run", required=False)


SECTIONS: dict[str, type[SectionResults]] = {c.SECTION: c for c in
                                             (DataResults, VolatilityResults, RatingResults, RiskResults,
                                              ValidationResults)}


def check_results(results: Results) -> None:
    """Raise :class:`ResultsError` for a recorded section that is not in the contract and
    read every known section once (which checks its keys)."""
    unknown = sorted({s for s, _ in results} - set(SECTIONS))
    if unknown:
        raise ResultsError(f"sections {unknown} are not in the results contract",
                           fix=f"known sections: {', '.join(SECTIONS)}")
    for cls in SECTIONS.values():
        cls.read(results)


def contract_table() -> pd.DataFrame:
    """Every declared key: section, name, kind, required, writer, description (for docs and the report)."""
    rows = [{"section": s.section, "name": s.name, "kind": s.kind, "required": s.required,
             "written by": cls.STAGE, "description": s.doc}
            for cls in SECTIONS.values() for s in cls.specs()]
    return pd.DataFrame(rows)
