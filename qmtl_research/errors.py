"""Errors meant for people: what was wrong, where, and what to do."""
from __future__ import annotations


class QMTLResearchError(Exception):
    """Base class of every error this package raises on purpose.

    Parameters
    ----------
    what:
        What is wrong, in one sentence.
    where:
        Where it is: file, line, field, fund id, cell ... (optional).
    fix:
        What the user should do about it (optional).
    """

    exit_code = 2

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None):
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.__str__())

    def __str__(self) -> str:  # noqa: D105
        parts = [self.what]
        if self.where:
            parts.append(f"  where: {self.where}")
        if self.fix:
            parts.append(f"  fix:   {self.fix}")
        return "\n".join(parts)


class InputError(QMTLResearchError):
    """Bad input data (a returns file, a run export, a CLI argument)."""


class ConfigError(QMTLResearchError):
    """Bad or unknown configuration (strategy, world, policy, model card)."""


class StoreError(QMTLResearchError):
    """The Evaluation Store refused an operation (e.g. changing an evaluated run)."""


class NotebookFailed(QMTLResearchError):
    """A notebook failed while papermill executed it."""

    exit_code = 1
