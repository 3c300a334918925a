"""GARCH(1,1) per fund: the scikit-learn-style estimator :class:`GarchVolatility` on a returns
panel, its per-fund fit results (:class:`~qmtl_research.volatility.garch_result.GarchFitResult`:
standard errors, ``summary()``), the degenerate-fit flags (:func:`diagnose`) and the one-series
adapter of the risk engine (:func:`fit_garch_series`). The one GARCH estimation home of the
project (stage 1 and the risk engine's FHS).

Estimation maximises the Gaussian log-likelihood with the objective of ``arch``
(:mod:`.garch_engine`) by the batched multi-start optimiser of :mod:`.garch_optimizer`; panel
scheduling (walk-forward, CV masks) is :mod:`.garch_panel`. Tests compare the estimates,
log-likelihoods, standard errors and forecasts with ``arch``'s.

Over 400 lines because the estimator is one class (fit, the fitted-state accessors, results,
filter and forecasts) whose public methods each carry a numpy docstring; the engine, optimiser,
results and panel scheduling are already modules of their own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from qmtl_research.errors import InputError
from qmtl_research.volatility.garch_engine import (BACKCAST_OBS, PARAM_NAMES, _extended, _filter_columns, _left_align,
                                                   _make_batch, _residual_df, forecast_variances)
from qmtl_research.volatility.garch_optimizer import BOUND_TOL, _multi_start, _one_blas_thread
from qmtl_research.volatility.garch_result import GarchFitResult, build_result, param_covariances
from qmtl_research.volatility.innovations import tail_factor
from qmtl_research.volatility.targets import ANNUALISE_PCT, TARGET_WINDOW, expected_target_vol, realized_vol

# degenerate-fit diagnostics (flags in GarchVolatility.diagnostics_)
PERSISTENCE_LIMIT = 0.999    # alpha + beta at or above: (near-)integrated variance
BETA_ZERO = 1e-4             # beta below this counts as 0 ...
LARGE_ALPHA = 0.2            # ... and together with alpha above this: an ARCH(1) spike model
NEAR_CONSTANT_SHARE = 0.5    # fewer distinct returns than this share of the sample: a tick-rounded NAV



@dataclass(frozen=True)
class _FundFit:
    """One fund's fit in force (scaled units) and its scaled estimation sample (for the results)."""

    theta: np.ndarray
    scale: float
    n_obs: int
    loglik: float
    n_iter: int
    omega_lower: float
    omega_upper: float
    flags: str
    tail_df: float
    sample: np.ndarray


@dataclass(frozen=True)
class GarchState:
    """Fitted GARCH(1,1) state of some funds as arrays (:meth:`GarchVolatility.fitted_state`).

    Attributes
    ----------
    funds : list of str
    theta : ndarray, shape (N, 4)
        ``mu, omega, alpha, beta`` for returns divided by ``scale``.
    scale : ndarray, shape (N,)
    tail_factor : ndarray, shape (N,)
        :func:`~qmtl_research.volatility.innovations.tail_factor` of ``tail_df``.
    n_obs, loglik, n_iter, persistence, tail_df : ndarray, shape (N,)
    flags : list of str
    """

    funds: list
    theta: np.ndarray
    scale: np.ndarray
    tail_factor: np.ndarray
    n_obs: np.ndarray
    loglik: np.ndarray
    n_iter: np.ndarray
    persistence: np.ndarray
    tail_df: np.ndarray
    flags: list



def _returns_frame(X) -> pd.DataFrame:
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if not isinstance(X, pd.DataFrame):
        raise InputError(f"GarchVolatility needs a DataFrame of weekly returns, got {type(X).__name__}",
                         where="GarchVolatility.fit/predict(X)", fix="pass panel.returns (dates x funds)")
    return X


