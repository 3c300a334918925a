"""The whole stage-2 study in one call (what the notebook, CLI and benchmark run).

For each horizon: samples -> Pearson screen -> outer split -> the four tuned SVCs and
both challengers -> scores. The default horizon gives Table 4, the confusion
matrices, the per-grade precision/recall and the computed verdict.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from qmtl_research.data.panel import FundPanel
from qmtl_research.errors import InputError
from qmtl_research.rating.evaluation import (PERSISTENCE, RULE, Evaluation, common, confusion_long, evaluate,
                                             make_approaches, outer_folds, per_grade, scored_by_approach, scores,
                                             verdict)
from qmtl_research.rating.features import RatingDataset, attach_forecasts, candidate_samples
from qmtl_research.rating import kernel_approx
from qmtl_research.rating.forecasters import Forecaster
from qmtl_research.grades import GradeTable
from qmtl_research.rating.screen import ScreenResult, pearson_screen
from qmtl_research.rating.settings import RatingSettings
from qmtl_research.results import LABEL_COMPARISON_COUNT_ROW, RatingResults


@dataclass
class HorizonResult:
    """One horizon. ``evaluation`` is None when the split leaves no usable fold at this
    horizon (``note`` says why, ``fold_log`` lists the skipped folds).

    Attributes
    ----------
    dataset : RatingDataset
        The horizon's samples.
    screen : ScreenResult
        The input screen.
    evaluation : Evaluation or None
        The outer-fold evaluation.
    table : pandas.DataFrame
        Accuracy, macro-F1 and share off by more than one grade (fractions) by approach.
    fold_log : pandas.DataFrame
        The folds, skipped ones included.
    note : str
        Why there is no evaluation, if so.
    approximation : pandas.DataFrame or None
        When an SVC was fitted on the kernel approximation: exact vs approximated accuracy on a
        subset (:func:`~qmtl_research.rating.kernel_approx.approximation_check`).
    """

    dataset: RatingDataset
    screen: ScreenResult
    evaluation: Evaluation | None
    table: pd.DataFrame
    fold_log: pd.DataFrame
    note: str = ""
    approximation: pd.DataFrame | None = None


@dataclass
class RatingStudy:
    """Stage 2 over every horizon of the settings; the default horizon gives the verdict.

    Attributes
    ----------
    settings : RatingSettings
        The settings the study ran with.
    grade_table : GradeTable
        The scheme predicted.
    results : dict of int to HorizonResult
        One result per horizon (weeks).
    n_jobs : int
        The grid searches' joblib workers; the SVCs fitted after the study (label comparison, early
        warnings, calibration) use them too.
    backend : str or None
        Their joblib backend (None: joblib's default; ``"dask"``: :mod:`qmtl_research.parallel`).
    """
    settings: RatingSettings
    grade_table: GradeTable
    results: dict[int, HorizonResult] = field(default_factory=dict)
    n_jobs: int = 1
    backend: str | None = None

    @property
    def default(self) -> HorizonResult:
        """The result at the settings' horizon (``settings.horizon_weeks``)."""
        return self.results[self.settings.horizon_weeks]

    @property
    def table4(self) -> pd.DataFrame:
        """Table 4: the scores by approach at the settings' horizon (:attr:`default`'s table)."""
        return self.default.table

    def horizons_table(self) -> pd.DataFrame:
        """Every horizon's scores by approach, NaN at a horizon without a usable fold.

        Returns
        -------
        pandas.DataFrame
            ``horizon_weeks, approach, accuracy, macro_f1`` (fractions), ``n_samples, n_test, note``.
        """
        rows = []
        for h, res in sorted(self.results.items()):
            n_test = 0 if res.evaluation is None else int(common(res.evaluation.predictions)["row"].nunique())
            if res.evaluation is None:
                rows += [(h, a, float("nan"), float("nan"), len(res.dataset), 0, res.note)
                         for a in [*self.settings.kernels, RULE, PERSISTENCE]]
                continue
            for approach, r in res.table.iterrows():
                rows.append((h, approach, r["accuracy"], r["macro_f1"], len(res.dataset), n_test, res.note))
        return pd.DataFrame(rows, columns=["horizon_weeks", "approach", "accuracy", "macro_f1", "n_samples",
                                           "n_test", "note"])

    def confusion(self) -> pd.DataFrame:
        """Confusion counts of every approach at the default horizon.

        Returns
        -------
        pandas.DataFrame
            :func:`~qmtl_research.rating.evaluation.confusion_long` of the default horizon.
        """
        ev = self.default.evaluation
        return confusion_long(ev.predictions, self.grade_table.grade_numbers)

    def per_grade(self) -> pd.DataFrame:
        """Per-grade precision and recall of every approach at the default horizon.

        Returns
        -------
        pandas.DataFrame
            :func:`~qmtl_research.rating.evaluation.per_grade` of the default horizon.
        """
        return per_grade(self.default.evaluation.predictions, self.grade_table.grade_numbers)

    def scored(self) -> pd.DataFrame:
        """Test fund-settlements each approach scored at the default horizon (:func:`scored_by_approach`)."""
        return scored_by_approach(self.default.evaluation.predictions)

    def exclusions(self) -> pd.DataFrame:
        """Exclusions of every horizon, with the horizon."""
        parts = [r.dataset.exclusions.assign(horizon_weeks=h) for h, r in sorted(self.results.items())]
        return pd.concat(parts, ignore_index=True)

    def verdict(self) -> tuple[dict, str]:
        """Which approach wins at the default horizon.

        Returns
        -------
        (dict, str)
            :func:`~qmtl_research.rating.evaluation.verdict` of Table 4.
        """
        return verdict(self.table4)

    def summary(self) -> dict:
        """The study's summary fields (recorded as ``rating/summary``).

        Returns
        -------
        dict
            Verdict fields, horizon, split, sample counts, selected features, stage-1 model.
        """
        fields, _ = self.verdict()
        return {**fields, "horizon_weeks": self.settings.horizon_weeks, "split": self.settings.split,
                "n_samples": int(len(self.default.dataset)),
                "n_test_predictions": int(common(self.default.evaluation.predictions)["row"].nunique()),
                "n_test_challengers": int(self.default.evaluation.predictions["row"].nunique()),
                "features": list(self.default.screen.selected),
                "stage1_model": self.settings.stage1_model,
                **({"kernel_approximation": approx} if (approx := kernel_approx.summary(self.default.evaluation,
                                                                                       self.settings)) else {})}


def run_rating_study(panel: FundPanel, settings: RatingSettings, seed: int = 42,
                     *, forecaster: Forecaster, progress: bool = True,
                     n_jobs: int = 1, backend: str | None = None) -> RatingStudy:
    """Run stage 2 for every horizon of ``settings`` (the default horizon included); the SVC
    grid searches on ``n_jobs`` joblib workers of ``backend`` (``"dask"``: see
    :mod:`qmtl_research.parallel`).

    Parameters
    ----------
    panel : FundPanel
        Weekly returns (simple, fractions; W-FRI) and fund metadata.
    settings : RatingSettings
        Stage-2 settings.
    seed : int, default 42
        Seed of the folds and SVCs.
    forecaster : Forecaster
        Stage 1's forecasts.
    progress : bool, default True
        Show progress bars.
    n_jobs : int, default 1
        Grid-search workers.
    backend : str, optional
        joblib backend.

    Returns
    -------
    RatingStudy
    """
    grade_table = settings.load_grade_table()
    horizons = sorted(set(settings.horizons) | {settings.horizon_weeks})
    study = RatingStudy(settings, grade_table, n_jobs=n_jobs, backend=backend)
    # one stage-1 call for the samples of every horizon (a learned stage 1 is trained once per year)
    candidates = {h: candidate_samples(panel, grade_table, h, settings.window_weeks, settings.risk_free_weekly,
                                       settings.missing_benchmark, progress, settings.label) for h in horizons}
    requests = [c.frame[["fund_id", "prediction_date"]] for c in candidates.values() if not c.frame.empty]
    forecasts = (forecaster(panel, pd.concat(requests, ignore_index=True).drop_duplicates(ignore_index=True))
                 if requests else pd.DataFrame(columns=["fund_id", "prediction_date", "forecast_vol_pct", "method"]))
    for h in horizons:
        cand = candidates[h]
        cand.notes["forecaster"] = getattr(forecaster, "name", repr(forecaster))
        ds = attach_forecasts(cand, forecasts, grade_table) if not cand.frame.empty else cand
        if len(ds) == 0:
            raise InputError(f"no stage-2 samples at horizon {h} weeks", where=f"panel {panel.label()}",
                             fix=f"funds need {settings.window_weeks + h} observed weeks before a "
                                 f"settlement; use a longer history or a shorter horizon")
        screen = pearson_screen(ds.frame, settings.screen_threshold)
        folds, log = outer_folds(ds.frame, settings.split, settings.outer_folds, seed, settings.min_train,
                                 allow_empty=h != settings.horizon_weeks)
        log = pd.DataFrame(log, columns=["fold", "n_train", "n_test", "note"])
        if not folds:  # only for a non-default horizon: reported, not evaluated
            note = (f"not evaluated: no {settings.split} fold has {settings.min_train} training samples "
                    f"settled before its first prediction ({len(ds)} samples)")
            study.results[h] = HorizonResult(ds, screen, None, pd.DataFrame(), log, note)
            continue
        approaches = make_approaches(grade_table, screen.selected, settings.kernels, settings.param_grid,
                                     settings.inner_folds, seed, n_jobs, backend,
                                     kernel_approx.svc_parameters(settings))
        ev = evaluate(ds.frame, approaches, settings.split, settings.outer_folds, seed, progress,
                      min_train=settings.min_train)
        check = None
        if ev.approximated and h == settings.horizon_weeks:   # its accuracy cost, on a subset fitted exactly too
            names = list(dict.fromkeys(a for a, _ in ev.approximated))
            check = kernel_approx.approximation_check(ds.frame, list(screen.selected),
                                                      {a: approaches[a] for a in names}, settings, seed)
        study.results[h] = HorizonResult(ds, screen, ev, scores(ev.predictions), log, approximation=check)
    return study


def labels_summary(panel: FundPanel, settings: RatingSettings) -> tuple[pd.DataFrame, dict]:
    """Labelled settlements by year x grade (counts) and the disclosed-vs-computed agreement
    of each fund's latest settlement (fraction; NaN when no fund discloses a grade).

    Parameters
    ----------
    panel : FundPanel
        Weekly returns (simple, fractions; W-FRI) and fund metadata.
    settings : RatingSettings
        Stage-2 settings (scheme and window).

    Returns
    -------
    (pandas.DataFrame, dict)
    """
    from qmtl_research.rating.labels import compare_disclosed, make_labels

    labels, _ = make_labels(panel, settings.load_grade_table(), settings.window_weeks)
    counts = labels.pivot_table(index="settlement_year", columns="grade", values="fund_id", aggfunc="count",
                                fill_value=0) if len(labels) else pd.DataFrame()
    counts.columns = [f"grade {c}" for c in counts.columns]
    disclosed = compare_disclosed(labels)
    agree = float((disclosed["difference"] == 0).mean()) if len(disclosed) else float("nan")
    return counts, {"n_labels": int(len(labels)), "disclosed_compared": int(len(disclosed)),
                    "disclosed_agreement": agree,
                    "disclosed_disagreeing": disclosed.loc[disclosed["difference"] != 0, "fund_id"].tolist()}


MIN_DISCLOSED = 20


def label_comparison(panel: FundPanel, settings: RatingSettings, forecaster: Forecaster, seed: int = 42,
                     verdict: RatingStudy | None = None, n_jobs: int | None = None,
                     backend: str | None = None) -> pd.DataFrame | None:
    """Accuracy by approach at the default horizon with the computed grade (the verdict's split, and
    the paper's shuffled K-fold) beside the **disclosed** grade as label (K-fold: one label per fund,
    so there is no earlier year to train on). None when fewer than ``MIN_DISCLOSED`` funds disclose.

    Parameters
    ----------
    panel : FundPanel
        Weekly returns (simple, fractions; W-FRI) and fund metadata.
    settings : RatingSettings
        Stage-2 settings.
    forecaster : Forecaster
        Stage 1's forecasts.
    seed : int, default 42
        Seed of the folds and SVCs.
    verdict : RatingStudy, optional
        The verdict's study (computed label, the settings' split): its accuracies become the
        first column.
    n_jobs, backend : optional
        The grid searches' joblib workers and backend (None: the verdict study's, else 1 and
        joblib's default); they do not change a number.

    Returns
    -------
    pandas.DataFrame or None
        Accuracies (fractions) by approach and design, and a count row.
    """
    n_disclosed = int(panel.metadata["disclosed_grade"].notna().sum()) if "disclosed_grade" in panel.metadata else 0
    if n_disclosed < MIN_DISCLOSED:
        return None
    if n_jobs is None:
        n_jobs = verdict.n_jobs if verdict is not None else 1
    if backend is None and verdict is not None:
        backend = verdict.backend
    one = {"horizons": [settings.horizon_weeks], "split": "kfold"}
    workers = {"n_jobs": n_jobs, "backend": backend}
    kfold = run_rating_study(panel, settings.model_copy(update=one), seed=seed, forecaster=forecaster, progress=False,
                             **workers)
    disclosed = run_rating_study(panel, settings.model_copy(update={**one, "label": "disclosed"}), seed=seed,
                                 forecaster=forecaster, progress=False, **workers)
    cols = {"computed label, kfold": kfold, "disclosed label, kfold": disclosed}
    if verdict is not None:
        cols = {f"computed label, {settings.split} (the verdict)": verdict, **cols}
    out = pd.DataFrame({name: st.table4["accuracy"] for name, st in cols.items()})
    out.index.name = "approach"
    # the accuracies' denominators: fund-settlements scored out of sample (not all samples: the
    # walk-forward split never scores its first settlement year)
    out.loc[LABEL_COMPARISON_COUNT_ROW] = [float(0 if st.default.evaluation is None else common(st.default.evaluation.predictions)["row"].nunique())
                                        for st in cols.values()]
    return out.reset_index()


def study_results(study: RatingStudy, early_warning_table: pd.DataFrame, grades: pd.DataFrame,
                  label_table: pd.DataFrame | None = None, not_scored: pd.DataFrame | None = None,
                  **summary_extra) -> RatingResults:
    """The section ``rating`` of the results contract (``summary_extra`` adds summary fields).

    Parameters
    ----------
    study : RatingStudy
        The evaluated study.
    early_warning_table : pandas.DataFrame
        The warning table.
    grades : pandas.DataFrame
        Labels by year x grade.
    label_table : pandas.DataFrame, optional
        :func:`label_comparison`'s table.
    not_scored : pandas.DataFrame, optional
        Funds without a warning decision.
    **summary_extra
        Extra summary fields.

    Returns
    -------
    RatingResults
    """
    _, text = study.verdict()
    summary = {**study.summary(), "verdict": text, **summary_extra}
    screen = study.default.screen
    screen_frame = pd.DataFrame({"feature": list(screen.with_reference.index),
                                 "abs_r_with_std": screen.with_reference.abs().to_numpy(dtype=float),
                                 "kept": [f in screen.selected for f in screen.with_reference.index]})
    ev = study.default.evaluation
    return RatingResults(
        config={**study.settings.model_dump(), "features_kept": list(screen.selected),
                "features_dropped": list(screen.dropped)},
        table4=study.table4,
        horizons=study.horizons_table()[["horizon_weeks", "approach", "accuracy", "macro_f1", "n_samples",
                                         "n_test", "note"]],
        pearson=screen.correlations, screen=screen_frame, confusion=study.confusion(),
        per_grade=study.per_grade(), best_params=ev.best_params, grades=grades, label_comparison=label_table,
        exclusions=study.exclusions(), early_warning=early_warning_table,
        early_warning_not_scored=not_scored if not_scored is not None else pd.DataFrame(columns=["fund_id", "reason"]),
        summary=summary, scored=study.scored(), approximation=study.default.approximation)
