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


def annotated_matrix(ax, values, *, fmt: str, cmap: str, xticklabels, yticklabels, vmin=None, vmax=None,
                     colorbar_label: str | None = None, fontsize: float = 8):
    """A heatmap with each cell's value written in it (dark text on light cells, white on dark).

    Seaborn's ``heatmap(annot=True)`` looks the same but redraws the whole figure for every
    matrix to pick its text colours (six full draws for the confusion grid); this draws once.
    ``values`` is a 2-D array or DataFrame, row 0 at the top."""
    import matplotlib.pyplot as plt
    import numpy as np

    data = np.asarray(values, dtype=float)
    mesh = ax.pcolormesh(data, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_xlim(0, data.shape[1])
    ax.set_ylim(data.shape[0], 0)
    ax.set_xticks(np.arange(data.shape[1]) + 0.5, list(xticklabels))
    ax.set_yticks(np.arange(data.shape[0]) + 0.5, list(yticklabels))
    ax.grid(False)
    colours = mesh.cmap(mesh.norm(data))
    for (i, j), v in np.ndenumerate(data):
        if np.isfinite(v):
            r, g, b, _ = colours[i, j]
            light = 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.408   # relative luminance, seaborn's cut
            ax.text(j + 0.5, i + 0.5, format(int(v) if fmt == "d" else v, fmt), ha="center", va="center",
                    fontsize=fontsize, color="0.15" if light else "white")
    if colorbar_label is not None:
        plt.colorbar(mesh, ax=ax, label=colorbar_label)
    return mesh
