"""Stage 1 end to end: one out-of-time forecast panel (walk-forward) + the paper's K-fold CV beside it.

>>> from qmtl_research.volatility import Stage1Config, run_stage1, forecasts_for
>>> result = run_stage1(panel)                                   # doctest: +SKIP
>>> result.tables["design_comparison"]                           # doctest: +SKIP
>>> forecasts_for(result.forecasts, "GARCH-LSTM", requests)      # doctest: +SKIP  (stage 2)

1. Fund histories are checked (bad funds are listed in ``failures``, the others go on).
2. **Walk-forward** (:mod:`.walkforward`): the test period starts where the data allow
   (or at ``test_start``); at every refit date (yearly by default, weekly possible) GARCH
   is re-estimated per fund on the returns before the date (warm-started from the
   previous estimates) and the LSTMs are retrained on the samples whose outputs end before
   it (warm-started from the previous weights); each fit serves the origins up to the next
   refit. The result is the forecast panel ``forecasts``, one row per fund and origin up
   to the "now" week, which stage 2 and the early warnings read (:func:`.lookup.forecasts_for`).
3. **CV** (``cv=True``): the paper's K-fold design, models estimated on the other folds.
4. Evaluation of each design on the points every model forecasts and whose target is
   observed: Table 2 (MSE, RMSE, QLIKE), Table 3, Figure 9 regimes, Figure 10, DM tests,
   model confidence sets, GARCH diagnostics; the verdict design (``split``, walk-forward
   by default) fills the main tables.

Over 400 lines because it is the stage's one entry and writer (run, CV, evaluation, summary, the
record of the section); the work itself lives in walkforward, series, garch_panel and evaluation.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from qmtl_research.errors import InputError
from qmtl_research.volatility import evaluation as ev
from qmtl_research.volatility.config import Stage1Config
from qmtl_research.volatility.garch_panel import fit_garch_panel
from qmtl_research.volatility.inputs import check_histories, failures_frame
from qmtl_research.volatility import registry
from qmtl_research.volatility.samples import build_samples, r_columns, sigma_columns, y_columns
from qmtl_research.volatility.splits import WalkForwardSchedule, cv_splits, walk_forward_schedule
from qmtl_research.volatility.targets import realized_vol
from qmtl_research.volatility.series import FIT_COLUMNS, series_masked
from qmtl_research.volatility.walkforward import build_walk_forward

PREDICTION_COLUMNS = ["fund_id", "fund_type", "origin", "date", "fold", "y"]
RECORDED = ("table2", "table2_walk_forward", "table2_cv", "design_comparison", "table3", "fig9_regimes", "top20",
            "dm_tests", "mcs", "challengers", "garch_diagnostics", "garch_diagnostics_summary", "training",
            "loss_by_fund", "loss_robust")


@dataclass
class Stage1Result:
    """Everything a stage-1 run produced (see :meth:`record` for the stored names).

    Attributes
    ----------
    forecasts:
        The walk-forward forecast panel (:mod:`qmtl_research.volatility.walkforward`): one row
        per fund and origin of the test period, including the "now" origin.
    predictions:
        The verdict design's evaluated points (``fund_id, fund_type, origin, date, fold, y``
        + models): every model forecasts them and ``y`` is observed.
    walk_forward_predictions, cv_predictions:
        The evaluated points of each design (``cv_predictions`` empty when ``cv=False``).
    garch_params:
        Every GARCH estimation: ``design`` (walk_forward | cv fold k/K), ``fund_id, fit_date``,
        ``mu, omega, alpha, beta`` (for returns / ``scale``), ``scale, n_obs, loglik, n_iter,
        persistence, tail_df, tail_factor, flags, degenerate`` (``tail_df``: Student-t degrees of
        freedom of the standardised residuals; ``flags`` include ``near-constant returns``).
    series_fits:
        Every estimation of the per-fund challengers (walk-forward): ``model, fund_id, fit_date,
        n_obs, loglik, params, flags`` (:mod:`qmtl_research.volatility.series`).
    garch_walk:
        The walk-forward's :class:`~qmtl_research.volatility.garch_panel.GarchPanelResult` (conditional
        vols, forecasts, estimation in force per week; None without GARCH-based models), kept for the
        fund-level VaR of the same estimations (not recorded: ``garch_params`` and ``forecasts`` are;
        :func:`qmtl_research.pipeline.run_volatility` releases it once the VaR is computed).
    training:
        Every LSTM fit: ``design, fit_date, model, n_samples, n_train, epochs_run, warm,
        final_loss, final_val_loss, seconds``.
    tables:
        (errors ``realised - forecast``; MSE in %^2, RMSE in percentage points of annualised std,
        QLIKE unit-free; points = fund x origin with an observed target and every model's forecast)

        * ``table2`` (verdict design), ``table2_walk_forward``, ``table2_cv`` - index ``model``;
          ``MSE, RMSE, QLIKE, n_points, n_qlike``.
        * ``design_comparison`` - index ``model``; ``RMSE (<design>)``, ``QLIKE (<design>)``,
          ``MSE (<design>)``, ``n_points (<design>)``, ``rank RMSE (<design>)`` for
          ``walk_forward`` and ``cv 4-fold``.
        * ``table3`` - index ``fund_type``; ``std`` (mean realised vol, %), ``MSE, RMSE`` of
          GARCH-LSTM, ``n_funds, n_points``, ``RMSE <model>`` of the others.
        * ``fig9_regimes`` - index ``regime`` (above / below-average volatility funds, the
          high-volatility regime; an empty regime is left out, see ``notes``); one RMSE column
          per model, ``n_points``.
        * ``top20`` - ``fund_id, fund_type, date, realised, pred <model>..., err <model>...,
          |err GARCH-LSTM| - |err LSTM|``.
        * ``dm_tests`` - ``loss`` (MSE | QLIKE), ``model_a, model_b, dm_stat`` (HLN-adjusted,
          negative = model_a better), ``p_value, better, mean_loss_diff`` (loss units), ``n_weeks, lags``.
        * ``mcs`` - ``loss, model, mean_loss, mcs_pvalue, in_mcs, rank, n_weeks, block_size``.
        * ``challengers`` - every model against ``validated_model``: ``model, kind, role, RMSE, QLIKE,
          dm_mse, p_mse, dm_qlike, p_qlike, in_mcs_mse, in_mcs_qlike, fits, flagged_fits``
          (:func:`~qmtl_research.volatility.evaluation.challenger_table`).
        * ``garch_diagnostics`` - the flagged estimations: ``design, fund_id, fit_date, alpha, beta,
          persistence, flags, n_obs``; ``garch_diagnostics_summary`` - per design ``estimations,
          degenerate, persistence >= 0.999, beta = 0 with large alpha, parameter on a bound,
          near-constant returns``.
        * ``training`` - as the attribute.
    summary:
        ``best_model, rmse, qlike, walk_forward_rmse, cv_rmse`` (dicts by model), ``split,
        verdict_design, test_start, test_start_rule, refit, n_refits, now_origin, n_funds,
        n_test_points, n_forecast_rows, n_failures, n_degenerate_garch_fits, mcs`` (models in the
        set, by loss), ``high_vol_regime, paper_ordering_holds, ordering_text, models, seed,
        notes, data``.
    """

    config: Stage1Config
    schedule: WalkForwardSchedule
    forecasts: pd.DataFrame
    predictions: pd.DataFrame
    walk_forward_predictions: pd.DataFrame
    cv_predictions: pd.DataFrame
    failures: pd.DataFrame
    garch_params: pd.DataFrame
    target: pd.DataFrame
    training: pd.DataFrame
    series_fits: pd.DataFrame = field(default_factory=pd.DataFrame)
    garch_walk: object = None
    tables: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def results(self):
        """The section ``volatility`` of the results contract (:class:`qmtl_research.results.VolatilityResults`)."""
        from qmtl_research.results import VolatilityResults

        return VolatilityResults(config=self.config.model_dump(mode="json"), forecasts=self.forecasts,
                                 failures=self.failures, summary=self.summary,
                                 **{name: self.tables[name] for name in RECORDED})

    def record(self, ctx):
        """Write the section ``volatility`` for the run of ``ctx`` (the stage's one writer).

        Parameters
        ----------
        ctx : RunContext
            The run being recorded (its store and run id).

        Returns
        -------
        object
            What the section writer returns (the recorded section).
        """
        return self.results().record(ctx)


def _fund_types(panel, funds) -> pd.Series:
    if "fund_type" in panel.metadata:
        return panel.metadata["fund_type"].astype(str).reindex(funds).fillna("unknown")
    return pd.Series("unknown", index=funds)


def _evaluated(frame: pd.DataFrame, models, fold) -> pd.DataFrame:
    """Points every model forecasts and whose target is observed."""
    ok = frame["y"].notna() & frame[list(models)].notna().all(axis=1)
    out = frame.loc[ok, ["fund_id", "fund_type", "origin", "date", "y", *models]].copy()
    out.insert(4, "fold", fold if isinstance(fold, str) else fold[ok.to_numpy()])
    return out.reset_index(drop=True)


def run_cv(returns: pd.DataFrame, fund_type: pd.Series, config: Stage1Config, progress: bool = True):
    """The paper's K-fold CV (contiguous blocks, purged): ``(predictions, garch_params, training, failures)``.

    Parameters
    ----------
    returns : DataFrame
        Weekly simple returns (fractions) of the usable funds, dates x funds.
    fund_type : Series
        fund_id -> fund type.
    config : Stage1Config
        The stage-1 configuration.
    progress : bool
        Show progress bars.

    Returns
    -------
    tuple
        ``(predictions, garch_params, training, failures)``.
    """
    models = list(config.models)
    w, h = config.window, config.horizon
    target = realized_vol(returns, w)
    parts, params, training, failures = [], [], [], []
    kinds = {m: registry.get(m).kind for m in models}
    required = list(sigma_columns(w)) + (r_columns(w) if any(registry.get(m).needs_garch for m in models) else []) \
        + (["garch_1m"] if "garch" in kinds.values() else [])
    for split in cv_splits(returns.index, config.folds, w, h):
        cond = fcst = None
        if registry.garch_based(models):
            g = fit_garch_panel(returns, split.garch_mask, config.garch, horizon=h, progress=False)
            cond, fcst = g.cond_vol.iloc[:-1], g.forecast.iloc[:-1]
            failures += [dict(f, step=f"garch ({split.name})") for f in g.failures]
            params.append(g.params.assign(design=split.name))
        samples = build_samples(target, cond, fcst, w, h)
        samples = samples.loc[samples[required].notna().all(axis=1)]
        train, test = split.select(samples)
        if train.empty or test.empty:
            raise InputError(f"{split.name}: {len(train)} training and {len(test)} test samples",
                             where="stage 1, cv", fix="use a longer panel, fewer folds or cv: false")
        pred = test[["fund_id", "origin", "date", "y"]].copy()
        pred.insert(1, "fund_type", fund_type.reindex(pred["fund_id"]).to_numpy())
        for name in tqdm(models, desc=f"stage-1 models, {split.name}", disable=not progress):
            if kinds[name] == "garch":
                pred[name] = test["garch_1m"].to_numpy()
                continue
            if kinds[name] == "series":
                res = series_masked(name, config, returns, split.garch_mask)
                failures += [dict(f, step=f"{f['step']} ({split.name})") for f in res.failures]
                fc = res.forecast
                rows = fc.index.get_indexer(pd.DatetimeIndex(test["origin"]))
                cols = fc.columns.get_indexer(test["fund_id"].astype(str))
                pred[name] = fc.to_numpy(dtype=float)[rows, cols]
                continue
            t0 = time.perf_counter()
            model = registry.get(name).build(config).fit(train, train[y_columns(h)].to_numpy())
            pred[name] = model.predict(test)
            if hasattr(model, "history_"):
                training.append({"design": split.name, "fit_date": pd.NaT, "model": name,
                                 "n_samples": len(train), "n_train": model.n_train_, "epochs_run": model.epochs_run_,
                                 "warm": False, "final_loss": model.history_["loss"][-1],
                                 "final_val_loss": model.history_.get("val_loss", [np.nan])[-1],
                                 "seconds": round(time.perf_counter() - t0, 3)})
        parts.append(_evaluated(pred, models, split.name))
    return pd.concat(parts, ignore_index=True), params, training, failures


def _usable(panel, config: Stage1Config):
    w, h = config.window, config.horizon
    usable, failure_rows = check_histories(panel.returns, min_obs=2 * w + h)
    if not usable:
        raise InputError("no fund has a usable return history", where=f"panel {panel.source}",
                         fix="see the failures: " + "; ".join(f"{f['fund_id']}: {f['message']}"
                                                             for f in failure_rows[:5]))
    returns = panel.returns[usable]
    schedule = walk_forward_schedule(returns, config.test_start, config.refit, w, h, config.garch.min_train_obs,
                                     config.test_start_share)
    return returns, _fund_types(panel, usable), failure_rows, schedule


def forecast_panel(panel, config: Stage1Config | None = None, progress: bool = True):
    """Only the walk-forward forecast panel (no CV, no evaluation): ``(forecasts, failures, schedule)``.

    The same rows and numbers as ``run_stage1(panel, config).forecasts``; used by the
    ``qmtl-research volatility forecast`` command.

    Parameters
    ----------
    panel : FundPanel
        The fund universe.
    config : Stage1Config, optional
        Default: ``Stage1Config()``.
    progress : bool
        Show progress bars.

    Returns
    -------
    tuple
        ``(forecasts, failures, schedule)``.
    """
    config = config or Stage1Config()
    returns, fund_type, failure_rows, schedule = _usable(panel, config)
    forecasts, garch, _, series = build_walk_forward(returns, fund_type, config, schedule, progress=progress)
    if garch is not None:
        failure_rows += garch.failures
    for res in series.values():
        failure_rows += res.failures
    return forecasts, failures_frame(failure_rows), schedule


def run_stage1(panel, config: Stage1Config | None = None, progress: bool = True) -> Stage1Result:
    """Run stage 1 on a :class:`~qmtl_research.data.panel.FundPanel` (see the module docstring).

    Bad funds (all-NaN, gaps, constant, too short, GARCH failure or non-convergence) are
    listed in ``failures`` with a message; the others are processed. Raises
    :class:`~qmtl_research.errors.InputError` when no fund is usable or a design has no
    training/test sample, :class:`~qmtl_research.errors.ConfigError` for a bad ``test_start``.

    Parameters
    ----------
    panel : FundPanel
        The fund universe.
    config : Stage1Config, optional
        Default: ``Stage1Config()``.
    progress : bool
        Show progress bars.

    Returns
    -------
    Stage1Result
    """
    config = config or Stage1Config()
    models = list(config.models)
    returns, fund_type, failure_rows, schedule = _usable(panel, config)
    forecasts, garch, training, series = build_walk_forward(returns, fund_type, config, schedule,
                                                            progress=progress)
    params = []
    if garch is not None:
        failure_rows += garch.failures
        params.append(garch.params.assign(design="walk_forward"))
    for res in series.values():
        failure_rows += res.failures
    series_fits = pd.concat([res.fits for res in series.values()], ignore_index=True) if series \
        else pd.DataFrame(columns=FIT_COLUMNS)
    wf_pred = _evaluated(forecasts, models, "walk_forward")
    if wf_pred.empty:
        raise InputError(f"the walk-forward test period from {schedule.test_start.date()} has no point that every "
                         f"model forecasts with an observed target", where="stage 1, walk_forward",
                         fix="use a longer panel, an earlier test_start, or fewer GARCH-based models")
    cv_pred = pd.DataFrame(columns=[*PREDICTION_COLUMNS, *models])
    train_log = [training] if len(training) else []
    if config.cv:
        cv_pred, cv_params, cv_training, cv_failures = run_cv(returns, fund_type, config, progress)
        params += cv_params
        failure_rows += cv_failures
        if cv_training:
            train_log.append(pd.DataFrame(cv_training))
    garch_params = pd.concat(params, ignore_index=True) if params else pd.DataFrame()
    if len(garch_params):
        garch_params = garch_params[["design", *[c for c in garch_params.columns if c != "design"]]]
    predictions = wf_pred if config.split == "walk_forward" else cv_pred
    result = Stage1Result(config=config, schedule=schedule, forecasts=forecasts, predictions=predictions,
                          walk_forward_predictions=wf_pred, cv_predictions=cv_pred,
                          failures=failures_frame(failure_rows), garch_params=garch_params,
                          target=realized_vol(returns, config.window),
                          training=pd.concat(train_log, ignore_index=True) if train_log else pd.DataFrame(),
                          series_fits=series_fits, garch_walk=garch)
    result.tables, result.notes = evaluate(result)
    result.summary = summarise(result, panel)
    return result


def evaluate(result: Stage1Result) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The stage-1 tables (names in :data:`RECORDED`) and notes (e.g. an empty regime left out).

    Parameters
    ----------
    result : Stage1Result
        A finished stage-1 run.

    Returns
    -------
    tables : dict of str to DataFrame
    notes : list of str
    """
    cfg = result.config
    models = list(cfg.models)
    pred = result.predictions
    fig9, notes = ev.regimes(pred, models, cfg.high_vol)
    w = cfg.window
    designs = {"walk_forward": ev.error_table(result.walk_forward_predictions, models, w)}
    if len(result.cv_predictions):
        designs[f"cv {cfg.folds}-fold"] = ev.error_table(result.cv_predictions, models, w)
    tables = {
        "table2": ev.error_table(pred, models, w),
        "table2_walk_forward": designs["walk_forward"],
        "table2_cv": designs.get(f"cv {cfg.folds}-fold", pd.DataFrame(columns=designs["walk_forward"].columns)),
        "design_comparison": ev.design_comparison(designs),
        "table3": ev.by_fund_type(pred, models),
        "fig9_regimes": fig9,
        "top20": ev.top_volatility(pred, models),
        "dm_tests": ev.dm_tests(pred, models, h=cfg.horizon, window=w),
        "mcs": ev.model_confidence_set(pred, models, size=cfg.mcs_size, reps=cfg.mcs_reps, seed=cfg.seed, window=w),
        "challengers": None,
        "garch_diagnostics": ev.garch_diagnostics(result.garch_params),
        "garch_diagnostics_summary": ev.diagnostics_summary(result.garch_params),
        "training": result.training,
        "loss_by_fund": ev.loss_by_fund(pred, models, w),
        "loss_robust": ev.loss_robust(pred, models, w),
    }
    tables["challengers"] = ev.challenger_table(tables["table2"], tables["dm_tests"], tables["mcs"],
                                                cfg.validated_model, {m: registry.get(m).kind for m in models},
                                                result.series_fits)
    if cfg.validated_model not in models:
        notes.append(f"The model under validation ({cfg.validated_model}) was not run: the challenger table has "
                     "no Diebold-Mariano tests against it.")
    if cfg.lstm_retrain != "refit":
        notes.append(f"The LSTMs were retrained {cfg.lstm_retrain} (lstm_retrain), not at every {cfg.refit} refit: "
                     "between two retrainings the latest weights forecast every origin from the row's own inputs "
                     "(see the training table).")
    if cfg.challenger_refit != "refit":
        notes.append(f"The per-fund challengers ({', '.join(m for m in models if registry.get(m).kind == 'series')}) "
                     f"were re-estimated {cfg.challenger_refit} (challenger_refit), not at every {cfg.refit} refit: "
                     "each estimation forecasts every origin up to the next one from the returns before the origin.")
    if not cfg.cv:
        notes.append("The paper's K-fold CV was not run (cv: false); the design comparison shows the "
                     "walk-forward only.")
    return tables, notes


def summarise(result: Stage1Result, panel) -> dict:
    """The stage's summary for the run record and the report: split, ordering verdict, RMSE per model,
    MCS membership and the latest forecasts.

    Parameters
    ----------
    result : Stage1Result
        A finished stage-1 run.
    panel : FundPanel
        The fund universe the run used.

    Returns
    -------
    dict
    """
    t2 = result.tables["table2"]
    rmse = {m: float(v) for m, v in t2["RMSE"].items()}
    holds, text = ev.ordering_text(rmse)
    cfg = result.config
    sched = result.schedule
    split = sched.name() if cfg.split == "walk_forward" else f"cv ({cfg.folds}-fold, contiguous time blocks)"
    mcs = result.tables["mcs"]
    now = result.forecasts.loc[result.forecasts["origin"] == result.forecasts["origin"].max()]
    comp = result.tables["challengers"]
    best_ch = comp.loc[comp["role"] == "best challenger", "model"]
    summary = {
        "best_model": min(rmse, key=rmse.get),
        "validated_model": cfg.validated_model,
        "best_challenger": str(best_ch.iloc[0]) if len(best_ch) else None,
        "rmse": rmse,
        "qlike": {m: float(v) for m, v in t2["QLIKE"].items()},
        "walk_forward_rmse": {m: float(v) for m, v in result.tables["table2_walk_forward"]["RMSE"].items()},
        "cv_rmse": {m: float(v) for m, v in result.tables["table2_cv"]["RMSE"].items()},
        "split": split,
        "verdict_design": cfg.split,
        "test_start": str(sched.test_start.date()),
        "test_start_rule": sched.test_start_rule,
        "refit": cfg.refit,
        "n_refits": int(len(sched.refit_dates)),
        "now_origin": str(pd.Timestamp(now["origin"].iloc[0]).date()) if len(now) else None,
        "n_funds": int(result.predictions["fund_id"].nunique()),
        "n_test_points": int(len(result.predictions)),
        "n_forecast_rows": int(len(result.forecasts)),
        "n_failures": int(len(result.failures)),
        "n_degenerate_garch_fits": int(len(result.tables["garch_diagnostics"])),
        "mcs": {loss: grp.loc[grp["in_mcs"], "model"].tolist() for loss, grp in mcs.groupby("loss", sort=False)},
        "loss_dominated": [n for n in result.tables["loss_robust"]["note"] if n],
        "high_vol_regime": cfg.high_vol.name(),
        "paper_ordering_holds": holds,
        "ordering_text": text,
        "models": list(cfg.models),
        "seed": cfg.seed,
        "notes": list(result.notes),
        "data": panel.label() if hasattr(panel, "label") else str(getattr(panel, "source", "")),
    }
    return summary
