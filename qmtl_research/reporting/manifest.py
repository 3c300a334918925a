"""The manifest of a report version: everything needed to know how it was made."""
from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import json
import platform
import subprocess
from pathlib import Path

from qmtl_research.paths import project_root
from qmtl_research.reporting.versions import sha256_file

PACKAGES = ("qmtl-research", "numpy", "pandas", "scipy", "statsmodels", "arch", "keras", "jax", "scikit-learn",
            "matplotlib", "seaborn", "papermill", "nbconvert", "pydantic", "SQLAlchemy", "skfolio",
            "pypandoc-binary", "typst")


def git_state(root: Path | None = None) -> dict:
    """{"commit": sha or None, "dirty": bool or None} of the checkout."""
    root = root or project_root()

    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)

    head = git("rev-parse", "HEAD")
    if head.returncode != 0:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out


def file_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "manifest.json" and "_build" not in p.parts}


def build_manifest(**fields) -> dict:
    return {"created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "git": git_state(), "packages": package_versions(), **fields}


def write_manifest(folder: Path, manifest: dict) -> Path:
    path = folder / "manifest.json"
    with open(path, "x", encoding="utf-8") as fh:  # "x": never overwrite
        json.dump(manifest, fh, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return path
