"""Names that become paths: strategy, world, model-card and report-version identifiers.

A strategy id, a world id and a model-card name are file names under ``params/`` and folder names
under ``reports/``; user input (a CLI argument, a YAML field) must never choose a path outside the
project. One pattern, :data:`IDENTIFIER`, is checked where a name enters (the CLI via the loaders,
YAML via the pydantic models, the Python API via the loaders), and :func:`inside` checks every
output path after resolving it.
"""
from __future__ import annotations

import re
from pathlib import Path

from qmtl_research.errors import ConfigError

#: lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters
IDENTIFIER = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
IDENTIFIER_TEXT = "lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, 1-64 characters"


def is_identifier(name: object) -> bool:
    """Whether ``name`` is a string that matches :data:`IDENTIFIER` in full."""
    return isinstance(name, str) and IDENTIFIER.fullmatch(name) is not None


def check_identifier(name: object, label: str, where: str) -> str:
    """Return ``name`` when it is an identifier, else raise :class:`ConfigError` (exit 2)
    naming the ``label`` (e.g. ``"strategy"``) and ``where`` it came from."""
    if not is_identifier(name):
        raise ConfigError(f"{label} name {name!r} is not an identifier", where=where,
                          fix=f"use {IDENTIFIER_TEXT} (e.g. 'my-strategy')")
    return name  # type: ignore[return-value]


def inside(path: Path, root: Path, label: str) -> Path:
    """``path`` resolved, checked to lie under ``root`` (resolved); else :class:`ConfigError`."""
    resolved, base = Path(path).resolve(), Path(root).resolve()
    if resolved != base and base not in resolved.parents:
        raise ConfigError(f"{label} would be written outside its folder", where=str(base),
                          fix="use identifier names (no '/', '..' or absolute paths)")
    return resolved