def diagnose(theta: np.ndarray, omega_lo: np.ndarray, omega_hi: np.ndarray, n_distinct=None, n_obs=None) -> list[str]:
    """Flags of degenerate GARCH(1,1) fits, one string per row (``""`` = none), separated by ``"; "``:

    * ``near-constant returns`` when ``n_distinct`` (distinct return values of the estimation sample)
      is below :data:`NEAR_CONSTANT_SHARE` of ``n_obs``: a NAV rounded to its tick (a money-market
      fund), whose variance dynamics are weakly identified (the estimates still reach arch's optimum);

    * ``persistence >= 0.999`` (``alpha + beta``; near-integrated variance, forecasts do not mean-revert);
    * ``beta = 0 with alpha >= 0.2`` (``beta < 1e-4``: an ARCH(1) spike model, no smoothing);
    * ``<name> on a bound`` for ``alpha = 0``, ``beta = 0``, ``alpha + beta = 1``, ``omega`` at its lower
      or upper bound (within 1e-6, relative for omega).

    Parameters
    ----------
    theta : ndarray, shape (N, 4)
        ``mu, omega, alpha, beta`` (scaled units).
    omega_lo, omega_hi : ndarray, shape (N,)
        The bounds of ``omega`` (scaled units).
    n_distinct, n_obs : array-like, optional
        Distinct return values and returns of each estimation sample.

    Returns
    -------
    list of str
    """
    out = []
    n_rows = len(theta)
    distinct = np.full(n_rows, np.inf) if n_distinct is None else np.asarray(n_distinct, dtype=float)
    obs = np.full(n_rows, np.inf) if n_obs is None else np.asarray(n_obs, dtype=float)
    for (mu, om, a, b_), lo, hi, k, n in zip(theta, omega_lo, omega_hi, distinct, obs):
        flags = []
        if k < NEAR_CONSTANT_SHARE * n:
            flags.append(f"near-constant returns: {int(k)} distinct values in {int(n)}")
        if a + b_ >= PERSISTENCE_LIMIT:
            flags.append(f"persistence alpha+beta = {a + b_:.4f} >= {PERSISTENCE_LIMIT}")
        if b_ < BETA_ZERO and a >= LARGE_ALPHA:
            flags.append(f"beta = 0 with alpha = {a:.3f} >= {LARGE_ALPHA}")
        if a <= BOUND_TOL:
            flags.append("alpha on its bound 0")
        if b_ <= BOUND_TOL:
            flags.append("beta on its bound 0")
        if 1.0 - a - b_ <= BOUND_TOL:
            flags.append("alpha+beta on its bound 1")
        if om <= lo * (1 + BOUND_TOL):
            flags.append("omega on its lower bound")
        if om >= hi * (1 - BOUND_TOL):
            flags.append("omega on its upper bound")
        out.append("; ".join(flags))
    return out


