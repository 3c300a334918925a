"""Small modules (issue #19): a module of the package over 400 lines says why in its docstring
(a line starting "Over 400 lines"), so a long file is a decision someone wrote down."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "qmtl_research"
LIMIT = 400


def long_modules_without_a_reason(root: Path) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        n = text.count("\n") + (not text.endswith("\n"))
        if n <= LIMIT:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if "Over 400 lines" not in doc:
            out.append(f"{path.relative_to(root.parent)}: {n} lines, no 'Over 400 lines because ...' in its docstring")
    return out


def test_every_long_module_says_why():
    assert long_modules_without_a_reason(PKG) == []


def test_the_check_finds_a_long_module_without_a_reason(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "long.py").write_text('"""A module."""\n' + "x = 1\n" * 450)
    (pkg / "why.py").write_text('"""A module.\n\nOver 400 lines because of a test.\n"""\n' + "x = 1\n" * 450)
    (pkg / "short.py").write_text("x = 1\n")
    assert [line.split(":")[0] for line in long_modules_without_a_reason(pkg)] == ["pkg/long.py"]
