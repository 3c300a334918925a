"""Numpy docstrings on every public function of the return measures and of stage 2 (issue #19):
each public callable defined in these modules has a docstring, and one that takes parameters
documents them in a numpy ``Parameters`` section (and says what it returns)."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import qmtl_research.rating

MODULES = ["qmtl_research.measures"] + sorted(
    f"qmtl_research.rating.{m.name}" for m in pkgutil.iter_modules(qmtl_research.rating.__path__))


def _public_callables(module):
    """(qualified name, object) of the public functions, classes and public methods defined in ``module``."""
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            yield name, obj
        elif inspect.isclass(obj):
            yield name, obj
            for meth_name, meth in vars(obj).items():
                if not meth_name.startswith("_") and inspect.isfunction(meth):
                    yield f"{name}.{meth_name}", meth


def _takes_parameters(obj) -> bool:
    target = obj.__init__ if inspect.isclass(obj) else obj
    if inspect.isclass(obj) and target is object.__init__:
        return False
    try:
        params = list(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        return False
    return bool([p for p in params if p not in ("self", "cls")])


def _own_doc(obj) -> str:
    """The docstring written on ``obj`` itself: a class does not inherit its base's (pydantic's
    BaseModel has one), and a dataclass's generated ``Name(field: type, ...)`` does not count."""
    if inspect.isclass(obj):
        doc = vars(obj).get("__doc__") or ""
        return "" if doc.startswith(f"{obj.__name__}(") else inspect.cleandoc(doc)
    return inspect.getdoc(obj) or ""


def _problems(module) -> list[str]:
    """What each public callable of ``module`` lacks: a docstring, or its numpy ``Parameters``
    section (a class may document its fields under ``Attributes`` instead, or in ``__init__``)."""
    out = []
    for name, obj in _public_callables(module):
        doc = _own_doc(obj)
        if not doc:
            out.append(f"{name}: no docstring")
        elif not _takes_parameters(obj):
            continue
        elif inspect.isclass(obj):
            init_doc = inspect.getdoc(vars(obj)["__init__"]) if "__init__" in vars(obj) else ""
            if not any(h in text for h in ("Parameters\n----------", "Attributes\n----------")
                       for text in (doc, init_doc or "")):
                out.append(f"{name}: no numpy Parameters or Attributes section")
        elif "Parameters\n----------" not in doc:
            out.append(f"{name}: no numpy Parameters section")
    return out


@pytest.mark.parametrize("module_name", MODULES)
def test_public_callables_have_numpy_docstrings(module_name):
    problems = _problems(importlib.import_module(module_name))
    assert not problems, f"{module_name}:\n" + "\n".join(problems)


def test_the_check_flags_a_function_without_parameters_section():
    import types

    mod = types.ModuleType("fake_measures")
    exec("def sharpe(returns, *, periods_per_year):\n    '''Sharpe ratio.'''\n\n"
         "def nodoc(x):\n    return x\n\n"
         "def fine(x):\n    '''Fine.\n\n    Parameters\n    ----------\n    x : float\n    '''\n", mod.__dict__)
    assert _problems(mod) == ["sharpe: no numpy Parameters section", "nodoc: no docstring"]
