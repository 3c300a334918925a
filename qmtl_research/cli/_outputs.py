"""One check for every ``--out FILE`` option, made before anything is computed."""
from __future__ import annotations

from pathlib import Path

from qmtl_research.errors import InputError


def check_out(out: Path | None, *, force: bool | None = None, option: str = "--out") -> None:
    """Refuse an output file that cannot be written, before the command computes anything.

    Parameters
    ----------
    out:
        The file the command will write (None: stdout, nothing to check).
    force:
        None when the command has no ``--force`` (an existing file is replaced); else whether
        ``--force`` was given (an existing file without it is refused).
    option:
        The option's name, for the message.

    Raises
    ------
    InputError
        ``out`` is a directory, its folder does not exist (or is a file), or it exists and
        ``force`` is False.
    """
    if out is None:
        return
    if out.is_dir():
        raise InputError(f"{out} is a directory, not a file", where=option,
                         fix=f"name a file inside it, e.g. {out / 'output.csv'}")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"the folder {parent} of {out} does not exist", where=option,
                         fix=f"create it first (mkdir -p {parent}) or write elsewhere")
    if force is False and out.exists():
        raise InputError(f"{out} exists", where=option, fix="choose another file or pass --force to replace it")
