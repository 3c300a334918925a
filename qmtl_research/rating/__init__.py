"""Stage 2 of the fund risk-rating model: regulatory grades, features, SVC, challengers,
early warning.

Main entry points: :func:`load_grade_table` (Table 1 as data), :func:`make_labels`,
:func:`build_rating_dataset` (features at the prediction date, with a pluggable stage-1
forecaster), :func:`pearson_screen` (Figure 7), :class:`GradeSVC` and the challengers,
:func:`evaluate` / :func:`scores` / :func:`verdict`, :func:`run_rating_study` (everything,
every horizon, on the stage-1 forecast panel) and :func:`warnings_by_horizon`.
"""
from qmtl_research.rating.early_warning import (EARLY_WARNING_COLUMNS, early_warning, export_early_warning,
                                                warnings_by_horizon)
from qmtl_research.rating.evaluation import (Evaluation, confusion_long, evaluate, make_approaches,
                                             outer_folds, per_grade, scores, verdict)
from qmtl_research.rating.features import CANDIDATE_FEATURES, RatingDataset, build_rating_dataset
from qmtl_research.rating.forecasters import Forecaster, PanelForecaster
from qmtl_research.grades import GradeTable, load_grade_table
from qmtl_research.rating.labels import compare_disclosed, make_labels
from qmtl_research.rating.models import GradeSVC, PersistenceClassifier, RegulatoryRuleClassifier
from qmtl_research.rating.screen import ScreenResult, pearson_screen
from qmtl_research.rating.settings import RatingSettings, load_rating_settings
from qmtl_research.rating.study import RatingStudy, labels_summary, run_rating_study, study_results

__all__ = [
    "EARLY_WARNING_COLUMNS", "early_warning", "export_early_warning", "warnings_by_horizon", "Evaluation",
    "confusion_long", "evaluate", "make_approaches", "outer_folds", "per_grade", "scores", "verdict",
    "CANDIDATE_FEATURES", "RatingDataset", "build_rating_dataset", "Forecaster", "PanelForecaster", "GradeTable", "load_grade_table", "compare_disclosed",
    "make_labels", "GradeSVC", "PersistenceClassifier", "RegulatoryRuleClassifier", "ScreenResult",
    "pearson_screen", "RatingSettings", "load_rating_settings", "RatingStudy", "labels_summary", "study_results",
    "run_rating_study",
]
