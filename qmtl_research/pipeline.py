"""A strategy's stages, run in the package: parameters -> stage -> typed results -> verdict.

A strategy lists its stages in ``notebooks:`` (params/strategies/<name>.yaml); each stage has
a notebook of the same name that *shows* it. The stages themselves are computed here, so a
run can be judged from Python without papermill, and the notebooks are views. The stages, what
each computes and the section it writes are registered once, in :data:`qmtl_research.stages.STAGES`.

Every stage's parameters are validated by a pydantic model (:data:`STAGES` ``[name].params``)
whose fields are exactly the parameters of the stage's notebook (a test checks that with
``papermill.inspect_notebook``); ``None`` means "the stage's default". The runner
(:func:`qmtl_research.reporting.runner.run_report`) validates them before anything runs.

>>> from qmtl_research.pipeline import run_strategy
>>> outcome = run_strategy("demo")           # exploration: nothing stored  # doctest: +SKIP
>>> outcome.assessment.status                # doctest: +SKIP

Over 400 lines because it declares every stage's parameters next to the function that runs the stage
(one home per stage: parameters, run, results).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from qmtl_research.config import StrategyConfig
from qmtl_research.errors import ConfigError
from qmtl_research.results import SectionResults
from qmtl_research.stages import STAGES, input_kind

#: parameters every notebook has (identity of the run), not stage settings
BASE_PARAMETERS = ("strategy", "world", "run_id", "store_url", "run_dir")


class _Params(BaseModel):
    """Stage parameters. A list or mapping may also be given as a JSON string, as papermill's
    ``-p kernels '["RBF", "Linear"]'`` passes it (``-y 'kernels: [RBF, Linear]'`` passes YAML)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _json_strings(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for k, v in data.items():
            if isinstance(v, str) and v.strip()[:1] in ("[", "{"):
                try:
                    out[k] = json.loads(v)
                except json.JSONDecodeError:
                    pass                      # left as given: the field's type check names it
        return out


class VolatilityParams(_Params):
    """Stage-1 notebook parameters (``None``: the default of :class:`~qmtl_research.volatility.Stage1Config`)."""

    models: list[str] | None = None         # names of qmtl_research.volatility.registry (checked by Stage1Config)
    split: Literal["walk_forward", "kfold"] | None = None
    test_start: str | None = None
    refit: Literal["yearly", "weekly"] | None = None
    lstm_retrain: Literal["refit", "yearly"] | None = None
    challenger_refit: Literal["refit", "yearly"] | None = None
    cv: bool | None = None
    folds: int | None = None
    high_vol: dict | None = None
    epochs: int | None = None
    units: int | None = None
    seed: int | None = None
    n_jobs: int | None = None
    backend: Literal["loky", "threading", "dask"] | None = None     # the refits' joblib backend


class RatingParams(_Params):
    """Stage-2 notebook parameters (``None``: ``params/rating/settings.yaml``)."""

    horizon: int | None = None
    horizons: list[int] | None = None
    kernels: list[str] | None = None
    param_grid: dict[str, list[float | str]] | None = None
    inner_folds: int | None = None
    outer_folds: int | None = None
    split: Literal["walk_forward", "kfold"] | None = None
    stage1_model: str | None = None
    label: Literal["computed", "disclosed"] | None = None
    screen_threshold: float | None = None
    grading: str | None = None
    schemes: list[str] | None = None
    seed: int | None = None
    n_jobs: int | None = None                                           # the SVC grid search's workers
    backend: Literal["loky", "threading", "dask"] | None = None     # ... and joblib backend


class RiskParams(_Params):
    """Risk-study notebook parameters (``None``: the default of :class:`~qmtl_research.risk.study.RiskSettings`)."""

    confidences: list[float] | None = None
    var_lookback: int | None = None
    mc_simulations: int | None = None
    mc_method: str | None = None
    mc_mode: str | None = None
    mc_holding: int | None = None
    mc_lookback: int | None = None
    backtest_confidence: float | None = None
    backtest_window: int | None = None
    backtest_method: str | None = None
    performance_period: str | None = None
    risk_free: float | None = None


class ValidationParams(_Params):
    """Validation notebook parameters (display only)."""

    max_verdict_rows: int | None = None


@dataclass
class StageInputs:
    """What the stages of one run share: the configuration, the data, earlier stages' products."""

    strategy: StrategyConfig | None = None      # None: a panel from files (command line), seed 42
    panel: Any = None                      # FundPanel (fund strategies)
    portfolio: Any = None                  # PortfolioData (portfolio strategies)
    products: dict[str, Any] = field(default_factory=dict)   # stage name -> its study object
    results: dict[tuple[str, str], Any] = field(default_factory=dict)  # everything recorded so far


# ------------------------------------------------------------------ stage runners
def _seed(params, cfg: StrategyConfig | None) -> int:
    if getattr(params, "seed", None) is not None:
        return params.seed
    return cfg.seed if cfg is not None else 42


def stage1_config(params: VolatilityParams, seed: int):
    """The :class:`~qmtl_research.volatility.Stage1Config` of a stage's parameters (validated)."""
    from qmtl_research.volatility import Stage1Config

    base = Stage1Config().model_dump()
    p = params.model_dump()
    top = {k: p[k] for k in ("split", "test_start", "refit", "lstm_retrain", "challenger_refit", "cv", "folds", "high_vol") if p[k] is not None}
    if p["models"]:
        top["models"] = tuple(p["models"])
    lstm = {**base["lstm"], **{k: p[k] for k in ("epochs", "units") if p[k] is not None}}
    garch = {**base["garch"], **{k: p[k] for k in ("n_jobs", "backend") if p[k]}}
    try:
        return Stage1Config(**{**base, **top, "lstm": lstm, "garch": garch, "seed": seed})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"stage-1 setting {'.'.join(map(str, err['loc']))}: {err['msg']}",
                          where="volatility parameters", fix="see qmtl_research.volatility.Stage1Config") from None


