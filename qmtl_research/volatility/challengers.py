"""Stage-1 challengers a validator expects: EWMA (RiskMetrics), GJR-GARCH(1,1) and HAR.

Each is a per-fund :class:`~qmtl_research.volatility.registry.VolatilityModel` on one fund's
weekly simple returns (fractions), driven by :mod:`~qmtl_research.volatility.series` like
GARCH(1,1): estimated at each refit date on the returns strictly before it, then filtered
through the fund's history to forecast the variances of the 4 weeks after each origin,
which :func:`~qmtl_research.volatility.targets.expected_target_vol` maps to the expected
1-month target (the same map as GARCH's). Each is also a scikit-learn estimator: ``fit(X, y=None)``
with ``X`` the fund's returns (1-D or one column), hyper-parameters in ``__init__`` only (checked
when fitting), learned attributes ending in ``_`` (``tests/test_sklearn_estimator_checks.py``).

* :class:`EWMAVolatility` - RiskMetrics: ``h_t = lam h_t-1 + (1 - lam) r_t-1^2`` with
  ``lam = 0.94``, zero mean, started at arch's backcast (the exponentially weighted mean
  square of the first 75 returns, weights ``0.94^k``); nothing is estimated. The forecast
  is flat over the month. Checked against arch's ``EWMAVariance`` in the tests.
* :class:`GJRGarchVolatility` - arch's ``arch_model(100 r, mean="Constant", vol="GARCH",
  p=1, o=1, q=1)`` (Gaussian likelihood): every refit maximises arch's likelihood on its sample
  with :mod:`~qmtl_research.volatility.gjr_likelihood` (analytic gradient through compiled
  linear filters, SLSQP under arch's bounds and constraints) from the 3 best points of arch's
  start grid plus the fund's previous estimates, keeping the best (a warm start alone ended at
  a worse local optimum, 1.04 log-likelihood points below arch's, on 1 of 24 simulated refits;
  arch's single best grid start alone, 0.096 below on 1 of 120); arch's own fit is the fallback
  when that optimum did not converge or its variances leave arch's variance bounds. Forecasts
  are arch's recursion and analytic multi-step forecast with the fitted parameters, computed
  here with a linear filter (arch rebuilding a model per refit cost as much as the fit; the
  tests check both against ``arch_model(...).forecast``).
* :class:`HARVolatility` - Corsi's HAR on weekly data: the month's mean squared demeaned
  return ``mean(e_t..e_t+3)^2`` regressed (statsmodels OLS) on the realised-variance proxies
  of the last 1, 4 and 13 weeks (means of ``e^2``), ``e = r - mean(training r)``; a forecast
  below ``floor_share`` x the training variance is raised to it (counted in the flags).

Over 400 lines because the three challengers are short classes that share the protocol's
helpers (returns checks, backcast, rolling means), and each documents its parameters, learned
attributes and public methods (numpy docstrings).
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from qmtl_research.errors import InputError
from qmtl_research.volatility.targets import TARGET_WINDOW
from qmtl_research.volatility import names

RISKMETRICS_LAMBDA = 0.94
BACKCAST_OBS = 75           # arch's backcast window (observations)
PCT = 100.0                 # GJR is estimated on returns in percent (arch's recommended scale)
GRID_STARTS = 3             # GJR: starts from the best points of arch's grid (1 missed arch's optimum on a sweep)


def _as_returns(X, min_obs: int, who: str) -> np.ndarray:
    """One fund's returns from ``X``: a 1-D series or one column (scikit-learn's ``(n_samples, 1)``)."""
    where = f"{who}.fit(X)"
    if np.iscomplexobj(X):
        raise InputError(f"{who}: returns must be a real 1-D series or one column", where=where,
                         fix="pass one fund's contiguous weekly returns (fractions)")
    try:
        r = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{who}: returns are not numbers ({exc})", where=where,
                         fix="pass one fund's contiguous weekly returns (fractions)") from None
    if r.ndim == 2 and r.shape[1] == 1:
        r = r[:, 0]
    if r.ndim != 1 or not np.isfinite(r).all():
        raise InputError(f"{who}: returns must be one finite 1-D series (or one column), got shape {r.shape}",
                         where=where, fix="pass one fund's contiguous weekly returns")
    if len(r) < min_obs:
        raise InputError(f"{who}: {len(r)} returns, at least {min_obs} needed", where=where,
                         fix="estimate on a longer history")
    return r


def ewma_backcast(returns: np.ndarray, lam: float = RISKMETRICS_LAMBDA, n: int = BACKCAST_OBS) -> float:
    """arch's variance backcast: ``sum_k w_k r_k^2`` over the first ``min(n, len)`` returns with
    weights ``lam^k`` normalised to 1.

    Parameters
    ----------
    returns : ndarray
        Weekly simple returns (fractions), oldest first.
    lam : float
        Decay of the weights ``lam**k`` (0.94).
    n : int
        Returns used at most (arch's 75).

    Returns
    -------
    float
        The backcast variance (fraction^2 per week).
    """
    r = np.asarray(returns, dtype=float)[:n]
    w = lam ** np.arange(len(r))
    return float(np.sum(w / w.sum() * r ** 2))


def ewma_variances(squared: np.ndarray, lam: float, start: float) -> np.ndarray:
    """The RiskMetrics EWMA recursion, the one home of it: ``h_0 = start`` and
    ``h_t = lam h_{t-1} + (1 - lam) x_{t-1}`` for the squared returns ``x``.

    The stage-1 challenger starts it at arch's backcast (:func:`ewma_backcast`), the fund-level
    RiskMetrics VaR (:func:`qmtl_research.risk.var.ewma_volatility`) at the mean square of the first
    returns; the recursion is the same (one linear filter, ``scipy.signal.lfilter``).

    Parameters
    ----------
    squared : ndarray, shape (n,)
        Squared returns, oldest first (fraction^2 per period; zero-mean: no mean is removed).
    lam : float
        Decay in (0, 1) (0.94 = RiskMetrics).
    start : float
        ``h_0``, the variance before the first return.

    Returns
    -------
    ndarray, shape (n + 1,)
        One-step variances ``h_0 .. h_n`` (``h_t`` uses the first ``t`` returns).
    """
    from scipy.signal import lfilter

    x = np.asarray(squared, dtype=float)
    tail = lfilter([1.0 - lam], [1.0, -lam], x, zi=[lam * start])[0]
    return np.concatenate([[start], tail])


class EWMAVolatility(BaseEstimator):
    """RiskMetrics EWMA variance (see the module docstring).

    A scikit-learn estimator (parameters in ``__init__`` only, learned attributes end in ``_``)
    that is also a :class:`~qmtl_research.volatility.registry.VolatilityModel`.

    Parameters
    ----------
    lam : float
        The decay (0.94: RiskMetrics' weekly/daily value), in (0, 1).
    min_obs : int
        Returns :meth:`fit` needs (the backcast's window by default).

    Attributes
    ----------
    backcast_ : float
        The pre-sample variance (fraction^2 per week).
    n_obs_ : int
        Returns of the last fit.
    """

    def __init__(self, lam: float = RISKMETRICS_LAMBDA, min_obs: int = BACKCAST_OBS):
        self.lam = lam
        self.min_obs = min_obs

    @classmethod
    def from_config(cls, config, warm_start: bool = False) -> "EWMAVolatility":
        """The model with the stage-1 defaults (``lam`` 0.94).

        Parameters
        ----------
        config : Stage1Config
            The stage-1 configuration (unused beyond the defaults).
        warm_start : bool
            Unused: nothing is estimated, so a refit has nothing to start from.

        Returns
        -------
        EWMAVolatility
        """
        return cls()

    def fit(self, X, y=None) -> "EWMAVolatility":
        """Take the backcast from the first returns of the sample (nothing else is estimated).

        Parameters
        ----------
        X : array-like, shape (n,) or (n, 1)
            One fund's weekly simple returns (fractions, oldest first; at least ``min_obs``).
        y : None
            Ignored (scikit-learn's signature).

        Returns
        -------
        EWMAVolatility
            ``self``.
        """
        if not 0.0 < self.lam < 1.0:
            raise InputError(f"EWMA lambda {self.lam} is outside (0, 1)", where="EWMAVolatility(lam=...)",
                             fix="use 0.94 (RiskMetrics)")
        r = _as_returns(X, self.min_obs, names.EWMA)
        self.backcast_ = ewma_backcast(r, self.lam)
        self.n_obs_ = len(r)
        return self

    def variances(self, returns) -> np.ndarray:
        """One-step variances ``h_0 .. h_n`` (``n + 1`` values; ``h_i`` uses ``returns[:i]``).

        Parameters
        ----------
        returns : ndarray
            Weekly simple returns (fractions, oldest first).

        Returns
        -------
        ndarray, shape (n + 1,)
            One-step variances (fraction^2 per week).
        """
        check_is_fitted(self)
        return ewma_variances(np.asarray(returns, dtype=float) ** 2, self.lam, self.backcast_)

    def forecast_variance(self, returns, horizon: int) -> np.ndarray:
        """Flat forecasts: every week of the month gets the one-step variance.

        Parameters
        ----------
        returns : ndarray
            Weekly simple returns (fractions, oldest first).
        horizon : int
            Weeks forecast from each origin.

        Returns
        -------
        ndarray, shape (n + 1, horizon)
            Variance forecasts (fraction^2 per week); row ``i`` uses ``returns[:i]``.
        """
        check_is_fitted(self)
        return np.repeat(self.variances(returns)[:, None], horizon, axis=1)

    def diagnostics(self) -> dict:
        """The last fit: ``params`` (``lambda``, ``backcast``), ``loglik`` (NaN: not estimated by
        likelihood), ``n_obs`` and ``flags`` ("").

        Returns
        -------
        dict
        """
        check_is_fitted(self)
        return {"params": {"lambda": self.lam, "backcast": self.backcast_}, "loglik": float("nan"),
                "n_obs": self.n_obs_, "flags": ""}


class GJRGarchVolatility(BaseEstimator):
    """GJR-GARCH(1,1) with a constant mean, Gaussian likelihood: arch's model and objective.

    A scikit-learn estimator (parameters in ``__init__`` only, learned attributes end in ``_``)
    that is also a :class:`~qmtl_research.volatility.registry.VolatilityModel`.

    Parameters
    ----------
    min_obs : int
        Returns :meth:`fit` needs (>= 75 so arch's backcast uses estimation data only).
    warm_start : bool
        Also start a refit from the previous estimates (the best start wins), as scikit-learn's
        ``warm_start``.

    Attributes
    ----------
    params_ : ndarray
        ``mu, omega, alpha, gamma, beta`` in percent units (arch on ``100 r``).
    loglik_ : float
        arch's Gaussian log-likelihood of ``100 r`` at ``params_``.
    backcast_ : float
        arch's pre-sample variance (percent^2).
    n_obs_ : int
        Returns of the last fit.
    flags_ : str
        What went wrong in the last fit ("" when nothing).
    """

    PARAMS = ("mu", "omega", "alpha", "gamma", "beta")

    def __init__(self, min_obs: int = BACKCAST_OBS, warm_start: bool = True):
        self.min_obs = min_obs
        self.warm_start = warm_start

    @classmethod
    def from_config(cls, config, warm_start: bool = False) -> "GJRGarchVolatility":
        """The model with the GARCH settings' ``min_train_obs``.

        Parameters
        ----------
        config : Stage1Config
            The stage-1 configuration (``garch.min_train_obs``).
        warm_start : bool
            Start each refit also from the previous estimates (the walk-forward's refits).

        Returns
        -------
        GJRGarchVolatility
        """
        return cls(min_obs=config.garch.min_train_obs, warm_start=warm_start)

    @staticmethod
    def _model(returns):
        from arch import arch_model

        return arch_model(PCT * np.asarray(returns, dtype=float), mean="Constant", vol="GARCH", p=1, o=1, q=1,
                          dist="normal", rescale=False)

    def fit(self, X, y=None) -> "GJRGarchVolatility":
        """Estimate arch's model by :func:`~qmtl_research.volatility.gjr_likelihood.fit_gjr`
        (analytic gradient) from the 3 best points of arch's start grid and, for a refit, the
        previous estimates; arch's own fit when that optimum did not converge or its variances
        leave arch's bounds (then the better of the two).

        Parameters
        ----------
        X : array-like, shape (n,) or (n, 1)
            One fund's weekly simple returns (fractions, oldest first; at least ``min_obs``).
        y : None
            Ignored (scikit-learn's signature).

        Returns
        -------
        GJRGarchVolatility
            ``self`` (parameters in percent units, as arch on ``100 r``).
        """
        r = _as_returns(X, self.min_obs, names.GJR_GARCH)
        notes = self._estimate(r)
        self.n_obs_ = len(r)
        self.backcast_ = ewma_backcast(PCT * r - self.params_[0])     # arch's, from the fit sample
        alpha, gamma, beta = self.params_[2], self.params_[3], self.params_[4]
        if alpha + gamma / 2 + beta >= 0.999:
            notes.append("persistence alpha + gamma/2 + beta >= 0.999")
        self.flags_ = "; ".join(notes)
        return self

    def _estimate(self, r: np.ndarray) -> list[str]:
        """The estimation itself: sets ``params_`` and ``loglik_``, returns the notes for the flags."""
        from qmtl_research.volatility.gjr_likelihood import GJRSample, fit_gjr, grid_starts

        sample = GJRSample.of(PCT * r)
        starts = grid_starts(sample, GRID_STARTS)
        if self.warm_start and hasattr(self, "params_"):
            starts.append(self.params_)
        fit = fit_gjr(sample, starts)
        notes = []
        if fit.converged and fit.within_bounds:
            self.params_, self.loglik_ = fit.params, fit.loglik
        else:
            notes = self._fit_arch(r, fit)
            if fit.within_bounds and np.isfinite(fit.loglik) and fit.loglik > self.loglik_:
                self.params_, self.loglik_ = fit.params, fit.loglik
        return notes

    def _fit_arch(self, r, fit) -> list[str]:
        """arch's fit (its start values, then ``fit``'s optimum); keeps the better likelihood.
        Returns the notes for the flags."""
        from arch.utility.exceptions import ConvergenceWarning, DataScaleWarning

        model = self._model(r)
        starts = [None] + ([fit.params] if np.isfinite(fit.loglik) else [])
        best, notes = None, []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            warnings.simplefilter("always", DataScaleWarning)
            for start in starts:
                res = model.fit(disp="off", starting_values=start, options={"maxiter": 500})
                if best is None or res.loglikelihood > best.loglikelihood:
                    best = res
                if best.convergence_flag == 0:
                    break
        if any(issubclass(w.category, DataScaleWarning) for w in caught):
            notes.append("returns badly scaled for the optimiser")
        if best.convergence_flag != 0:
            notes.append(f"optimiser did not converge (flag {best.convergence_flag})")
        self.params_ = best.params.to_numpy(dtype=float)
        self.loglik_ = float(best.loglikelihood)
        return notes

    def variances(self, returns) -> np.ndarray:
        """One-step variances (percent^2) ``h_0 .. h_n`` with the fitted parameters, arch's recursion:
        ``h_t = omega + (alpha + gamma 1[e_t-1 < 0]) e_t-1^2 + beta h_t-1``, the pre-sample terms
        at the backcast (the indicator term at half of it).

        Parameters
        ----------
        returns : ndarray
            Weekly simple returns (fractions, oldest first).

        Returns
        -------
        ndarray, shape (n + 1,)
            One-step variances, percent^2 per week.
        """
        check_is_fitted(self)
        from scipy.signal import lfilter

        mu, omega, alpha, gamma, beta = self.params_
        e = PCT * np.asarray(returns, dtype=float) - mu
        h0 = omega + (alpha + gamma / 2 + beta) * self.backcast_
        drive = omega + (alpha + gamma * (e < 0)) * e * e
        tail = lfilter([1.0], [1.0, -beta], drive, zi=[beta * h0])[0]
        return np.concatenate([[h0], tail])

    def forecast_variance(self, returns, horizon: int) -> np.ndarray:
        """arch's analytic multi-step forecasts (``E h_t+k = omega + (alpha + gamma/2 + beta) E h_t+k-1``),
        every origin at once, in fraction^2.

        Parameters
        ----------
        returns : ndarray
            Weekly simple returns (fractions, oldest first).
        horizon : int
            Weeks forecast from each origin.

        Returns
        -------
        ndarray, shape (n + 1, horizon)
            Variance forecasts, fraction^2 per week; row ``i`` uses ``returns[:i]``.
        """
        check_is_fitted(self)
        _, omega, alpha, gamma, beta = self.params_
        out = np.empty((len(returns) + 1, horizon))
        out[:, 0] = self.variances(returns)
        for k in range(1, horizon):
            out[:, k] = omega + (alpha + gamma / 2 + beta) * out[:, k - 1]
        return out / PCT ** 2

    def diagnostics(self) -> dict:
        """The last fit: ``params`` (``mu, omega, alpha, gamma, beta``, percent units), ``loglik``
        (arch's, of ``100 r``), ``n_obs`` and ``flags`` (text; "" when nothing is wrong).

        Returns
        -------
        dict
        """
        check_is_fitted(self)
        return {"params": dict(zip(self.PARAMS, map(float, self.params_))), "loglik": self.loglik_,
                "n_obs": self.n_obs_, "flags": self.flags_}


def rolling_mean_before(x: np.ndarray, k: int) -> np.ndarray:
    """``m[i] = mean(x[i-k .. i-1])`` for ``i = 0 .. len(x)`` (NaN for ``i < k``).

    Parameters
    ----------
    x : ndarray
        A series (e.g. squared weekly returns).
    k : int
        Window length (observations).

    Returns
    -------
    ndarray, shape (len(x) + 1,)
    """
    c = np.concatenate([[0.0], np.cumsum(x)])
    out = np.full(len(x) + 1, np.nan)
    out[k:] = (c[k:] - c[:-k]) / k
    return out


class HARVolatility(BaseEstimator):
    """HAR on weekly realised-variance proxies (see the module docstring).

    A scikit-learn estimator (parameters in ``__init__`` only, learned attributes end in ``_``)
    that is also a :class:`~qmtl_research.volatility.registry.VolatilityModel`.

    Parameters
    ----------
    lags : tuple of int
        Weeks of the realised-variance proxies (1, 4 and 13: a week, a month, a quarter).
    horizon : int
        Weeks of the forecast month (the regression's target is their mean squared return).
    floor_share : float
        Lower bound of a forecast, as a share of the training sample's variance.
    min_obs : int
        Returns :meth:`fit` needs; :meth:`fit` also needs ``max(lags) + horizon + len(lags) + 5``
        (enough regression rows for the coefficients).

    Attributes
    ----------
    mean_ : float
        The training sample's mean return.
    params_ : ndarray
        OLS coefficients ``const, rv_1w, rv_4w, rv_13w``.
    floor_ : float
        The forecasts' lower bound (fraction^2 per week).
    n_floored_ : int
        In-sample fitted values below the floor.
    rsquared_ : float
        The regression's R^2.
    n_obs_ : int
        Returns of the last fit.
    """

    def __init__(self, lags: tuple[int, ...] = (1, 4, 13), horizon: int = TARGET_WINDOW, floor_share: float = 0.05,
                 min_obs: int = BACKCAST_OBS):
        self.lags = lags
        self.horizon = horizon
        self.floor_share = floor_share
        self.min_obs = min_obs

    @classmethod
    def from_config(cls, config, warm_start: bool = False) -> "HARVolatility":
        """The model with the stage-1 horizon and the GARCH settings' ``min_train_obs``.

        Parameters
        ----------
        config : Stage1Config
            The stage-1 configuration (``horizon``, ``garch.min_train_obs``).
        warm_start : bool
            Unused: least squares has no starting point.

        Returns
        -------
        HARVolatility
        """
        return cls(horizon=config.horizon, min_obs=config.garch.min_train_obs)

    def design(self, returns, mean: float) -> np.ndarray:
        """Regressors ``[1, RV_1, RV_4, RV_13]`` for origins ``0 .. n`` (row ``i`` uses ``returns[:i]``).

        Parameters
        ----------
        returns : ndarray
            Weekly simple returns (fractions, oldest first).
        mean : float
            The training sample's mean return, removed before squaring.

        Returns
        -------
        ndarray, shape (n + 1, 1 + len(lags))
            Realised variances in fraction^2 per week (NaN where a lag window is incomplete).
        """
        e2 = (np.asarray(returns, dtype=float) - mean) ** 2
        return np.column_stack([np.ones(len(e2) + 1), *[rolling_mean_before(e2, k) for k in self.lags]])

    def fit(self, X, y=None) -> "HARVolatility":
        """OLS (statsmodels) on the origins whose inputs and whole target month lie in the sample.

        Parameters
        ----------
        X : array-like, shape (n,) or (n, 1)
            One fund's weekly simple returns (fractions, oldest first; at least ``min_obs`` and
            ``max(lags) + horizon + len(lags) + 5``).
        y : None
            Ignored (scikit-learn's signature).

        Returns
        -------
        HARVolatility
            ``self``.
        """
        import statsmodels.api as sm

        lags = tuple(self.lags)
        r = _as_returns(X, max(self.min_obs, max(lags) + self.horizon + len(lags) + 5), names.HAR)
        self.mean_ = float(r.mean())
        x = self.design(r, self.mean_)
        e2 = (r - self.mean_) ** 2
        target = rolling_mean_before(e2, self.horizon)[self.horizon:]          # target[i] = mean e2[i..i+h-1]
        rows = np.arange(max(self.lags), len(r) - self.horizon + 1)
        if np.linalg.matrix_rank(x[rows]) < x.shape[1]:
            raise InputError("HAR: the realised-variance regressors are collinear (a constant or near-constant "
                             "series)", where="HARVolatility.fit", fix="leave the fund to the other models")
        fit = sm.OLS(target[rows], x[rows]).fit()
        self.params_ = np.asarray(fit.params, dtype=float)
        self.floor_ = self.floor_share * float(r.var(ddof=1))
        fitted = x[rows] @ self.params_
        self.n_floored_ = int((fitted < self.floor_).sum())
        self.rsquared_ = float(fit.rsquared)
        self.n_obs_ = len(r)
        return self

    def forecast_variance(self, returns, horizon: int) -> np.ndarray:
        """The fitted month's mean variance (floored), the same for each of its weeks.

        Parameters
        ----------
        returns : ndarray
            Weekly simple returns (fractions, oldest first).
        horizon : int
            Weeks forecast from each origin.

        Returns
        -------
        ndarray, shape (n + 1, horizon)
            Variance forecasts, fraction^2 per week; row ``i`` uses ``returns[:i]``.
        """
        check_is_fitted(self)
        if horizon != self.horizon:
            raise InputError(f"HAR was built for a {self.horizon}-week month, asked for {horizon}",
                             where="HARVolatility.forecast_variance", fix="build it with horizon=...")
        v = self.design(returns, self.mean_) @ self.params_
        v = np.where(np.isfinite(v), np.maximum(v, self.floor_), np.nan)
        return np.repeat(v[:, None], horizon, axis=1)

    def diagnostics(self) -> dict:
        """The last fit: ``params`` (OLS coefficients and ``r2``), ``loglik`` (NaN: least squares), ``n_obs``
        (regression rows) and ``flags`` ("" when nothing is wrong).

        Returns
        -------
        dict
        """
        check_is_fitted(self)
        names = ["const", *[f"rv_{k}w" for k in self.lags]]
        flags = (f"{self.n_floored_} in-sample forecasts below the floor ({self.floor_share:g} x sample variance)"
                 if self.n_floored_ else "")
        return {"params": {**dict(zip(names, map(float, self.params_))), "r2": self.rsquared_},
                "loglik": float("nan"), "n_obs": self.n_obs_, "flags": flags}
