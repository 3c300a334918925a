"""Where things live. One function per location; nothing is created on import."""
from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The checkout root: ``$QMTL_RESEARCH_HOME``, else the folder above the package
    when it holds ``params/``, else the current working directory."""
    env = os.environ.get("QMTL_RESEARCH_HOME")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parent.parent
    if (here / "params").is_dir():
        return here
    return Path.cwd().resolve()


def params_dir() -> Path:
    return project_root() / "params"


def notebooks_dir() -> Path:
    return project_root() / "notebooks"


def data_dir() -> Path:
    return project_root() / "data"


def reports_dir() -> Path:
    return Path(os.environ.get("QMTL_REPORTS_DIR", project_root() / "reports")).resolve()


def cache_dir() -> Path:
    return project_root() / ".cache"


def default_store_path() -> Path:
    """SQLite file used when ``QMTL_STORE_URL`` is not set."""
    return data_dir() / "evaluation_store.sqlite"