def run_volatility(params: VolatilityParams, inputs: StageInputs, progress: bool = False):
    from qmtl_research.volatility import run_stage1

    config = stage1_config(params, _seed(params, inputs.strategy))
    study = run_stage1(inputs.panel, config, progress=progress)
    results = with_fund_risk(volatility_results(study), inputs.panel, study, progress)
    study.garch_walk = None         # read by the fund-level VaR only: not kept for stage 2 (memory at scale)
    return study, results


def with_fund_risk(results, panel, study, progress: bool = False):
    """The ``volatility`` section with the fund-level VaR/ES of the stage-1 models and their
    backtests (:func:`qmtl_research.risk.fund_var.fund_risk`) added."""
    import dataclasses

    from qmtl_research.risk.fund_var import fund_risk

    fr = fund_risk(panel.returns, study, progress=progress)
    return dataclasses.replace(results, var_forecasts=fr.forecasts, var_backtests=fr.backtests,
                               var_not_tested=fr.not_tested, var_summary=fr.summary)


def volatility_results(study):
    """The section ``volatility`` of a :class:`~qmtl_research.volatility.pipeline.Stage1Result`."""
    return study.results()


def rating_settings(params: RatingParams):
    from qmtl_research.rating import load_rating_settings

    names = {"horizon": "horizon_weeks"}
    return load_rating_settings(**{names.get(k, k): v for k, v in params.model_dump().items()
                                  if k not in ("seed", "n_jobs", "backend")})


def stage1_for(inputs: StageInputs, progress: bool = False):
    """Stage 1 of the run: the volatility stage's product, or (a strategy or notebook without the
    volatility stage) stage 1 computed now with the strategy's volatility parameters."""
    if "volatility" not in inputs.products:
        cfg = inputs.strategy
        idx = None if cfg is None else next((i for i, s in enumerate(cfg.notebooks) if s.notebook == "volatility"), None)
        params = stage_params(cfg, idx) if idx is not None else VolatilityParams()
        inputs.products["volatility"], _ = run_volatility(params, inputs, progress)
    return inputs.products["volatility"]


def resolve_stage1_model(stage1_model: str | None, validated_model: str) -> str:
    """The stage-1 model whose forecasts feed stage 2: the stage-1 config's ``validated_model``
    (its one declaration).

    Parameters
    ----------
    stage1_model : str or None
        The rating settings' ``stage1_model`` (``params/rating/settings.yaml`` or the notebook
        parameter); None reads ``validated_model``.
    validated_model : str
        ``Stage1Config.validated_model`` of the stage-1 run stage 2 reads.

    Returns
    -------
    str

    Raises
    ------
    ConfigError
        ``stage1_model`` names another model than the one stage 1 validated.
    """
    if stage1_model is None or stage1_model == validated_model:
        return validated_model
    raise ConfigError(f"stage-2 setting stage1_model '{stage1_model}' is not the model stage 1 validated "
                      f"('{validated_model}', Stage1Config.validated_model)",
                      where="params/rating/settings.yaml field 'stage1_model' (or the rating notebook's "
                            "stage1_model parameter)",
                      fix="remove stage1_model (stage 2 then reads the validated model's forecasts) or validate "
                          "that model in stage 1")


