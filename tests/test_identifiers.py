"""#17 (2, 3): names that become paths are identifiers, output paths stay under their root, and no
make variable can run a command."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qmtl_research.errors import ConfigError
from qmtl_research.identifiers import check_identifier, inside, is_identifier

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("qmtl-research"))


@pytest.mark.parametrize("name", ["demo", "us-1999-2018", "qmtl-import", "a", "x.y_z-1", "a" * 64])
def test_identifiers_accepted(name):
    assert is_identifier(name) and check_identifier(name, "strategy", "test") == name


@pytest.mark.parametrize("name", ["../../../escape/evil", "..", ".hidden", "a/b", "/etc/passwd", "Demo", "",
                                  "a" * 65, "a b", "a;touch x", "-rf", "a\nb", None, 3])
def test_non_identifiers_refused_with_where_and_fix(name):
    assert not is_identifier(name)
    with pytest.raises(ConfigError) as info:
        check_identifier(name, "strategy", "--strategy")
    assert info.value.where == "--strategy" and "identifier" in str(info.value) and info.value.fix


def test_inside_refuses_a_path_that_resolves_outside(tmp_path):
    root = tmp_path / "reports"
    root.mkdir()
    assert inside(root / "a" / "b", root, "x") == (root / "a" / "b").resolve()
    (root / "link").symlink_to(tmp_path)                  # a link out of the root is caught after resolving
    for bad in (root / ".." / "evil", root / "link" / "evil", Path("/tmp/evil")):
        with pytest.raises(ConfigError, match="outside its folder"):
            inside(bad, root, "report folder")


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_cli_strategy_with_a_traversal_is_refused_and_writes_nothing(home):
    # the home compared file by file; above it only the places the traversal points at (pytest's shared
    # temp folders beside the home belong to other tests, whose SQLite WAL files come and go)
    above = [home.parent, home.parent.parent, home.parent.parent.parent]
    before = _tree(home)
    proc = subprocess.run([CLI, "report", "run", "--strategy", "../../../escape/evil"], capture_output=True, text=True,
                          env=os.environ.copy())
    assert proc.returncode == 2, proc.stderr
    assert "'../../../escape/evil' is not an identifier" in proc.stderr and "fix:" in proc.stderr
    assert _tree(home) == before
    assert not any((d / "escape").exists() for d in above)


def test_yaml_strategy_id_with_a_traversal_is_refused(home):
    from qmtl_research.config import load_strategy

    src = (home / "params" / "strategies" / "demo.yaml").read_text()
    (home / "params" / "strategies" / "evil.yaml").write_text(src.replace("strategy_id: demo",
                                                                          "strategy_id: ../../../escape/evil"))
    with pytest.raises(ConfigError) as info:
        load_strategy("evil")
    assert "strategy_id" in str(info.value) and "not an identifier" in str(info.value)
    assert "evil.yaml" in str(info.value)


def test_yaml_world_id_and_policy_file_cannot_leave_params(home):
    from qmtl_research.config import load_world

    w = home / "params" / "worlds" / "portfolios.yaml"
    text = w.read_text()
    w.write_text(text.replace("world_id: portfolios", "world_id: ../x"))
    with pytest.raises(ConfigError, match="not an identifier"):
        load_world("portfolios")
    w.write_text(text)
    cfg = load_world("portfolios")
    if cfg.policy_file:
        escaped = cfg.model_copy(update={"policy_file": "../../../etc/passwd"})
        with pytest.raises(ConfigError, match="outside its folder"):
            escaped.policy_path()


def test_report_folders_only_for_identifiers(home):
    from qmtl_research.reporting.versions import allocate_version, report_root

    with pytest.raises(ConfigError):
        allocate_version("../../escape", "portfolios")
    with pytest.raises(ConfigError):
        report_root("demo", "../w")
    assert not (home.parent / "escape").exists()
    assert report_root("_world", "portfolios").name == "portfolios"     # the world summaries' reserved folder


def test_a_notebook_step_name_cannot_leave_notebooks():
    from qmtl_research.reporting.notebooks import notebook_path

    with pytest.raises(ConfigError, match="not an identifier"):
        notebook_path("../../tmp/x")


# ------------------------------------------------------------------ make variables never become shell text

def _make(tmp_path, *args):
    env = {**os.environ, "QMTL_STORE_URL": f"sqlite:///{tmp_path}/store.sqlite",
           "QMTL_REPORTS_DIR": str(tmp_path / "reports")}
    # -o: treat the environment stamp as up to date (this test must not reinstall the environment)
    return subprocess.run(["make", "-s", "-C", str(REPO), "-o", ".venv/.installed", *args],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.skipif(not shutil.which("make"), reason="make is needed")
@pytest.mark.parametrize("target,var", [("report", "STRATEGY"), ("report", "WORLD"), ("report-all", "WORKERS"),
                                        ("data", "N_FUNDS"), ("bench", "BENCH"), ("lab", "PORT")])
def test_a_make_variable_cannot_run_a_command(tmp_path, target, var):
    marker = tmp_path / "pwned"
    for value in (f"x; touch {marker} #", f"$$(touch {marker})", f"`touch {marker}`", f"x' ; touch {marker}; '"):
        proc = _make(tmp_path, target, f"{var}={value}")
        assert proc.returncode != 0, (value, proc.stdout[-500:])
        assert not marker.exists(), (target, var, value)


@pytest.mark.skipif(not shutil.which("make"), reason="make is needed")
def test_make_report_of_an_unknown_strategy_exits_2_naming_it(tmp_path):
    proc = _make(tmp_path, "report", "STRATEGY=no-such-strategy")
    assert proc.returncode == 2
    assert "unknown strategy 'no-such-strategy'" in proc.stderr and "use one of: " in proc.stderr
