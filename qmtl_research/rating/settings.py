"""Stage-2 settings (``params/rating/settings.yaml``), validated with pydantic."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from qmtl_research.errors import ConfigError

from qmtl_research.paths import params_dir
from qmtl_research.grades import DEFAULT_SCHEME, GradingScheme, load_scheme, load_schemes
from qmtl_research.yamlio import load_model

#: the SVC kernels: display name -> sklearn's kernel name
KERNELS = {"RBF": "rbf", "Sigmoid": "sigmoid", "Linear": "linear", "Poly": "poly"}


class RatingSettings(BaseModel):
    """Stage-2 settings; every field's default is declared here (``params/rating/settings.yaml`` overrides).

    Attributes
    ----------
    grading, schemes : str, list of str
        The scheme predicted and the schemes shown side by side (``params/grading/<id>.yaml``).
    window_weeks, horizon_weeks, horizons : int, int, list of int
        Grading window and prediction horizons (weeks).
    stage1_model : str
        Stage-1 model feeding the blended std.
    kernels, param_grid, inner_folds, outer_folds : list, dict, int, int
        The SVM hyper-parameters (declared here only).
    split, label, min_train : str, str, int
        Outer split, target grade, fewest training samples of a walk-forward fold.
    screen_threshold : float
        Pearson |r| threshold of the input screen.
    risk_free_weekly : float
        Weekly risk-free rate (fraction).
    missing_benchmark : str
        Treatment of funds without a benchmark.
    exact_kernel_max_samples, nystroem_components, nystroem_seed : int, int, int
        Above ``exact_kernel_max_samples`` training samples an SVC is fitted on a kernel approximation
        (:mod:`qmtl_research.rating.kernel_approx`: Nystroem features of ``nystroem_components``
        landmarks drawn with ``nystroem_seed``, then a linear SVM) instead of the exact kernel.
    approximation_check_samples : int
        Size of the random subset on which, when the approximation is used, the exact and the
        approximated fits are compared on the same folds.
    """
    model_config = ConfigDict(extra="forbid")

    grading: str = Field(DEFAULT_SCHEME, description="the grading scheme stage 2 predicts (params/grading/<id>.yaml)")
    schemes: list[str] = Field(default_factory=lambda: [DEFAULT_SCHEME, "ucits-srri", "priips-mrm"], min_length=1,
                               description="schemes whose grades are shown side by side")
    window_weeks: int = Field(156, ge=10)
    horizon_weeks: int = Field(4, ge=1)
    horizons: list[int] = Field(default_factory=lambda: [4, 13, 52], min_length=1)
    stage1_model: str | None = Field(
        None, description="the stage-1 model whose walk-forward forecasts feed the blended std: None (default) = the "
                          "stage-1 run's validated_model (Stage1Config, its one declaration); a name given here "
                          "must be that model (qmtl_research.pipeline.resolve_stage1_model refuses another)")
    kernels: list[str] = Field(default_factory=lambda: list(KERNELS), min_length=1)
    param_grid: dict[str, list[float | str]] = Field(
        default_factory=lambda: {"C": [1.0, 10.0, 100.0], "gamma": ["scale", 1.0]})
    inner_folds: int = Field(3, ge=2)
    outer_folds: int = Field(4, ge=2)
    split: Literal["walk_forward", "kfold"] = "walk_forward"
    label: Literal["computed", "disclosed"] = Field(
        "computed", description="the grade to predict: computed (Table 1 on the 156-week std, every settlement) or "
                                "disclosed (the grade in the prospectus, the paper's target: one per fund, latest settlement)")
    min_train: int = Field(20, ge=2, description="walk-forward folds with fewer training samples are skipped")
    screen_threshold: float = Field(0.1, ge=0, lt=1)
    risk_free_weekly: float = 0.0
    missing_benchmark: Literal["challengers", "exclude", "error"] = Field(
        "challengers", description="samples of funds without a benchmark: challengers = scored by the rule and "
                                   "persistence only (the SVCs need TE/IR/beta); exclude = listed; error = refused")
    exact_kernel_max_samples: int = Field(
        30_000, ge=0, description="largest training set an SVC is fitted on with its exact kernel; above it the "
                                  "Nystroem approximation + a linear SVM (exact kernel SVMs grow quadratically; "
                                  "benchmarks/bench_stage2_scale.py: one tuned RBF fit took 40.6 s exact vs 61.2 s "
                                  "approximated at 20,000 samples, exact time ~ n^1.9, so the approximation pays "
                                  "off from about 30,000)")
    nystroem_components: int = Field(300, ge=1, description="landmarks (features) of the Nystroem approximation")
    nystroem_seed: int = Field(0, ge=0, description="seed of the Nystroem landmarks")
    approximation_check_samples: int = Field(
        2000, ge=20, description="random subset on which the exact and the approximated fits are compared "
                                 "(same folds) when the approximation is used")

    @field_validator("kernels")
    @classmethod
    def _kernels(cls, v: list[str]) -> list[str]:
        bad = [k for k in v if k not in KERNELS]
        if bad:
            raise ValueError(f"unknown kernels {bad}; use {list(KERNELS)}")
        return v

    @field_validator("stage1_model")
    @classmethod
    def _stage1_model(cls, v: str | None) -> str | None:
        from qmtl_research.volatility import registry

        if v is not None and v not in registry.names():
            raise ValueError(f"unknown stage-1 model {v!r}; use one of {list(registry.names())}")
        return v

    @field_validator("param_grid")
    @classmethod
    def _grid(cls, v: dict) -> dict:
        bad = set(v) - {"C", "gamma", "degree", "coef0"}
        if bad:
            raise ValueError(f"unknown grid parameters {sorted(bad)}; use C, gamma, degree, coef0")
        for name, values in v.items():
            if not values:
                raise ValueError(f"grid parameter {name} has no values")
            for x in values:
                if isinstance(x, str) and not (name == "gamma" and x in ("scale", "auto")):
                    raise ValueError(f"grid value {x!r} of {name} is not a number"
                                     + (" (gamma also accepts 'scale' or 'auto')" if name == "gamma" else ""))
        return v

    def load_grade_table(self) -> GradingScheme:
        """The scheme named by ``grading`` (stage 2's labels, rule and warnings)."""
        return load_scheme(self.grading)

    def load_schemes(self) -> dict[str, GradingScheme]:
        """``grading`` first, then the other ``schemes``, in order."""
        return load_schemes([self.grading, *[s for s in self.schemes if s != self.grading]])


def setting_default(name: str):
    """The default of one stage-2 setting, declared once on :class:`RatingSettings`.

    Parameters
    ----------
    name : str
        A field of :class:`RatingSettings` (e.g. ``"param_grid"``, ``"inner_folds"``).

    Returns
    -------
    object
        A fresh copy of the field's default (a new dict/list for mutable defaults).
    """
    return RatingSettings.model_fields[name].get_default(call_default_factory=True)


def load_rating_settings(path: str | Path | None = None, **overrides) -> RatingSettings:
    """Load ``params/rating/settings.yaml`` (or ``path``); errors name file:line and field.

    ``overrides`` (a notebook's or a strategy's parameters; ``None`` values are ignored) replace
    settings of the file and are validated the same way (ConfigError naming the field).

    Parameters
    ----------
    path : str or pathlib.Path, optional
        Settings file; None: ``params/rating/settings.yaml``.
    **overrides
        Settings replacing the file's (None values ignored).

    Returns
    -------
    RatingSettings

    Raises
    ------
    ConfigError
        An unknown field or an invalid value (naming the file and field).
    """
    where = Path(path) if path else params_dir() / "rating" / "settings.yaml"
    settings = load_model(RatingSettings, where, "rating settings")
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return settings
    unknown = sorted(set(given) - set(RatingSettings.model_fields))
    if unknown:
        raise ConfigError(f"unknown stage-2 setting(s) {unknown}", where="rating settings overrides",
                          fix=f"use fields of {where.name}: {', '.join(RatingSettings.model_fields)}")
    try:
        return RatingSettings.model_validate({**settings.model_dump(), **given})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"stage-2 setting {'.'.join(map(str, err['loc']))}: {err['msg']}",
                          where=f"overrides of {where.name}", fix="give a value of the documented type") from None
