"""Stage-1 forecasts for stage 2 (the rating study's ``forecaster`` contract).

``forecast_for_rating(model, panel, requests)`` answers requests
``(fund_id, prediction_date)`` with the forecast annualised std (%) of the
fund's next 4 weekly returns, using returns up to and including
``prediction_date`` only. The model is **re-trained per calendar year** of the
prediction dates: for year ``Y`` GARCH is estimated and the LSTMs are trained
on data strictly before the first week of ``Y`` (walk-forward), then used for
every request dated in ``Y``. A fund with fewer than ``min_train_obs`` returns
before ``Y`` gets its GARCH estimated on its first ``min_train_obs`` returns
(``late_start``) and forecasts only from the week after them, so no forecast
ever uses a return after its prediction date. A request the model cannot answer (fund with a
bad history, GARCH failure, no training data before ``Y``) gets a NaN forecast
and the reason in ``method``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm import tqdm

from qmtl_research.volatility.config import Stage1Config
from qmtl_research.volatility.garch import fit_garch_panel
from qmtl_research.volatility.inputs import check_histories
from qmtl_research.volatility.models import make_model
from qmtl_research.volatility.samples import build_inputs, build_samples, r_columns, sigma_columns, y_columns
from qmtl_research.volatility.targets import realized_vol

FORECAST_COLUMNS = ["fund_id", "prediction_date", "forecast_vol_pct", "method"]
GARCH_BASED = {"GARCH", "GARCH-LSTM"}


def _required_columns(models, window: int) -> list[str]:
    cols = list(sigma_columns(window))
    if "GARCH-LSTM" in models:
        cols += r_columns(window)
    if "GARCH" in models:
        cols.append("garch_1m")
    return cols


def forecast_for_rating(model: str, panel, requests: pd.DataFrame, seed: int = 42, progress: bool = True,
                        config: Stage1Config | None = None) -> pd.DataFrame:
    """Forecasts for stage 2 with a stage-1 model (``GARCH-LSTM``, ``LSTM``, ``GARCH`` or ``Naive``).

    Returns a DataFrame with columns ``fund_id, prediction_date, forecast_vol_pct, method``,
    one row per distinct request.
    """
    config = (config or Stage1Config()).model_copy(update={"seed": seed, "models": (model,)})
    make_model(model, config)   # validates the name
    w, h = config.window, config.horizon
    req = requests[["fund_id", "prediction_date"]].drop_duplicates().copy()
    req["fund_id"] = req["fund_id"].astype(str)
    req["prediction_date"] = pd.to_datetime(req["prediction_date"])
    # one extra (empty) week so that a request on the panel's last week has a forecast origin
    dates = panel.returns.index
    ext = dates.append(pd.DatetimeIndex([dates[-1] + pd.Timedelta(weeks=1)]))
    returns = panel.returns.reindex(ext)
    usable, failures = check_histories(panel.returns, min_obs=2 * w + h)
    reasons = {f["fund_id"]: f["message"] for f in failures}
    returns = returns[usable]
    target = realized_vol(returns, w)
    required = _required_columns([model], w)
    out = []
    years = sorted(req["prediction_date"].dt.year.unique())
    for year in tqdm(years, desc=f"{model} per year", disable=not progress):
        grp = req.loc[req["prediction_date"].dt.year == year]
        cutoff_pos = int(ext.searchsorted(pd.Timestamp(f"{year}-01-01")))
        cutoff = ext[min(cutoff_pos, len(ext) - 1)]
        label = f"{model} (qmtl_research.volatility, trained before {cutoff.date()})"
        answer = pd.DataFrame({"fund_id": grp["fund_id"].to_numpy(), "prediction_date": grp["prediction_date"].to_numpy(),
                               "forecast_vol_pct": np.nan, "method": label})
        cond = fcst = None
        year_reasons = dict(reasons)
        if GARCH_BASED & {model}:
            garch = fit_garch_panel(returns, pd.Series(ext < cutoff, index=ext), config.garch, horizon=h,
                                    progress=False)
            cond, fcst = garch.cond_vol, garch.forecast
            year_reasons.update({f["fund_id"]: f["message"] for f in garch.failures})
        samples = build_samples(target, cond, fcst, w, h)
        train = samples.loc[(samples["date"] < cutoff) & samples[required].notna().all(axis=1)]
        ok_req = answer["fund_id"].isin(usable) & answer["prediction_date"].isin(dates)
        if train.empty:
            answer["method"] = f"{label}: no complete training sample before {cutoff.date()}"
            out.append(answer)
            continue
        est = None if model == "GARCH" else make_model(model, config).fit(train, train[y_columns(h)].to_numpy())
        origins = [ext[ext.get_loc(d) + 1] for d in answer.loc[ok_req, "prediction_date"]]
        X = build_inputs(target, cond, fcst, answer.loc[ok_req, "fund_id"], origins, w)
        complete = X[required].notna().all(axis=1).to_numpy()
        idx = answer.index[ok_req.to_numpy()]
        if complete.any():
            answer.loc[idx[complete], "forecast_vol_pct"] = (X.loc[complete, "garch_1m"].to_numpy() if est is None
                                                             else est.predict(X.loc[complete]))
        for i in idx[~complete]:
            fid = answer.at[i, "fund_id"]
            answer.at[i, "method"] = f"{label}: {year_reasons.get(fid, 'inputs missing (history too short before the date)')}"
        for i in answer.index[~ok_req.to_numpy()]:
            fid = answer.at[i, "fund_id"]
            answer.at[i, "method"] = f"{label}: " + (reasons.get(fid) or "prediction_date is not a week of the panel")
        out.append(answer)
    if not out:
        return pd.DataFrame(columns=FORECAST_COLUMNS)
    result = pd.concat(out, ignore_index=True)
    result["forecast_vol_pct"] = result["forecast_vol_pct"].astype(float)
    return result[FORECAST_COLUMNS]
