"""Stage-1 forecasts for stage 2 and the early warnings, read from the walk-forward panel.

:func:`forecasts_for` answers the stage-2 forecaster contract (see
:mod:`qmtl_research.rating.forecasters`): for each request ``(fund_id, prediction_date)``
the forecast annualised std (%) of the fund's next 4 weekly returns, made from returns
up to and including ``prediction_date`` only. In the panel of
:attr:`Stage1Result.forecasts <qmtl_research.volatility.pipeline.Stage1Result>` that is
the row whose ``info_date`` equals ``prediction_date``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from qmtl_research.errors import InputError
from qmtl_research.volatility import registry

FORECAST_COLUMNS = ["fund_id", "prediction_date", "forecast_vol_pct", "method"]


def forecasts_for(forecasts: pd.DataFrame, model: str, requests: pd.DataFrame) -> pd.DataFrame:
    """Look up ``model``'s walk-forward forecasts for ``requests``.

    Parameters
    ----------
    forecasts:
        The stage-1 forecast panel (``Stage1Result.forecasts``): ``fund_id, info_date,
        fit_date, garch_fit_date, note`` and one column per model.
    model:
        A model column of the panel (a model of :mod:`qmtl_research.volatility.registry` that stage 1 ran).
    requests:
        DataFrame with ``fund_id`` and ``prediction_date`` (a week-end: the last return the
        forecast may use).

    Returns
    -------
    DataFrame ``fund_id, prediction_date, forecast_vol_pct, method``, one row per request
    (in request order). ``method`` names the model and its fit date, e.g.
    ``"GARCH-LSTM walk-forward (fit 2021-01-01)"``; a request it cannot answer gets a NaN
    forecast and the reason in ``method`` (fund not in stage 1, date outside the
    walk-forward test period, or the model's note for that row).
    """
    missing = {"fund_id", "prediction_date"} - set(requests.columns)
    if missing:
        raise InputError(f"forecast requests lack columns {sorted(missing)}", where="forecasts_for(requests)",
                         fix="pass a DataFrame with fund_id and prediction_date")
    if model not in forecasts.columns:
        known = [c for c in forecasts.columns if c in registry.names()]
        raise InputError(f"stage-1 model {model!r} is not in the forecast panel (models: {known})",
                         where="forecasts_for(model)", fix="use one of the models stage 1 ran")
    req = pd.DataFrame({"fund_id": requests["fund_id"].astype(str).to_numpy(),
                        "prediction_date": pd.to_datetime(requests["prediction_date"]).to_numpy()})
    keyed = forecasts.set_index(["fund_id", "info_date"])
    idx = keyed.index.get_indexer(pd.MultiIndex.from_arrays([req["fund_id"], req["prediction_date"]]))
    found = idx >= 0
    values = np.full(len(req), np.nan)
    values[found] = keyed[model].to_numpy(dtype=float)[idx[found]]
    method = np.empty(len(req), dtype=object)
    fit = keyed["fit_date"].to_numpy()
    gfit = keyed["garch_fit_date"].to_numpy() if "garch_fit_date" in keyed else None
    note = keyed["note"].to_numpy() if "note" in keyed else None
    funds = set(forecasts["fund_id"])
    garch_models = registry.garch_based([model]) if model in registry.names() else ()
    lo, hi = forecasts["info_date"].min(), forecasts["info_date"].max()
    for i in range(len(req)):
        if found[i]:
            j = idx[i]
            fit_text = f"fit {pd.Timestamp(fit[j]).date()}"
            if gfit is not None and model in garch_models and pd.notna(gfit[j]) \
                    and pd.Timestamp(gfit[j]) != pd.Timestamp(fit[j]):
                fit_text += f", GARCH estimated {pd.Timestamp(gfit[j]).date()}"
            label = f"{model} walk-forward ({fit_text})"
            if np.isnan(values[i]):
                reason = next((p for p in str(note[j]).split("; ") if model in p.split(":")[0].split(", ")),
                              "no forecast") if note is not None else "no forecast"
                label = f"{model}: {reason.split(': ', 1)[-1]}"
            method[i] = label
        elif req.at[i, "fund_id"] not in funds:
            method[i] = f"{model}: fund not in the stage-1 forecasts (bad or too short history, see failures)"
        else:
            when = pd.Timestamp(req.at[i, "prediction_date"])
            method[i] = (f"{model}: prediction_date {when.date()} outside the walk-forward test period "
                         f"(info dates {pd.Timestamp(lo).date()} .. {pd.Timestamp(hi).date()}) or not a week "
                         "with the fund's one-month vols")
    return pd.DataFrame({"fund_id": req["fund_id"], "prediction_date": req["prediction_date"],
                         "forecast_vol_pct": values, "method": method})[FORECAST_COLUMNS]
