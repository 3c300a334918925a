"""Stage 1 end to end: targets -> GARCH per fund -> samples -> models -> evaluation.

>>> from qmtl_research.volatility import Stage1Config, run_stage1
>>> result = run_stage1(panel, Stage1Config(split="walk_forward"))   # doctest: +SKIP
>>> result.tables["table2"]                                          # doctest: +SKIP

Per split (one for walk-forward, K for CV) GARCH is estimated per fund on the
split's training returns, the sample table is built, and every model is fitted
on the training samples and predicts the test samples. All models are compared
on the same test points: rows any selected model cannot use (e.g. a fund whose
GARCH fit failed) are left out for every model, and the reason is listed in
``failures``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm import tqdm

from qmtl_research.errors import InputError
from qmtl_research.volatility import evaluation as ev
from qmtl_research.volatility.config import Stage1Config
from qmtl_research.volatility.garch import fit_garch_panel
from qmtl_research.volatility.inputs import check_histories, failures_frame
from qmtl_research.volatility.models import make_model
from qmtl_research.volatility.samples import build_samples, r_columns, sigma_columns, y_columns
from qmtl_research.volatility.splits import Split, cv_splits, walk_forward_split
from qmtl_research.volatility.targets import realized_vol

GARCH_BASED = {"GARCH", "GARCH-LSTM"}


@dataclass
class Stage1Result:
    """Out-of-sample predictions, failures and the report tables of one stage-1 run."""

    config: Stage1Config
    predictions: pd.DataFrame
    failures: pd.DataFrame
    garch_params: pd.DataFrame
    target: pd.DataFrame
    tables: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)

    def record(self, ctx) -> None:
        """Store the contract's section "volatility" results for the run (``ctx.record``)."""
        for name in ("table2", "table3", "fig9_regimes", "top20", "dm_tests"):
            ctx.record("volatility", name, self.tables[name])
        ctx.record("volatility", "failures", self.failures)
        ctx.record("volatility", "summary", self.summary)


def _required_columns(models, window: int) -> list[str]:
    cols = list(sigma_columns(window))
    if "GARCH-LSTM" in models:
        cols += r_columns(window)
    if "GARCH" in models:
        cols.append("garch_1m")
    return cols


def make_splits(dates: pd.DatetimeIndex, config: Stage1Config) -> list[Split]:
    if config.split == "walk_forward":
        return [walk_forward_split(dates, config.test_start, config.window, config.horizon,
                                   config.garch.refit_every)]
    return cv_splits(dates, config.folds, config.window, config.horizon)


def run_stage1(panel, config: Stage1Config | None = None, progress: bool = True) -> Stage1Result:
    """Run stage 1 on a :class:`~qmtl_research.data.panel.FundPanel`.

    Bad funds (all-NaN, gaps, constant, too short, GARCH failure or
    non-convergence) are listed in ``failures`` with a message; the others are
    processed. Raises :class:`~qmtl_research.errors.InputError` only when no
    fund or no training/test sample is left.
    """
    config = config or Stage1Config()
    models = list(config.models)
    w, h = config.window, config.horizon
    returns = panel.returns
    usable, failure_rows = check_histories(returns, min_obs=2 * w + h)
    if not usable:
        raise InputError("no fund has a usable return history", where=f"panel {panel.source}",
                         fix="see the failures: " + "; ".join(f"{f['fund_id']}: {f['message']}"
                                                             for f in failure_rows[:5]))
    returns = returns[usable]
    target = realized_vol(returns, w)
    fund_type = panel.metadata["fund_type"].astype(str).reindex(usable).fillna("unknown") \
        if "fund_type" in panel.metadata else pd.Series("unknown", index=usable)
    required = _required_columns(models, w)
    needs_garch = bool(GARCH_BASED & set(models))

    parts, params, training = [], [], {}
    splits = make_splits(returns.index, config)
    for split in splits:
        cond_vol = forecast = None
        if needs_garch:
            garch = fit_garch_panel(returns, split.garch_mask, config.garch, split.refit_dates,
                                    horizon=h, progress=progress)
            cond_vol, forecast = garch.cond_vol, garch.forecast
            suffix = f" ({split.name})" if len(splits) > 1 else ""
            failure_rows += [dict(f, step=f["step"] + suffix) for f in garch.failures]
            params.append(garch.params.assign(split=split.name))
        samples = build_samples(target, cond_vol, forecast, w, h)
        samples = samples.loc[samples[required].notna().all(axis=1)]
        train, test = split.select(samples)
        if train.empty or test.empty:
            raise InputError(f"{split.name}: {len(train)} training and {len(test)} test samples",
                             where="stage-1 split", fix="use a longer panel, another test_start or fewer folds")
        pred = test[["fund_id", "origin", "date", "y"]].copy()
        pred.insert(1, "fund_type", fund_type.reindex(pred["fund_id"]).to_numpy())
        pred.insert(4, "fold", split.name)
        for name in tqdm(models, desc=f"stage-1 models, {split.name}", disable=not progress):
            model = make_model(name, config)
            model.fit(train, train[y_columns(h)].to_numpy())
            pred[name] = model.predict(test)
            if hasattr(model, "history_"):
                training[(split.name, name)] = {"epochs_run": model.epochs_run_,
                                                "final_loss": model.history_["loss"][-1],
                                                "final_val_loss": model.history_.get("val_loss", [np.nan])[-1],
                                                "n_train": len(train)}
        parts.append(pred)

    predictions = pd.concat(parts, ignore_index=True)
    failures = failures_frame(failure_rows)
    result = Stage1Result(config=config, predictions=predictions, failures=failures,
                          garch_params=pd.concat(params) if params else pd.DataFrame(),
                          target=target, training=training)
    result.tables = evaluate(predictions, models, horizon=h)
    result.summary = summarise(result, panel, splits)
    return result


def evaluate(predictions: pd.DataFrame, models, horizon: int = 4) -> dict[str, pd.DataFrame]:
    """The contract's tables from out-of-sample predictions."""
    return {
        "table2": ev.error_table(predictions, models),
        "table3": ev.by_fund_type(predictions, models),
        "fig9_regimes": ev.regimes(predictions, models),
        "top20": ev.top_volatility(predictions, models),
        "dm_tests": ev.dm_tests(predictions, models, h=horizon),
    }


def summarise(result: Stage1Result, panel, splits) -> dict:
    rmse = {m: float(v) for m, v in result.tables["table2"]["RMSE"].items()}
    holds, text = ev.ordering_text(rmse)
    cfg = result.config
    split = splits[0].name if cfg.split == "walk_forward" else f"cv ({cfg.folds}-fold, contiguous time blocks)"
    return {
        "best_model": min(rmse, key=rmse.get),
        "rmse": rmse,
        "split": split,
        "n_funds": int(result.predictions["fund_id"].nunique()),
        "n_test_points": int(len(result.predictions)),
        "n_failures": int(len(result.failures)),
        "paper_ordering_holds": holds,
        "ordering_text": text,
        "models": list(cfg.models),
        "seed": cfg.seed,
        "data": panel.label() if hasattr(panel, "label") else str(getattr(panel, "source", "")),
    }
