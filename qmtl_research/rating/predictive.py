"""A predictive grade distribution: P(grade = k) at the next settlement, by simulation from the
stage-1 GARCH(1,1) model.

At a prediction date ``p`` (the last week whose return is known) with ``r`` weeks of the
grading window still unobserved, the grade decided at the settlement is a function of the
``window - r`` known weekly returns and of the ``r`` unknown ones. The stage-1 GARCH model in
force at ``p`` (:mod:`qmtl_research.volatility.garch`; its estimation used only returns before
its fit date, which is on or before ``p``) gives the law of the unknown ones::

    r_{p+k} = mu + e_{p+k},  e = sqrt(h) z,  h_{p+1} filtered from the returns up to p,
    h_{p+k+1} = omega + alpha e_{p+k}^2 + beta h_{p+k},
    z iid from the fitted innovation law (stage 1 is a Gaussian quasi-likelihood: normal;
    a unit-variance Student-t when a ``nu`` is given; or the fund's standardised residuals,
    resampled, for filtered historical simulation).

:func:`simulate_garch_returns` draws ``n_paths`` such continuations (seeded: same inputs and
seed, same paths); :func:`path_values` computes the scheme's measure on every completed window
and :func:`grade_probabilities` the share of paths in each grade. The simulation is possible
for weekly measures only (``weekly_std``: kr-2016, ucits-srri): the stage-1 model is weekly, so
a daily scheme's window has no model here and is refused with an InputError.

:func:`predictive_panel` does this for every row of a stage-2 dataset (the walk-forward test
set), with a per-row seed ``(seed, row)``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from qmtl_research.errors import InputError
from qmtl_research.grades import GradingScheme, annualised_std_pct

INNOVATIONS = ("normal", "student_t", "residuals")


def _innovations(rng: np.random.Generator, size, law: str, nu: float | None,
                 residuals: np.ndarray | None) -> np.ndarray:
    if law == "normal":
        return rng.standard_normal(size)
    if law == "student_t":
        if nu is None or not nu > 2:
            raise InputError(f"a unit-variance Student-t needs nu > 2, got {nu}", where="simulate_garch_returns(nu)",
                             fix="pass the fitted degrees of freedom (> 2)")
        return rng.standard_t(nu, size) * np.sqrt((nu - 2.0) / nu)
    if law == "residuals":
        z = np.asarray(residuals, dtype=float) if residuals is not None else np.empty(0)
        z = z[np.isfinite(z)]
        if z.size < 10:
            raise InputError(f"filtered historical simulation needs at least 10 standardised residuals, got {z.size}",
                             where="simulate_garch_returns(residuals)", fix="pass the fund's standardised residuals")
        return rng.choice(z, size=size, replace=True)
    raise InputError(f"unknown innovation law {law!r}", where="simulate_garch_returns(law)",
                     fix=f"use one of {INNOVATIONS}")


def simulate_garch_returns(mu: float, omega: float, alpha: float, beta: float, h_next: float, n_steps: int,
                           n_paths: int, rng: np.random.Generator, law: str = "normal", nu: float | None = None,
                           residuals=None) -> np.ndarray:
    """Simulated continuations of a GARCH(1,1) return series.

    Parameters
    ----------
    mu, omega, alpha, beta : float
        GARCH(1,1) parameters in the units of the returns (``omega`` in squared return units).
    h_next : float
        Variance of the first simulated return given the observed ones (the filtered one-step
        variance, squared return units).
    n_steps, n_paths : int
        Returns per path (the unobserved weeks ``r``) and number of paths.
    rng : numpy.random.Generator
        The seeded generator (the caller's seed decides the numbers).
    law : {"normal", "student_t", "residuals"}
        Innovation law: standard normal, unit-variance Student-t with ``nu`` degrees of freedom,
        or resampled standardised ``residuals`` (filtered historical simulation).

    Returns
    -------
    ndarray, shape (n_paths, n_steps)
        Simulated returns ``mu + sqrt(h_k) z_k`` with ``h_{k+1} = omega + alpha e_k^2 + beta h_k``.
    """
    if n_steps < 0 or n_paths < 1:
        raise InputError(f"n_steps {n_steps} / n_paths {n_paths} out of range", where="simulate_garch_returns",
                         fix="n_steps >= 0, n_paths >= 1")
    if not (np.isfinite([mu, omega, alpha, beta, h_next]).all() and omega >= 0 and alpha >= 0 and beta >= 0
            and h_next >= 0):
        raise InputError(f"invalid GARCH state mu={mu}, omega={omega}, alpha={alpha}, beta={beta}, h={h_next}",
                         where="simulate_garch_returns", fix="pass a fitted GARCH(1,1) (omega, alpha, beta, h >= 0)")
    z = _innovations(rng, (n_paths, n_steps), law, nu, residuals)
    out = np.empty((n_paths, n_steps))
    h = np.full(n_paths, float(h_next))
    for k in range(n_steps):
        e = np.sqrt(h) * z[:, k]
        out[:, k] = mu + e
        h = omega + alpha * e * e + beta * h
    return out


def path_values(scheme: GradingScheme, known, simulated: np.ndarray) -> np.ndarray:
    """The scheme's measure (percent) of every completed window ``known + simulated[i]``.

    Parameters
    ----------
    scheme : GradingScheme
        A weekly scheme (``weekly_std``); daily schemes are refused (no daily stage-1 model).
    known : array-like
        The observed weekly returns of the window, oldest first (``window - r`` of them).
    simulated : ndarray (n_paths, r)
        The simulated rest of the window.

    Returns
    -------
    ndarray (n_paths,)
    """
    m = scheme.measure
    if m.kind != "weekly_std":
        raise InputError(f"scheme {scheme.scheme_id} grades by {m.kind}: the weekly stage-1 model cannot simulate "
                         f"its window", where="path_values(scheme)",
                         fix="use a weekly_std scheme (kr-2016, ucits-srri) for the predictive grade distribution")
    known = np.asarray(known, dtype=float)
    sims = np.asarray(simulated, dtype=float).reshape(len(simulated), -1)
    if known.size + sims.shape[1] != m.window_weeks or not np.isfinite(known).all():
        raise InputError(f"{known.size} known + {sims.shape[1]} simulated weeks != the {m.window_weeks}-week window "
                         f"(or a known return is missing)", where=f"path_values ({scheme.scheme_id})",
                         fix="pass the observed part of the window and simulate the rest")
    full = np.concatenate([np.broadcast_to(known, (len(sims), known.size)), sims], axis=1)
    return annualised_std_pct(full, m.periods_per_year, axis=1)


def grade_probabilities(scheme: GradingScheme, values) -> np.ndarray:
    """Share of ``values`` (measure in percent, one per path) in each grade, grades 1..n in order.

    Parameters
    ----------
    scheme : GradingScheme
        The scheme's bands (percent).
    values : array-like of float
        The measure of each simulated path, percent.

    Returns
    -------
    numpy.ndarray
        Fractions summing to 1, one per grade.
    """
    g = np.asarray(scheme.grade_of(np.asarray(values, dtype=float).ravel()), dtype=float)
    if np.isnan(g).any():
        raise InputError("a simulated window has an undefined measure", where=f"grade_probabilities ({scheme.scheme_id})",
                         fix="check the GARCH state (finite parameters and variance)")
    return np.bincount(g.astype(int) - 1, minlength=scheme.n_grades)[: scheme.n_grades] / g.size


def _params_in_force(by_fund: dict, fund: str, when: pd.Timestamp) -> pd.Series | None:
    """The fund's latest walk-forward estimation with ``fit_date <= when`` (data strictly before it);
    ``by_fund`` maps a fund to ``(sorted fit dates, its estimation rows in that order)``."""
    if fund not in by_fund:
        return None
    fit_dates, rows = by_fund[fund]
    i = int(np.searchsorted(fit_dates, np.datetime64(when), side="right")) - 1
    return None if i < 0 else rows.iloc[i]


def garch_state(returns: np.ndarray, est: pd.Series) -> tuple[float, float, float, float, float, np.ndarray]:
    """``(mu, omega, alpha, beta, h_next, std_resid)`` in return units from an estimation row
    (``mu, omega, alpha, beta`` for returns / ``scale``) filtered over ``returns`` (observed weeks up
    to the prediction date, no gaps): ``h_next`` the variance of the week after the last return.

    Parameters
    ----------
    returns : numpy.ndarray
        Weekly simple returns (fractions), observed weeks up to the prediction date.
    est : pandas.Series
        One stage-1 estimation: ``mu, omega, alpha, beta`` and ``scale``.

    Returns
    -------
    tuple
        ``mu`` (fraction per week), ``omega``, ``alpha``, ``beta``, ``h_next`` (variance per week,
        fraction squared) and the standardised residuals.
    """
    from qmtl_research.volatility.garch_engine import _filter_columns

    s = float(est["scale"])
    theta = np.array([[float(est["mu"]), float(est["omega"]), float(est["alpha"]), float(est["beta"])]])
    x = np.asarray(returns, dtype=float)[:, None] / s
    h = _filter_columns(x, theta)[:, 0]
    z = (x[:, 0] - theta[0, 0]) / np.sqrt(h[:-1])
    return theta[0, 0] * s, theta[0, 1] * s * s, theta[0, 2], theta[0, 3], float(h[-1]) * s * s, z


def predictive_panel(panel, frame: pd.DataFrame, garch_params: pd.DataFrame, scheme: GradingScheme,
                     horizon: int, n_paths: int = 2000, seed: int = 0, law: str = "normal") -> tuple[pd.DataFrame, pd.DataFrame]:
    """P(grade = k) at the settlement for every row of a stage-2 dataset frame.

    Parameters
    ----------
    panel : FundPanel
        The panel the dataset was built from (weekly returns).
    frame : DataFrame
        Stage-2 samples (``fund_id, prediction_date, settlement_date``; a ``row`` column names each
        sample, else the index is used).
    garch_params : DataFrame
        Stage 1's estimations (``Stage1Result.garch_params``); only ``design == "walk_forward"`` rows
        are used, the latest with ``fit_date <= prediction_date`` (no look-ahead). A ``nu`` column
        is used as the Student-t degrees of freedom when ``law="student_t"``.
    scheme : GradingScheme
        A ``weekly_std`` scheme; ``horizon`` weeks of its window are unobserved at the prediction date.
    n_paths, seed, law :
        Paths per sample, the seed (sample ``row`` uses ``numpy.random.default_rng([seed, row])``) and
        the innovation law (:data:`INNOVATIONS`).

    Returns
    -------
    probabilities : DataFrame ``row, fund_id, prediction_date, p_grade_1 .. p_grade_n, mean_value_pct``.
    skipped : DataFrame ``row, fund_id, prediction_date, reason`` (no estimation in force, window not observed).
    """
    return _predictive_rows(panel, frame, _by_fund(garch_params), scheme, horizon, _window(scheme, horizon),
                            n_paths, seed, law, {})


def _window(scheme: GradingScheme, horizon: int) -> int:
    """The scheme's window (weeks); an InputError for a daily scheme or a horizon outside it."""
    window = scheme.measure.window_weeks if scheme.measure.kind == "weekly_std" else None
    if window is None:
        path_values(scheme, [], np.empty((1, 0)))   # raises the InputError for a daily scheme
    if not 1 <= horizon < window:
        raise InputError(f"horizon {horizon} weeks outside 1..{window - 1}", where="predictive_panel(horizon)")
    return window


def _by_fund(garch_params: pd.DataFrame) -> dict:
    """Each fund's walk-forward estimations: ``fund -> (sorted fit dates, rows in that order)``."""
    params = garch_params
    if "design" in params.columns:
        params = params[params["design"] == "walk_forward"]
    params = params.assign(fit_date=pd.to_datetime(params["fit_date"])).sort_values(["fund_id", "fit_date"],
                                                                                     kind="stable")
    return {f: (g["fit_date"].to_numpy(), g) for f, g in params.groupby("fund_id", sort=False)}


def _predictive_rows(panel, frame: pd.DataFrame, by_fund: dict, scheme: GradingScheme, horizon: int, window: int,
                     n_paths: int, seed: int, law: str, columns: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`predictive_panel` on prepared estimations (:func:`_by_fund`); ``columns`` caches each
    fund's returns as an array across calls."""
    dates = panel.dates
    rows_id = frame["row"].to_numpy() if "row" in frame.columns else frame.index.to_numpy()
    out, skipped = [], []
    for rid, fund, pdate in zip(rows_id, frame["fund_id"], pd.to_datetime(frame["prediction_date"])):
        q = int(dates.get_loc(pdate))
        if fund not in columns:
            columns[fund] = panel.returns[fund].to_numpy(dtype=float)
        col = columns[fund][: q + 1]
        known = col[q - (window - horizon) + 1:]
        est = _params_in_force(by_fund, fund, pdate)
        if est is None:
            skipped.append((rid, fund, pdate, f"no walk-forward GARCH estimation on or before {pdate.date()}"))
            continue
        obs = col[np.isfinite(col).argmax():] if np.isfinite(col).any() else col[:0]
        if len(known) != window - horizon or not np.isfinite(known).all() or not np.isfinite(obs).all():
            skipped.append((rid, fund, pdate, "the known part of the window or the fund's history has gaps"))
            continue
        mu, omega, alpha, beta, h_next, z = garch_state(obs, est)
        nu = float(est["nu"]) if law == "student_t" and "nu" in est.index else None
        rng = np.random.default_rng([int(seed), int(rid)])
        sims = simulate_garch_returns(mu, omega, alpha, beta, h_next, horizon, n_paths, rng, law, nu, z)
        values = path_values(scheme, known, sims)
        out.append((rid, fund, pdate, *grade_probabilities(scheme, values), float(values.mean())))
    cols = ["row", "fund_id", "prediction_date"] + [f"p_grade_{g}" for g in scheme.grade_numbers] + ["mean_value_pct"]
    return (pd.DataFrame(out, columns=cols),
            pd.DataFrame(skipped, columns=["row", "fund_id", "prediction_date", "reason"]))


def predictive_outlook(panel, scoring: pd.DataFrame, garch_params: pd.DataFrame, scheme: GradingScheme,
                       n_paths: int = 2000, seed: int = 0, law: str = "normal") -> tuple[pd.DataFrame, pd.DataFrame]:
    """P(grade = k) at each fund's next settlement as of the scoring date (the early warning's funds).

    Parameters
    ----------
    scoring : DataFrame
        :func:`~qmtl_research.rating.early_warning.scoring_frame` (``fund_id, prediction_date,
        weeks_to_settlement, next_settlement, current_grade``): ``weeks_to_settlement`` weeks of each
        fund's grading window are unobserved.
    garch_params, scheme, n_paths, seed, law : as :func:`predictive_panel` (row ``i`` of ``scoring``
        uses the seed ``(seed, i)``).

    Returns
    -------
    outlook : DataFrame ``fund_id, next_settlement, weeks_to_settlement, current_grade, p_grade_<k>...,
        predictive_grade`` (the most probable), ``p_current`` (P(grade = current grade)) and
        ``p_change = 1 - p_current``, sorted by ``p_change`` (largest first).
    skipped : DataFrame ``fund_id, reason``.
    """
    cols = [f"p_grade_{g}" for g in scheme.grade_numbers]
    if scoring.empty:
        return (pd.DataFrame(columns=["fund_id", "next_settlement", "weeks_to_settlement", "current_grade", *cols,
                                      "predictive_grade", "p_current", "p_change"]),
                pd.DataFrame(columns=["fund_id", "reason"]))
    frame = scoring.reset_index(drop=True).assign(row=lambda f: np.arange(len(f)))
    parts, skipped = [], []
    by_fund, columns = _by_fund(garch_params), {}    # prepared once for every group (was once per group)
    for r, group in frame.groupby("weeks_to_settlement", sort=True):
        probs, skip = _predictive_rows(panel, group, by_fund, scheme, int(r), _window(scheme, int(r)), n_paths, seed,
                                       law, columns)
        parts.append(probs)
        skipped += [(f, why) for f, why in zip(skip["fund_id"], skip["reason"])]
    probs = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["row", *cols])
    out = frame.merge(probs[["row", *cols]], on="row", how="inner")
    p = out[cols].to_numpy(dtype=float)
    grades = np.asarray(scheme.grade_numbers)
    out["predictive_grade"] = grades[p.argmax(axis=1)] if len(out) else []
    cur = out["current_grade"].to_numpy(dtype=int)
    out["p_current"] = p[np.arange(len(out)), cur - 1] if len(out) else []
    out["p_change"] = 1.0 - out["p_current"]
    out = out.sort_values(["p_change", "fund_id"], ascending=[False, True], kind="stable")
    keep = ["fund_id", "next_settlement", "weeks_to_settlement", "current_grade", *cols, "predictive_grade",
            "p_current", "p_change"]
    return out[keep].reset_index(drop=True), pd.DataFrame(skipped, columns=["fund_id", "reason"])
