"""Report versions: ``reports/<strategy>/<world>/<version>/``.

Scheme: ``v0001``, ``v0002``, ... per (strategy, world), allocated by an atomic
``mkdir`` so that two reports rendered at the same time never get the same
folder and nothing is ever overwritten. The manifest inside each folder records
when, from what commit, data and parameters it was made.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from qmtl_research.identifiers import check_identifier, inside
from qmtl_research.paths import reports_dir

VERSION_RE = re.compile(r"^v(\d{4,})$")


def report_root(strategy: str, world: str) -> Path:
    """``reports/<strategy>/<world>/``: both names checked as identifiers (``_world``, the world
    summaries' folder, is the one reserved name), the path checked to stay under ``reports/``."""
    if strategy != "_world":
        check_identifier(strategy, "strategy", where="report folder")
    check_identifier(world, "world", where="report folder")
    return inside(reports_dir() / strategy / world, reports_dir(), "report folder")


def existing_versions(strategy: str, world: str) -> list[str]:
    root = report_root(strategy, world)
    if not root.is_dir():
        return []
    found = [p.name for p in root.iterdir() if p.is_dir() and VERSION_RE.match(p.name)]
    return sorted(found, key=lambda v: int(VERSION_RE.match(v).group(1)))


def allocate_version(strategy: str, world: str) -> tuple[str, Path]:
    """Create and return the next free version folder (atomic under concurrency)."""
    root = report_root(strategy, world)
    root.mkdir(parents=True, exist_ok=True)
    versions = existing_versions(strategy, world)
    n = int(VERSION_RE.match(versions[-1]).group(1)) + 1 if versions else 1
    while True:
        version = f"v{n:04d}"
        path = root / version
        try:
            path.mkdir()
            return version, path
        except FileExistsError:
            n += 1


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