class GarchVolatility(BaseEstimator):
    """GARCH(1,1) per fund, a scikit-learn-style estimator on a weekly returns panel.

    ``X`` is a DataFrame of weekly simple returns (index = week-end dates, columns =
    fund ids; NaN outside a fund's history). GARCH is a per-fund time-series model:
    ``fit`` estimates every fund with at least ``min_train_obs`` returns in ``X``
    (all its non-missing returns, in date order), ``predict`` forecasts from returns
    up to each date with those fixed parameters.

    Parameters
    ----------
    mean : {"Constant", "Zero"}
        Mean model (``mu`` estimated, or 0).
    min_train_obs : int
        Returns a fund needs for estimation (>= 75, so the backcast uses estimation data only).
    horizon : int
        Weeks in the forecast target (4 = one month).
    warm_start : bool
        Like scikit-learn's ``warm_start``: a new ``fit`` starts from the previous
        estimates of a fund (and keeps its ``scale``); funds absent from the new ``X``
        keep their previous fit.
    max_iter : int
        Fisher-scoring iterations per fit.
    innovations : {"student-t", "normal"}
        The innovation law under which variance forecasts are mapped to the expected 1-month
        target: a unit-variance Student-t with ``nu`` fitted to the fund's standardised residuals
        (:mod:`~qmtl_research.volatility.innovations`), or Gaussian (``nu = inf``). Estimation is
        Gaussian (quasi-)maximum likelihood either way.

    Attributes (after ``fit``)
    --------------------------
    params_ : DataFrame (fund_id x mu, omega, alpha, beta)
        Estimates for returns divided by ``scale_`` (``alpha``, ``beta`` are scale-free).
    scale_ : Series
        The std (ddof=1) of the fund's first estimation sample.
    diagnostics_ : DataFrame
        Per fitted fund: ``n_obs, loglik, n_iter, persistence, flags, tail_df, degenerate``
        (``tail_df``: the Student-t degrees of freedom of the standardised residuals, ``inf`` =
        Gaussian, used by :meth:`predict`).
    failures_ : dict
        fund_id -> why it was not estimated (too short, constant, not converged).
    fitted_funds_ : list of str
        Funds with a fit in force (this ``fit`` or, with ``warm_start``, an earlier one).
    last_fit_funds_ : list of str
        Funds estimated by the last ``fit``.
    results_ : dict
        fund_id -> :class:`~qmtl_research.volatility.garch_result.GarchFitResult` (standard
        errors, ``summary()``); :meth:`result_` computes one fund's only.
    """

    def __init__(self, mean: str = "Constant", min_train_obs: int = 104, horizon: int = TARGET_WINDOW,
                 warm_start: bool = False, max_iter: int = 200, innovations: str = "student-t"):
        self.mean = mean
        self.min_train_obs = min_train_obs
        self.horizon = horizon
        self.warm_start = warm_start
        self.max_iter = max_iter
        self.innovations = innovations

    def fit(self, X, y=None):
        """Estimate every fund of ``X`` with enough returns.

        Parameters
        ----------
        X : DataFrame
            Weekly simple returns (fractions), dates x funds, NaN outside a fund's history.
        y : None
            Ignored (GARCH is fitted on the returns themselves).

        Returns
        -------
        GarchVolatility
            ``self``, fitted (funds that cannot be estimated are in ``failures_``).
        """
        if self.mean not in ("Constant", "Zero"):
            raise InputError(f"unknown GARCH mean model {self.mean!r}", where="GarchVolatility(mean=...)",
                             fix="use 'Constant' or 'Zero'")
        if self.innovations not in ("student-t", "normal"):
            raise InputError(f"unknown innovation law {self.innovations!r}", where="GarchVolatility(innovations=...)",
                             fix="use 'student-t' or 'normal'")
        X = _returns_frame(X)
        warm = self.warm_start and hasattr(self, "_fits")
        fits = dict(self._fits) if warm else {}
        failures = dict(self.failures_) if warm else {}
        values = X.to_numpy(dtype=float, na_value=np.nan)
        funds = [str(f) for f in X.columns]
        finite = np.isfinite(values)
        counts = finite.sum(axis=0)
        chosen, cols, scales = [], [], []
        for j, fid in enumerate(funds):
            if counts[j] < self.min_train_obs:
                failures[fid] = (f"too short a history for GARCH estimation: {int(counts[j])} returns, "
                                 f"at least {self.min_train_obs} needed")
                fits.pop(fid, None)
                continue
            s = fits[fid].scale if fid in fits else np.nan
            sample = values[finite[:, j], j]
            if not np.isfinite(s):
                s = float(np.std(sample, ddof=1))
            if not np.isfinite(s) or s == 0.0 or np.ptp(sample) == 0.0:
                failures[fid] = "constant returns: GARCH cannot be estimated"
                fits.pop(fid, None)
                continue
            chosen.append(fid)
            cols.append(j)
            scales.append(s)
        if chosen:
            scales = np.asarray(scales)
            y_al, mask = _left_align(values[:, cols] / scales)
            batch = _make_batch(y_al, mask, self.mean == "Zero")
            start = np.array([fits[fid].theta if fid in fits else np.full(4, np.nan) for fid in chosen]) \
                if warm else None
            with _one_blas_thread():
                est = _multi_start(batch, start, self.max_iter)
            ordered = np.sort(values[:, cols], axis=0)                   # NaN last
            known = np.isfinite(ordered)
            distinct = known[0] + ((np.diff(ordered, axis=0) != 0) & known[1:]).sum(axis=0)   # distinct returns
            flags = diagnose(est.theta, batch.omega_lo, batch.omega_hi, distinct, batch.lengths)
            tail_df = (_residual_df(batch, est.theta) if self.innovations == "student-t"
                       else np.full(len(chosen), np.inf))
            for k, fid in enumerate(chosen):
                if not est.converged[k]:
                    failures[fid] = f"GARCH(1,1) estimation failed: {est.message[k]}"
                    fits.pop(fid, None)
                    continue
                failures.pop(fid, None)
                fits[fid] = _FundFit(theta=est.theta[k], scale=float(scales[k]), n_obs=int(batch.lengths[k]),
                                     loglik=float(est.loglik[k]), n_iter=int(est.n_iter[k]),
                                     omega_lower=float(batch.omega_lo[k]), omega_upper=float(batch.omega_hi[k]),
                                     flags=flags[k], tail_df=float(tail_df[k]),
                                     sample=y_al[: batch.lengths[k], k].copy())
        self._fits = fits
        self.failures_ = failures
        self.n_features_in_ = X.shape[1]
        self.last_fit_funds_ = [f for f in chosen if f in fits]
        return self

    # ----------------------------------------------------------------- fitted state
    @property
    def fitted_funds_(self) -> list[str]:
        """Funds with a fit in force, in fitting order."""
        check_is_fitted(self, "_fits")
        return list(self._fits)

    def fitted_state(self, funds=None) -> GarchState:
        """The fitted parameters and diagnostics of ``funds`` as arrays (the panel scheduler's view).

        Parameters
        ----------
        funds : list of str, optional
            Fitted funds (default: :attr:`fitted_funds_`); an unfitted fund raises ``InputError``.

        Returns
        -------
        GarchState
            Arrays in the order of ``funds``: ``theta`` (N, 4; scaled units), ``scale``,
            ``tail_factor``, ``n_obs``, ``loglik``, ``n_iter``, ``persistence``, ``tail_df``, ``flags``.
        """
        check_is_fitted(self, "_fits")
        funds = list(self._fits) if funds is None else [str(f) for f in funds]
        missing = [f for f in funds if f not in self._fits]
        if missing:
            raise InputError(f"GARCH(1,1) has no fit for {missing[:5]}", where="GarchVolatility.fitted_state(funds)",
                             fix="ask for funds in fitted_funds_ (failures_ says why the others were not fitted)")
        recs = [self._fits[f] for f in funds]
        tail_df = np.array([r.tail_df for r in recs], dtype=float)
        theta = np.array([r.theta for r in recs], dtype=float).reshape(len(funds), 4)
        return GarchState(funds=funds, theta=theta, scale=np.array([r.scale for r in recs], dtype=float),
                          tail_factor=tail_factor(tail_df) if len(funds) else np.empty(0),
                          n_obs=np.array([r.n_obs for r in recs], dtype=int),
                          loglik=np.array([r.loglik for r in recs], dtype=float),
                          n_iter=np.array([r.n_iter for r in recs], dtype=int),
                          persistence=theta[:, 2] + theta[:, 3], tail_df=tail_df, flags=[r.flags for r in recs])

    @property
    def params_(self) -> pd.DataFrame:
        """Estimates per fitted fund (rows) for returns divided by ``scale_``: ``mu, omega, alpha, beta``."""
        st = self.fitted_state()
        return pd.DataFrame(st.theta, index=pd.Index(st.funds, name="fund_id"), columns=list(PARAM_NAMES))

    @property
    def scale_(self) -> pd.Series:
        """The divisor of each fitted fund's returns (std, ddof=1, of its first estimation sample)."""
        st = self.fitted_state()
        return pd.Series(st.scale, index=pd.Index(st.funds, name="fund_id"), dtype=float)

    @property
    def diagnostics_(self) -> pd.DataFrame:
        """Per fitted fund: ``n_obs, loglik, n_iter, persistence, omega_lower, omega_upper, flags,
        tail_df, degenerate`` (``loglik`` of the scaled returns; ``omega_*`` the scaled bounds)."""
        check_is_fitted(self, "_fits")
        ids = list(self._fits)
        frame = pd.DataFrame([(r.n_obs, r.loglik, r.n_iter, float(r.theta[2] + r.theta[3]), r.omega_lower,
                               r.omega_upper, r.flags, r.tail_df) for r in self._fits.values()],
                             index=pd.Index(ids, name="fund_id"),
                             columns=["n_obs", "loglik", "n_iter", "persistence", "omega_lower", "omega_upper",
                                      "flags", "tail_df"])
        frame[["n_obs", "loglik", "n_iter"]] = frame[["n_obs", "loglik", "n_iter"]].astype(float)
        frame["degenerate"] = frame["flags"] != ""
        return frame

    def result_(self, fund) -> GarchFitResult:
        """The fit result of one fund: estimates in the series' units, robust and classic standard
        errors, t-statistics, p-values, log-likelihood, flags and ``summary()``.

        Parameters
        ----------
        fund : str
            A fitted fund.

        Returns
        -------
        GarchFitResult
        """
        return self._results([str(fund)])[str(fund)]

    @property
    def results_(self) -> dict:
        """fund_id -> :class:`~qmtl_research.volatility.garch_result.GarchFitResult`, every fitted fund."""
        return self._results(self.fitted_funds_)

    def _results(self, funds: list[str]) -> dict:
        st = self.fitted_state(funds)
        y_al, mask = _left_align_samples([self._fits[f].sample for f in funds])
        batch = _make_batch(y_al, mask, self.mean == "Zero")
        robust, classic = param_covariances(batch, st.theta)
        return {f: build_result(f, st.theta[k], st.scale[k], robust[k], classic[k], zero_mean=self.mean == "Zero",
                                loglik=st.loglik[k], n_obs=st.n_obs[k], n_iter=st.n_iter[k], converged=True,
                                flags=st.flags[k], tail_df=st.tail_df[k]) for k, f in enumerate(funds)}

    # ----------------------------------------------------------------- forecasts
    def _fitted(self, X) -> tuple[pd.DataFrame, list[str]]:
        check_is_fitted(self, "_fits")
        X = _returns_frame(X)
        return X, [f for f in map(str, X.columns) if f in self._fits]

    def one_step_variances(self, X) -> pd.DataFrame:
        """Variance of each week's scaled return given the returns before it.

        Parameters
        ----------
        X : DataFrame
            Weekly simple returns (dates x funds); funds without a fit are left out.

        Returns
        -------
        DataFrame
            Rows = ``X.index`` plus the week after the last, columns = fitted funds of ``X``;
            variances of returns divided by the fund's ``scale`` (NaN outside the history).
        """
        X, funds = self._fitted(X)
        st = self.fitted_state(funds)
        h = _filter_columns(X[funds].to_numpy(dtype=float, na_value=np.nan) / st.scale, st.theta)
        return pd.DataFrame(h, index=_extended(X.index), columns=pd.Index(funds, name="fund_id"))

    def conditional_vol(self, X) -> pd.DataFrame:
        """``r``: the conditional volatility of each week given the data before it.

        Parameters
        ----------
        X : DataFrame
            Weekly simple returns (dates x funds).

        Returns
        -------
        DataFrame
            Annualised percent ``sqrt(h_s) * scale * sqrt(52) * 100``; one extra row for the week
            after the last.
        """
        h = self.one_step_variances(X)
        return np.sqrt(h) * self.fitted_state(list(h.columns)).scale * ANNUALISE_PCT

    def predict(self, X, rows: slice | None = None) -> pd.DataFrame:
        """Forecast of the 1-month target made at each date of ``X.index``.

        Parameters
        ----------
        X : DataFrame
            Weekly simple returns (dates x funds).
        rows : slice, optional
            Only these positions of ``X.index`` (info dates).

        Returns
        -------
        DataFrame
            Info dates x fitted funds: the expected sample std (ddof=1) of the next ``horizon``
            weekly returns, annualised percent, under the fitted innovation law
            (:func:`~qmtl_research.volatility.targets.expected_target_vol` times
            :func:`~qmtl_research.volatility.innovations.tail_factor`).
        """
        h = self.one_step_variances(X)
        return self.target_forecasts(h, rows)

    def target_forecasts(self, h: pd.DataFrame, rows: slice | None = None) -> pd.DataFrame:
        """Map one-step variances (from :meth:`one_step_variances`) to 1-month target forecasts.

        Parameters
        ----------
        h : DataFrame
            Output of :meth:`one_step_variances` (info dates plus one row; fitted funds).
        rows : slice, optional
            Only these positions of the info dates ``h.index[:-1]``.

        Returns
        -------
        DataFrame
            Info dates x funds, annualised percent (NaN where a variance path is not finite).
        """
        funds = list(h.columns)
        st = self.fitted_state(funds)
        info = h.index[:-1]
        nxt = h.to_numpy()[1:]
        if rows is not None:
            info, nxt = info[rows], nxt[rows]
        path = forecast_variances(nxt, st.theta, self.horizon)          # info date d -> weeks d+1..d+horizon
        ok = np.isfinite(path).all(axis=-1)
        out = np.full(ok.shape, np.nan)
        factor = np.broadcast_to(st.scale * st.tail_factor, ok.shape)
        out[ok] = expected_target_vol(path[ok], factor[ok])
        return pd.DataFrame(out, index=info, columns=h.columns)

    def score(self, X, y=None) -> float:
        """``-RMSE`` of :meth:`predict` against the realised 1-month target of ``X``.

        Parameters
        ----------
        X : DataFrame
            Weekly simple returns (dates x funds).
        y : None
            Ignored (the target is computed from ``X``).

        Returns
        -------
        float
            Minus the root mean squared error, percentage points of annualised vol (greater is
            better); NaN when no forecast has a realised target.
        """
        pred = self.predict(X)
        realised = realized_vol(_returns_frame(X)[pred.columns], self.horizon).shift(-self.horizon)
        err = (realised - pred).to_numpy().ravel()
        err = err[np.isfinite(err)]
        return -float(np.sqrt(np.mean(err ** 2))) if len(err) else float("nan")


