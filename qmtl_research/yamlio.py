"""Safe YAML loading with error messages that point at the file and line.

``load_yaml`` only uses ``yaml.SafeLoader``. ``validate`` turns a pydantic
``ValidationError`` into a :class:`~qmtl_research.errors.ConfigError` whose
``where`` names ``file:line`` and the dotted field path for every problem.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from qmtl_research.errors import ConfigError, QMTLResearchError

M = TypeVar("M", bound=BaseModel)


def read_utf8(path: str | Path, what: str = "file", error: type[QMTLResearchError] = ConfigError) -> str:
    """The text of ``path``, which must be UTF-8 (YAML, JSON and CSV inputs all are): another
    encoding (e.g. CP949 / EUC-KR from Korean Windows) raises ``error`` naming the file, the byte
    line where decoding failed and how to convert it."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise error(f"the {what} is not UTF-8 text (byte 0x{raw[exc.start]:02x} cannot be decoded; "
                    "e.g. CP949/EUC-KR from a Korean Windows editor)", where=f"{path}:{line}",
                    fix=f"save it as UTF-8 (e.g. `iconv -f cp949 -t utf-8 {Path(path).name} > fixed` "
                        "or 'Save as UTF-8' in the editor)") from None


def load_yaml(path: str | Path) -> Any:
    """Parse ``path`` with the safe loader; syntax errors name file, line and column."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"YAML file not found: {path}", where=str(path.parent),
                          fix="check the path / name")
    text = read_utf8(path, "YAML file")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', exc)}", where=where,
                          fix="fix the YAML syntax at that line") from None


def line_of(path: str | Path, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the node at ``loc`` (a pydantic error location) in a YAML file.

    Walks as deep as the path exists and returns the line of the deepest node
    found, so a missing key points at its parent mapping."""
    try:
        node = yaml.compose(Path(path).read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (yaml.YAMLError, OSError):
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for knode, vnode in node.value:
                if knode.value == str(key):
                    line = knode.start_mark.line + 1
                    nxt = vnode
                    break
            if nxt is None:
                return line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def format_validation_error(exc: ValidationError, path: str | Path | None, what: str) -> ConfigError:
    """One ConfigError listing every pydantic problem with ``file:line field``."""
    lines = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        dotted = ".".join(str(p) for p in loc) or "<root>"
        ln = line_of(path, loc) if path else None
        place = f"{path}:{ln}" if path and ln else (str(path) if path else "")
        lines.append(f"{place} field '{dotted}': {err['msg']}".strip())
    return ConfigError(f"{what} is not valid ({len(lines)} problem(s))",
                       where="\n         ".join(lines),
                       fix="correct the fields listed above")


def validate(model: type[M], data: Any, path: str | Path | None = None, what: str | None = None) -> M:
    """``model.model_validate(data)`` with errors located in the YAML file."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(exc, path, what or model.__name__) from None


def load_model(model: type[M], path: str | Path, what: str | None = None) -> M:
    """Load a YAML file safely and validate it against ``model``."""
    return validate(model, load_yaml(path), path, what)