def run_rating(params: RatingParams, inputs: StageInputs, progress: bool = False):
    """Stage 2 on the run's stage-1 forecast panel: the study at every horizon, early warnings
    validated per horizon, label counts and the disclosed-grade comparison."""
    from qmtl_research.rating import PanelForecaster, labels_summary, run_rating_study, study_results
    from qmtl_research.rating.study import label_comparison
    from qmtl_research.rating.early_warning import warnings_by_horizon

    settings = rating_settings(params)
    seed = _seed(params, inputs.strategy)
    panel = inputs.panel
    stage1 = stage1_for(inputs, progress)
    settings = settings.model_copy(update={"stage1_model": resolve_stage1_model(settings.stage1_model,
                                                                                stage1.config.validated_model)})
    forecaster = PanelForecaster(stage1.forecasts, settings.stage1_model)
    study = run_rating_study(panel, settings, seed=seed, forecaster=forecaster, progress=progress,
                             n_jobs=params.n_jobs or 1, backend=params.backend)
    warnings_table, warning_exclusions = warnings_by_horizon(panel, study, forecaster, seed=seed)
    study.forecaster = forecaster
    grades, disclosed = labels_summary(panel, settings)
    study.early_warning = warnings_table
    study.warning_exclusions = warning_exclusions
    labels = label_comparison(panel, settings, forecaster, seed, study) if settings.label == "computed" else None
    results = study_results(study, warnings_table, grades, labels, warning_exclusions, **disclosed, synthetic=bool(panel.synthetic),
                            n_warning_exclusions=int(len(warning_exclusions)))
    from qmtl_research.rating.by_scheme import grades_side_by_side, scheme_grades, schemes_table

    schemes = settings.load_schemes()
    long, scheme_excl = scheme_grades(panel, schemes)
    results.schemes = schemes_table(schemes, settings.grading)
    results.scheme_grades = grades_side_by_side(panel, long, schemes, settings.grading)
    results.scheme_exclusions = scheme_excl
    results.summary["grading"] = settings.grading
    predictive_grades(results, study, panel, stage1.garch_params, seed, forecaster)
    return study, results


def predictive_grades(results, study, panel, garch_params, seed: int, forecaster=None) -> None:
    """The GARCH predictive grade distribution beside the SVC and their calibration (``grade_*`` keys of
    ``results``, ``summary["grade_calibration"]``), when the scheme in force is weekly and the verdict
    horizon has a walk-forward evaluation; otherwise the summary says why it is absent. With the
    ``forecaster``, also ``grade_outlook``: P(grade = k) at every early-warning fund's next settlement
    (:func:`~qmtl_research.rating.predictive.predictive_outlook`)."""
    from qmtl_research.rating.calibration import PREDICTIVE_PATHS, predictive_calibration

    res = study.default
    why = None
    if study.grade_table.measure.kind != "weekly_std":
        why = (f"scheme {study.grade_table.scheme_id} grades by {study.grade_table.measure.kind}: the weekly stage-1 "
               f"GARCH cannot simulate its window")
    elif res.evaluation is None or res.evaluation.split != "walk_forward":
        why = "the verdict horizon has no walk-forward evaluation"
    elif garch_params is None or garch_params.empty:
        why = "stage 1 recorded no GARCH estimation"
    if why is not None:
        results.summary["grade_calibration"] = {"computed": False, "reason": why}
        return
    out = predictive_calibration(study, panel, garch_params, n_paths=PREDICTIVE_PATHS, seed=seed)
    table = out["table"].reset_index()
    table["better"] = table["approach"] == out["better"]
    results.grade_calibration = table
    results.grade_reliability = out["reliability"]
    frame = res.dataset.frame
    pred = out["predictive"].copy()
    pred["settlement_date"] = frame["settlement_date"].to_numpy()[pred["row"].to_numpy()]
    pred["true_grade"] = frame["grade"].to_numpy()[pred["row"].to_numpy()]
    results.grade_predictive = pred.drop(columns=["row"])
    results.summary["grade_calibration"] = {
        "computed": True, "better": out["better"], "svc_kernel": out["kernel"], "horizon_weeks": out["horizon_weeks"],
        "n_paths": out["n_paths"], "seed": out["seed"], "innovations": out["law"],
        "n_skipped": int(len(out["skipped"])),
        "skipped_reasons": out["skipped"]["reason"].value_counts().to_dict() if len(out["skipped"]) else {}}
    if forecaster is not None:
        from qmtl_research.rating.early_warning import scoring_frame
        from qmtl_research.rating.predictive import predictive_outlook

        st = study.settings
        scoring, _ = scoring_frame(panel, study.grade_table, forecaster, None, st.window_weeks, st.risk_free_weekly)
        outlook, skipped = predictive_outlook(panel, scoring, garch_params, study.grade_table, PREDICTIVE_PATHS, seed)
        results.grade_outlook = outlook
        results.summary["grade_calibration"].update(
            outlook_funds=int(len(outlook)), outlook_skipped=int(len(skipped)),
            outlook_changes=int((outlook["predictive_grade"] != outlook["current_grade"]).sum()) if len(outlook) else 0)