def _left_align_samples(samples: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Left-aligned (rows = observations) matrix of the estimation samples and its mask."""
    n_rows = max((len(x) for x in samples), default=0)
    out = np.zeros((n_rows, len(samples)))
    mask = np.zeros((n_rows, len(samples)), dtype=bool)
    for j, x in enumerate(samples):
        out[: len(x), j] = x
        mask[: len(x), j] = True
    return out, mask


# ---------------------------------------------------------------------------------------------
# one series (the risk engine)
# ---------------------------------------------------------------------------------------------
@dataclass
class SeriesFit:
    """GARCH(1,1) of one return series, in the series' units.

    Attributes
    ----------
    mu : float
        Mean return per week (fraction).
    omega : float
        Squared weekly return.
    alpha, beta : float
        Unitless.
    cond_vol : ndarray
        ``sigma_t`` of each observation given the data before it (weekly, fraction).
    std_resid : ndarray
        ``(r_t - mu) / sigma_t``.
    sigma_next : float
        One-step-ahead volatility after the last observation (weekly, fraction).
    flags : str
        Degenerate-fit flags (:func:`diagnose`; "" when none).
    """

    mu: float
    omega: float
    alpha: float
    beta: float
    cond_vol: np.ndarray       # sigma_t of each observation (data before t)
    std_resid: np.ndarray      # (r_t - mu) / sigma_t
    sigma_next: float          # one-step-ahead volatility after the last observation
    flags: str


SERIES_ID = "series"


def fit_garch_series(returns, mean: str = "Constant") -> SeriesFit:
    """Estimate GARCH(1,1) on one series with :class:`GarchVolatility`.

    Parameters
    ----------
    returns : array-like
        One return series (fractions, oldest first; all its values are used; at least 75).
    mean : {"Constant", "Zero"}
        Mean model.

    Returns
    -------
    SeriesFit
        Parameters in the series' units (``omega`` in squared units), the conditional
        volatilities, the standardised residuals and the next volatility.
    """
    r = np.asarray(returns, dtype=float)
    # the estimator takes a dated panel; a series has no dates, so any weekly grid will do
    frame = pd.DataFrame({SERIES_ID: r}, index=pd.date_range("2000-01-07", periods=len(r), freq="W-FRI"))
    est = GarchVolatility(mean=mean, min_train_obs=min(BACKCAST_OBS, len(r))).fit(frame)
    if SERIES_ID not in est.fitted_funds_:
        raise InputError(f"GARCH(1,1) could not be estimated: {est.failures_.get(SERIES_ID)}",
                         where="fit_garch_series", fix="check the return series (length, constant values)")
    st = est.fitted_state([SERIES_ID])
    (mu, omega, alpha, beta), s = st.theta[0], float(st.scale[0])
    h = est.one_step_variances(frame)[SERIES_ID].to_numpy()
    vol = np.sqrt(h) * s
    return SeriesFit(mu=mu * s, omega=omega * s * s, alpha=alpha, beta=beta, cond_vol=vol[:-1],
                     std_resid=(r - mu * s) / vol[:-1], sigma_next=float(vol[-1]), flags=st.flags[0])
