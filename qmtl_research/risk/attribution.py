"""Factor attribution: which factors earned the strategy's return.

Exposures are OLS betas (statsmodels) of strategy returns on factor returns
with an intercept, over the period's common dates. Attribution is additive in
**summed** (arithmetic) returns over the period::

    sum_t r_t = alpha * n + sum_k beta_k * sum_t f_{k,t} + sum_t e_t

``contribution_k = beta_k * sum_t f_{k,t}``; the ``alpha`` row holds
``alpha * n`` and the ``residual`` row ``sum_t e_t`` (zero up to rounding for
in-sample OLS with an intercept), so the contributions add up exactly to the
``total`` (the sum of the strategy's returns). Compounded total return differs
from the summed one by the compounding cross terms (reported as
``compounding`` in ``AttributionResult``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm

from qmtl_research.errors import InputError
from qmtl_research.risk.input_checks import check_frame


@dataclass
class AttributionResult:
    """A factor attribution (see the module docstring); returns are fractions, summed over the period.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per factor, then ``alpha`` and ``residual``: ``factor``, ``exposure`` (OLS beta;
        the intercept per period for ``alpha``), ``factor_return`` (the factor's summed return),
        ``contribution`` (fraction; the rows add up to ``total``) and ``t_stat``.
    total : float
        Sum of the strategy's returns over the period (fraction).
    compounded_total : float
        ``prod(1 + r) - 1`` over the period (fraction).
    r_squared : float
        The regression's R².
    n : int
        Number of common dates used.
    start_date, end_date : str
        First and last common date, ISO ``YYYY-MM-DD``.
    """

    table: pd.DataFrame          # factor, exposure, factor_return, contribution, t_stat
    total: float                 # sum of strategy returns over the period
    compounded_total: float      # prod(1 + r) - 1
    r_squared: float
    n: int
    start_date: str
    end_date: str

    @property
    def compounding(self) -> float:
        """Compounded minus summed total return (fraction): the compounding cross terms."""
        return self.compounded_total - self.total


def factor_attribution(returns: pd.Series, factors: pd.DataFrame, *, min_samples: int = 30) -> AttributionResult:
    """OLS factor attribution of ``returns`` on ``factors`` (see module docstring).

    Parameters
    ----------
    returns : Series (DatetimeIndex), per-period simple returns (fractions)
    factors : DataFrame (DatetimeIndex x factor), per-period factor returns
    min_samples : int
        Refuse (InputError) with fewer common dates.
    """
    data = pd.concat([returns.rename("__y__"), factors], axis=1, join="inner")
    if data.shape[0] < min_samples:
        raise InputError(f"only {data.shape[0]} dates common to the returns and the factors (< {min_samples})",
                         where="attribution", fix="use factors covering the strategy's period")
    check_frame(data, where="attribution input")
    y, X = data["__y__"], data.drop(columns="__y__")
    fit = sm.OLS(y.to_numpy(), sm.add_constant(X.to_numpy(), has_constant="add")).fit()
    betas = fit.params[1:]
    f_sum = X.sum().to_numpy()
    rows = [{"factor": str(c), "exposure": float(b), "factor_return": float(fs), "contribution": float(b * fs),
             "t_stat": float(t)} for c, b, fs, t in zip(X.columns, betas, f_sum, fit.tvalues[1:])]
    n = data.shape[0]
    rows.append({"factor": "alpha", "exposure": float(fit.params[0]), "factor_return": np.nan,
                 "contribution": float(fit.params[0] * n), "t_stat": float(fit.tvalues[0])})
    rows.append({"factor": "residual", "exposure": np.nan, "factor_return": np.nan,
                 "contribution": float(fit.resid.sum()), "t_stat": np.nan})
    return AttributionResult(pd.DataFrame(rows), float(y.sum()), float(np.prod(1.0 + y.to_numpy()) - 1.0),
                             float(fit.rsquared), n, data.index[0].date().isoformat(),
                             data.index[-1].date().isoformat())
