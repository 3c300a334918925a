"""One plotting style for notebooks and reports (crisp PNGs, Hangul-capable font)."""
from __future__ import annotations

import matplotlib


def setup(dpi: int = 110) -> None:
    """Seaborn whitegrid style, NanumGothic fallback for Hangul, PNG at ``dpi``."""
    import koreanize_matplotlib  # noqa: F401  (registers NanumGothic)
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    plt.rcParams.update({
        "figure.dpi": dpi, "savefig.dpi": dpi, "figure.figsize": (8, 3.6),
        "font.family": ["DejaVu Sans", "NanumGothic"], "axes.unicode_minus": False,
        "axes.titlesize": 11, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8,
        "legend.fontsize": 8, "svg.hashsalt": "qmtl",
    })
    matplotlib.rcParams["figure.autolayout"] = True
