"""One declaration per hyper-parameter (issue #19): the LSTM's and the SVM's defaults are written
on their pydantic config class only; estimators, helpers, params/ and the notebooks' parameters
cells read it (``None`` = "from the config").

The scan reads the package source with :mod:`ast`: a function parameter default, a keyword
argument or an annotated class field named like a hyper-parameter whose literal value equals
the config's default is a second declaration. A test below feeds the scanner such a snippet, so
the scan itself cannot pass vacuously.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

from qmtl_research.rating.models import GradeSVC
from qmtl_research.rating.settings import RatingSettings, setting_default
from qmtl_research.volatility.config import Stage1Config
from qmtl_research.volatility.lstm_config import LSTMConfig, lstm_default
from qmtl_research.volatility.models import GarchLSTMVolatility, LSTMVolatility
from qmtl_research.volatility.targets import TARGET_WINDOW

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "qmtl_research"

#: the homes: the only files where a default may be written
HOMES = {PKG / "volatility" / "lstm_config.py", PKG / "rating" / "settings.py"}

SVM_FIELDS = ("param_grid", "inner_folds", "outer_folds", "min_train")


def _literal(node):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_LITERAL


_NOT_LITERAL = object()


def _same(value, default) -> bool:
    if value is _NOT_LITERAL or isinstance(value, bool) != isinstance(default, bool):
        return False
    return value == default


def hyperparameters() -> dict[str, tuple[object, str]]:
    """name -> (default, where it is declared), read from the config classes."""
    out = {name: (lstm_default(name), "LSTMConfig") for name in LSTMConfig.model_fields}
    out.update({name: (setting_default(name), "RatingSettings") for name in SVM_FIELDS})
    return out


def second_declarations(source: str, names: dict[str, tuple[object, str]]) -> list[tuple[int, str]]:
    """(line, name) of every literal restating a default in ``source``."""
    hits = []
    for node in ast.walk(ast.parse(source)):
        pairs = []
        if isinstance(node, ast.arguments):
            positional = node.posonlyargs + node.args
            pairs += list(zip(positional[len(positional) - len(node.defaults):], node.defaults))
            pairs += [(a, d) for a, d in zip(node.kwonlyargs, node.kw_defaults) if d is not None]
            pairs = [(a.arg, d) for a, d in pairs]
        elif isinstance(node, ast.keyword) and node.arg:
            pairs = [(node.arg, node.value)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            pairs = [(node.target.id, node.value)]
        elif isinstance(node, ast.Dict):    # a grid literal ({"C": [...], "gamma": [...]})
            grid = _literal(node)
            if "param_grid" in names and _same(grid, names["param_grid"][0]):
                hits.append((node.lineno, "param_grid"))
        for name, value in pairs:
            if name in names and _same(_literal(value), names[name][0]):
                hits.append((value.lineno, name))
    return hits


def test_the_scanner_finds_a_restated_default():
    names = hyperparameters()
    snippet = ("def fit(x, epochs=30, *, units=32):\n    return make(learning_rate=0.001, inner_folds=3)\n"
               "class A:\n    batch_size: int = 256\n"
               "GRID = {'C': [1.0, 10.0, 100.0], 'gamma': ['scale', 1.0]}\n"
               "def other(epochs=31, units=None, log_transform=0):\n    pass\n")
    found = sorted(second_declarations(snippet, names))
    assert found == [(1, "epochs"), (1, "units"), (2, "inner_folds"), (2, "learning_rate"),
                     (4, "batch_size"), (5, "param_grid")]


def test_every_hyperparameter_default_is_declared_once():
    names = hyperparameters()
    found = []
    for path in sorted(PKG.rglob("*.py")):
        if path in HOMES:
            continue
        for line, name in second_declarations(path.read_text(encoding="utf-8"), names):
            found.append(f"{path.relative_to(REPO)}:{line}: {name} restates {names[name][1]}'s default")
    assert not found, "\n".join(found)


def test_the_four_week_window_is_target_window_in_stage_1():
    """``window``/``horizon`` defaults of stage 1 read TARGET_WINDOW (1 month = 4 weeks)."""
    found = []
    for path in sorted((PKG / "volatility").glob("*.py")):
        if path.name == "targets.py":
            continue
        hits = second_declarations(path.read_text(encoding="utf-8"),
                                   {"window": (TARGET_WINDOW, "TARGET_WINDOW"), "horizon": (TARGET_WINDOW, "TARGET_WINDOW")})
        found += [f"{path.name}:{line}: {name}" for line, name in hits]
    assert not found, found
    assert Stage1Config().window == Stage1Config().horizon == TARGET_WINDOW


@pytest.mark.parametrize("estimator", [LSTMVolatility, GarchLSTMVolatility])
def test_the_lstm_estimators_take_the_config_defaults(estimator):
    params = estimator().get_params()
    for name in LSTMConfig.model_fields:
        assert params[name] == lstm_default(name), name
    assert params["window"] == params["horizon"] == TARGET_WINDOW


def test_the_svm_reads_its_grid_and_folds_from_the_settings():
    svc = GradeSVC()
    assert svc.param_grid is None and svc.inner_folds is None                   # "from the config"
    assert svc._grid() == {f"svc__{k}": v for k, v in setting_default("param_grid").items()}
    assert setting_default("param_grid") is not setting_default("param_grid")  # a fresh copy each time
    assert RatingSettings().inner_folds == setting_default("inner_folds")


def test_params_and_notebook_parameters_do_not_restate_the_defaults():
    settings = yaml.safe_load((REPO / "params" / "rating" / "settings.yaml").read_text(encoding="utf-8"))
    assert not set(SVM_FIELDS) & set(settings), "params/rating/settings.yaml restates an SVM default"
    names = hyperparameters()
    for nb in ("volatility", "rating"):
        cells = json.loads((REPO / "notebooks" / f"{nb}.ipynb").read_text(encoding="utf-8"))["cells"]
        params = next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
        tree = ast.parse("".join(params["source"]))
        for node in tree.body:
            if isinstance(node, ast.Assign) and node.targets[0].id in names:
                assert _literal(node.value) is None, (nb, node.targets[0].id)