def risk_settings(params: RiskParams):
    from qmtl_research.risk.study import RiskSettings

    try:
        return RiskSettings.with_overrides(**params.model_dump())
    except ValidationError as exc:
        raise ConfigError(f"invalid risk parameters: {exc.errors()[0]['msg']}", where="var parameters",
                          fix="see qmtl_research.risk.study.RiskSettings") from None


def run_var(params: RiskParams, inputs: StageInputs, progress: bool = False):
    from qmtl_research.risk.study import run_risk_study

    study = run_risk_study(inputs.portfolio, risk_settings(params), seed=inputs.strategy.seed)
    return study, study.results()


# ------------------------------------------------------------------ validation of parameters
def stage_params(strategy: StrategyConfig, step_index: int, source: str | None = None):
    """The validated parameters of step ``step_index`` of ``strategy`` (ConfigError naming the
    strategy file and key for an unknown stage, an unknown parameter or a wrong type)."""
    step = strategy.notebooks[step_index]
    where = f"{source or f'params/strategies/{strategy.strategy_id}.yaml'}: notebooks[{step_index}]"
    if step.notebook not in STAGES:
        raise ConfigError(f"unknown stage/notebook '{step.notebook}'", where=f"{where}.notebook",
                          fix=f"use one of: {', '.join(STAGES)}")
    model = STAGES[step.notebook].params
    base = [k for k in step.parameters if k in BASE_PARAMETERS]
    if base:
        raise ConfigError(f"parameter(s) {base} are set by the runner, not by the strategy",
                          where=f"{where}.parameters", fix="remove them")
    try:
        return model(**step.parameters)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(map(str, err["loc"]))
        known = ", ".join(model.model_fields)
        fix = (f"the {step.notebook} stage knows: {known}" if err["type"] == "extra_forbidden"
               else f"give {key} a value of the right type ({err['msg']})")
        raise ConfigError(f"parameter '{key}' of stage '{step.notebook}': {err['msg']}",
                          where=f"{where}.parameters.{key}", fix=fix) from None


def validate_strategy_stages(strategy: StrategyConfig, source: str | None = None) -> list[_Params]:
    """Validate every step's parameters and the order of the stages, before anything runs."""
    params = [stage_params(strategy, i, source) for i in range(len(strategy.notebooks))]
    names = [s.notebook for s in strategy.notebooks]
    where = source or f"params/strategies/{strategy.strategy_id}.yaml"
    if "validation" in names and names.index("validation") != len(names) - 1:
        raise ConfigError("the validation stage must be the last one", where=f"{where}: notebooks",
                          fix="move `- notebook: validation` to the end of the list")
    if "rating" in names and "volatility" in names and names.index("rating") < names.index("volatility"):
        raise ConfigError("stage 2 (rating) reads stage 1's forecasts: volatility must come before it",
                          where=f"{where}: notebooks", fix="list volatility before rating")
    return params


# ------------------------------------------------------------------ running
@dataclass
class StrategyOutcome:
    """What :func:`run_strategy` produced."""

    strategy: StrategyConfig
    results: dict[tuple[str, str], Any]
    products: dict[str, Any]
    assessment: Any = None
    timings: dict[str, float] = field(default_factory=dict)
    fingerprint: str | None = None
    reused: list[str] = field(default_factory=list)     # stages read back from the stage cache


def load_inputs(strategy: StrategyConfig) -> StageInputs:
    """Load the strategy's data once: a fund panel, a portfolio, or nothing (QMTL imports)."""
    inputs = StageInputs(strategy)
    kind = input_kind(strategy)
    if kind == "panel":
        from qmtl_research.data.universe import load_universe

        inputs.panel = load_universe(strategy.universe)
    elif kind == "portfolio":
        from qmtl_research.data.portfolio import load_portfolio

        inputs.portfolio = load_portfolio(strategy)
    return inputs


