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
from qmtl_research.rating.evaluation import (Evaluation, confusion_long, evaluate, make_approaches,
                                             per_grade, scores, verdict)
from qmtl_research.rating.features import RatingDataset, build_rating_dataset
from qmtl_research.rating.forecasters import Forecaster, make_forecaster
from qmtl_research.rating.grades import GradeTable
from qmtl_research.rating.screen import ScreenResult, pearson_screen
from qmtl_research.rating.settings import RatingSettings


@dataclass
class HorizonResult:
    dataset: RatingDataset
    screen: ScreenResult
    evaluation: Evaluation
    table: pd.DataFrame


@dataclass
class RatingStudy:
    settings: RatingSettings
    grade_table: GradeTable
    results: dict[int, HorizonResult] = field(default_factory=dict)

    @property
    def default(self) -> HorizonResult:
        return self.results[self.settings.horizon_weeks]

    @property
    def table4(self) -> pd.DataFrame:
        return self.default.table

    def horizons_table(self) -> pd.DataFrame:
        rows = []
        for h, res in sorted(self.results.items()):
            for approach, r in res.table.iterrows():
                rows.append((h, approach, r["accuracy"], r["macro_f1"], len(res.dataset)))
        return pd.DataFrame(rows, columns=["horizon_weeks", "approach", "accuracy", "macro_f1", "n_samples"])

    def confusion(self) -> pd.DataFrame:
        ev = self.default.evaluation
        return confusion_long(ev.predictions, self.grade_table.grade_numbers)

    def per_grade(self) -> pd.DataFrame:
        return per_grade(self.default.evaluation.predictions, self.grade_table.grade_numbers)

    def exclusions(self) -> pd.DataFrame:
        """Exclusions of every horizon, with the horizon."""
        parts = [r.dataset.exclusions.assign(horizon_weeks=h) for h, r in sorted(self.results.items())]
        return pd.concat(parts, ignore_index=True)

    def verdict(self) -> tuple[dict, str]:
        return verdict(self.table4)

    def summary(self) -> dict:
        fields, _ = self.verdict()
        return {**fields, "horizon_weeks": self.settings.horizon_weeks, "split": self.settings.split,
                "n_samples": int(len(self.default.dataset)),
                "n_test_predictions": int(self.default.evaluation.predictions["row"].nunique()),
                "features": list(self.default.screen.selected),
                "stage1_model": self.settings.stage1_model}


def run_rating_study(panel: FundPanel, settings: RatingSettings, seed: int = 42,
                     forecaster: Forecaster | None = None, progress: bool = True,
                     n_jobs: int = 1) -> RatingStudy:
    """Run stage 2 for every horizon of ``settings`` (the default horizon included)."""
    grade_table = settings.load_grade_table()
    forecaster = forecaster or make_forecaster(settings.stage1_model, seed=seed, progress=progress,
                                               n_jobs=n_jobs)
    horizons = sorted(set(settings.horizons) | {settings.horizon_weeks})
    study = RatingStudy(settings, grade_table)
    for h in horizons:
        ds = build_rating_dataset(panel, grade_table, h, forecaster, settings.window_weeks,
                                  settings.risk_free_weekly, settings.missing_benchmark, progress)
        if len(ds) == 0:
            raise InputError(f"no stage-2 samples at horizon {h} weeks", where=f"panel {panel.label()}",
                             fix=f"funds need {settings.window_weeks + h} observed weeks before a "
                                 f"settlement; use a longer history or a shorter horizon")
        screen = pearson_screen(ds.frame, settings.screen_threshold)
        approaches = make_approaches(grade_table, screen.selected, settings.kernels, settings.param_grid,
                                     settings.inner_folds, seed, n_jobs)
        ev = evaluate(ds.frame, approaches, settings.split, settings.outer_folds, seed, progress,
                      min_train=settings.min_train)
        study.results[h] = HorizonResult(ds, screen, ev, scores(ev.predictions))
    return study
