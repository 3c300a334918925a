"""Lazy package exports (PEP 562): a package's public names, loaded from their home submodule on
first use, so that importing one light submodule does not load the package's heavy ones.

>>> __getattr__, __dir__ = lazy_exports(__name__, {"run_stage1": "pipeline"}, globals())  # doctest: +SKIP
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, MutableMapping


def lazy_exports(package: str, homes: dict[str, str], namespace: MutableMapping[str, Any]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of a package with lazily loaded names.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    homes : dict of str to str
        Public name -> the submodule (relative to ``package``) that defines it.
    namespace : mutable mapping
        The package's ``globals()``: a loaded name is stored there, so the next access is direct.

    Returns
    -------
    tuple of callable
        ``(__getattr__, __dir__)``, to assign at the package's module level.
    """
    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(homes))

    return __getattr__, __dir__