def data_results(inputs: StageInputs) -> SectionResults | None:
    from qmtl_research.data.describe import describe_panel, describe_portfolio

    if inputs.panel is not None:
        return describe_panel(inputs.panel)
    if inputs.portfolio is not None:
        return describe_portfolio(inputs.portfolio)
    return None


def run_strategy(strategy: str | StrategyConfig, world: str | None = None, *, ctx=None, inputs=None,
                 progress: bool = False, echo: Callable[[str], None] | None = None,
                 cache=None) -> StrategyOutcome:
    """Run every stage of a strategy in this process and judge it.

    With ``ctx`` recording (the runner's :class:`~qmtl_research.store.context.RunContext`), each
    stage writes its section and the validation stage evaluates (freezes) the run; without it,
    nothing is stored and the verdict is computed from the same in-memory results.

    ``cache`` (the runner's :class:`~qmtl_research.reporting.stage_cache.StageCache`): a stage it
    holds is read back (its section is recorded as computed then) instead of computed, and every
    stage computed here is handed to it; the validation stage is always judged here."""
    from qmtl_research.config import load_strategy
    from qmtl_research.store.context import RunContext
    from qmtl_research.governance.recording import assessment_results, record_assessment
    from qmtl_research.validation.assessment import assess

    cfg = load_strategy(strategy) if isinstance(strategy, str) else strategy
    params = validate_strategy_stages(cfg)
    inputs = inputs or load_inputs(cfg)
    ctx = ctx or RunContext(cfg.strategy_id, world, config=cfg, panel=inputs.panel)
    timings: dict[str, float] = {}
    outcome = StrategyOutcome(cfg, inputs.results, inputs.products, timings=timings)

    def keep(section_results: SectionResults) -> None:
        section_results.record(ctx)
        inputs.results.update({(section_results.SECTION, k): v for k, v in section_results.items()})

    if (data := data_results(inputs)) is not None:
        keep(data)
        outcome.fingerprint = data.description["fingerprint"]
    for step, p in zip(cfg.notebooks, params):
        stage = STAGES[step.notebook]
        t = time.perf_counter()
        if echo:
            echo(f"  stage {stage.name}: {stage.description}")
        if stage.run is None:
            a = assess(ctx, inputs.results)
            if ctx.recording:
                res = record_assessment(ctx, a)
            else:
                res = assessment_results(ctx, a).validate()
            inputs.results.update({(res.SECTION, k): v for k, v in res.items()})
            outcome.assessment = a
        elif cache is not None and (entry := cache.get(stage.name)) is not None:
            product, res = entry.product, entry.results
            inputs.products[stage.name] = product
            keep(res)
            outcome.reused.append(stage.name)
        else:
            product, res = stage.run(p, inputs, progress)
            inputs.products[stage.name] = product
            if cache is not None:
                cache.put(stage.name, product, res, time.perf_counter() - t)
            keep(res)
        timings[stage.name] = time.perf_counter() - t
        if echo:
            how = (f" (reused: computed by run {entry.meta.get('run_id')}, read back)"
                   if stage.name in outcome.reused else "")
            echo(f"    {stage.name}: {timings[stage.name]:.1f} s{how}")
    return outcome


def stage_study(ctx, stage: str, **overrides):
    """For a notebook: the product and results of ``stage`` computed now (exploration mode),
    with the strategy's parameters for that stage updated by ``overrides`` (not None)."""
    cfg = ctx.strategy
    idx = next((i for i, s in enumerate(cfg.notebooks) if s.notebook == stage), None)
    base = stage_params(cfg, idx).model_dump() if idx is not None else {}
    params = STAGES[stage].params(**{**base, **{k: v for k, v in overrides.items() if v is not None}})
    inputs = StageInputs(cfg, panel=ctx.panel() if STAGES[stage].needs == "panel" else None)
    if STAGES[stage].needs == "portfolio":
        from qmtl_research.data.portfolio import load_portfolio

        inputs.portfolio = load_portfolio(cfg)
    return STAGES[stage].run(params, inputs, False)


def view(ctx, stage: str, **params) -> SectionResults:
    """What a stage's notebook shows: for a recorded run, the section the run recorded (read
    through the contract); in exploration mode, the section computed now with the notebook's
    parameters (``params``; None = the strategy's own). Nothing is written either way."""
    from qmtl_research.results import SECTIONS

    cls = SECTIONS[STAGES[stage].results_section]
    if ctx.recording:
        return cls.read(ctx.results(), required=True)
    if stage == "validation":
        from qmtl_research.governance.recording import assessment_results
        from qmtl_research.validation.assessment import assess

        return assessment_results(ctx, assess(ctx)).validate()
    return stage_study(ctx, stage, **params)[1]
