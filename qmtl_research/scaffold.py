"""``qmtl-research strategy new``: a new strategy on the user's own fund files, in one step.

:func:`new_strategy` checks the name (an identifier: it becomes a file name under ``params/``),
the world, and the files (they must lie inside the project, and are loaded with the same
loader and checks as a run: :func:`qmtl_research.data.universe.load_universe`), checks the
stages' parameters as a run does, then writes

* ``params/strategies/<name>.yaml``: universe ``source: file`` with the three paths (relative to
  the project root), the fund stages (volatility, rating, validation) in ``world``;
* ``params/model_cards/<name>.yaml``: a model card skeleton bound to the strategy
  (``strategy_id: <name>``; a run refuses a card bound to another strategy), lifecycle stage
  ``development``, and the fields the model owner completes.

Nothing is overwritten: an existing strategy or model card of that name is an error, and
nothing is written when any check fails.

Use::

    from qmtl_research.scaffold import new_strategy
    made = new_strategy("my-funds", returns="data/my/returns.csv", funds="data/my/funds.csv")
    print(made.make_line)            # make report STRATEGY=my-funds
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from qmtl_research.config import StrategyConfig, UniverseConfig, list_strategies, list_worlds, load_world
from qmtl_research.errors import ConfigError, InputError
from qmtl_research.identifiers import IDENTIFIER_TEXT, is_identifier
from qmtl_research.paths import params_dir, project_root

DEFAULT_WORLD = "fund-rating"
FUND_STAGES = ("volatility", "rating", "validation")


@dataclass
class NewStrategy:
    strategy_id: str
    world_id: str
    strategy_file: Path
    model_card_file: Path
    n_funds: int
    first_week: str
    last_week: str

    @property
    def make_line(self) -> str:
        return f"make report STRATEGY={self.strategy_id}"


def check_name(name: str) -> str:
    """The name of a new strategy, checked.

    Parameters
    ----------
    name : str
        ``strategy new NAME``: it must be an identifier (:data:`qmtl_research.identifiers.IDENTIFIER`,
        the one pattern of names that become paths) and, being new, also read as a word: start
        with a letter, hold no ``.``, and use ``-``/``_`` only singly between letters or digits.

    Returns
    -------
    str
        ``name`` unchanged.

    Raises
    ------
    InputError
        Naming the rule it breaks (exit 2; nothing is written).
    """
    fix = "use a name such as my-funds: " + IDENTIFIER_TEXT + ", and for a new strategy a letter first, no '.'"
    if not is_identifier(name):
        raise InputError(f"{name!r} is not a strategy name ({IDENTIFIER_TEXT})", where="NAME", fix=fix)
    parts = re.split(r"[-_]", name)
    rules = [(name[0].isalpha(), "it must start with a letter"), ("." not in name, "it must not hold '.'"),
             (all(parts), "'-' and '_' go singly between letters or digits")]
    broken = [why for ok, why in rules if not ok]
    if broken:
        raise InputError(f"{name!r} is not a new strategy name: {'; '.join(broken)}", where="NAME", fix=fix)
    return name


def _inside_project(path: str, option: str) -> str:
    """``path`` as a path relative to the project root, when it lies inside it and is a file."""
    root = project_root().resolve()
    p = Path(path).expanduser()
    full = (p if p.is_absolute() else root / p).resolve()
    try:
        rel = full.relative_to(root)
    except ValueError:
        raise InputError(f"{option} {path} lies outside the project", where=option,
                         fix="copy the file under data/ (e.g. data/<name>/) and give that path: the strategy file "
                             "names project files only, so a run's inputs are hashed and versioned with it") from None
    if not full.is_file():
        raise InputError(f"{option} {path}: no such file", where=option,
                         fix="give an existing file (relative to the project root); see data/README.md for the schema")
    return rel.as_posix()


def _card_text(name: str, title: str, owner: str | None, developer: str | None, n_funds: int, first: str,
               last: str, files: dict[str, str]) -> str:
    card = {
        "strategy_id": name,
        "model_card_version": "v0.1",
        "title": title,
        "objective": f"(to be written by the model owner) what the model of '{name}' predicts and for whom",
        "data_overview": [f"Weekly simple returns of {n_funds} funds, {first}..{last} (user files)"],
        "data_sources": [f"{k}: {v}" for k, v in files.items()],
        "data_frequency": "weekly (week ending Friday)",
        "model_type": "GARCH(1,1) / LSTM / GARCH(1,1)-LSTM regression + multi-class SVC",
        "key_assumptions": ["(to be written) the assumptions the model relies on"],
        "key_limitations": ["(to be written) the known limitations"],
        "risk_tier": "medium",
        "owner": owner,
        "developer": developer,
        "lifecycle_stage": "development",
    }
    head = (f"# Model card of strategy '{name}' (skeleton written by `qmtl-research strategy new`).\n"
            "# Complete the fields marked '(to be written)'. strategy_id binds this card to the strategy: a run\n"
            "# refuses a card bound to another strategy. owner / developer: the names these people sign with\n"
            "# (--actor); neither may sign independent-review decisions (overrides, report approval). Until both\n"
            "# are declared, such decisions are refused. Raise model_card_version whenever the card changes.\n")
    return head + yaml.safe_dump(card, sort_keys=False, allow_unicode=True, width=100)


def _strategy_text(name: str, title: str, world: str, universe: dict, synthetic: bool) -> str:
    doc = {"strategy_id": name, "title": title,
           "description": "The two-stage fund risk-rating model (stage 1 volatility forecasts, stage 2 SVM grades) on "
                          "the user's own fund files.",
           "model_card": name, "worlds": [world], "synthetic": synthetic, "universe": universe, "seed": 42,
           "stage": "backtest", "notebooks": [{"notebook": n} for n in FUND_STAGES]}
    head = (f"# Strategy '{name}' on the user's own files (written by `qmtl-research strategy new`).\n"
            f"# Run it with: make report STRATEGY={name}\n")
    return head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def new_strategy(name: str, *, returns: str, funds: str, benchmarks: str | None = None, world: str | None = None,
                 title: str | None = None, owner: str | None = None, developer: str | None = None,
                 synthetic: bool = False) -> NewStrategy:
    """Check everything, then write the strategy file and its model card skeleton (module docstring).
    ``synthetic``: the files hold generated data (e.g. ``data/sample/``): every report page says so."""
    from qmtl_research.data.universe import load_universe
    from qmtl_research.pipeline import validate_strategy_stages

    name = check_name(name)
    world = world or DEFAULT_WORLD
    if world not in list_worlds():
        raise ConfigError(f"unknown world '{world}'", where="--world", fix=f"use one of: {', '.join(list_worlds())}")
    load_world(world)
    strategy_file = params_dir() / "strategies" / f"{name}.yaml"
    card_file = params_dir() / "model_cards" / f"{name}.yaml"
    taken = [p for p in (strategy_file, strategy_file.with_suffix(".yml"), card_file, card_file.with_suffix(".yml"))
             if p.exists()]
    if name in list_strategies() or taken:
        raise InputError(f"a strategy or model card named '{name}' exists already: "
                         + ", ".join(str(p.relative_to(project_root())) for p in taken), where="NAME",
                         fix="choose another name (nothing is overwritten)")
    files = {"returns_path": _inside_project(returns, "--returns"), "funds_path": _inside_project(funds, "--funds")}
    if benchmarks:
        files["benchmarks_path"] = _inside_project(benchmarks, "--benchmarks")
    universe = UniverseConfig(source="file", **files)
    panel = load_universe(universe)            # the loader and checks of a run (file:line errors)
    title = title or f"Two-stage fund risk-rating model on {name} ({len(panel.fund_ids)} funds, user files)"
    cfg = StrategyConfig(strategy_id=name, title=title, model_card=name, worlds=[world], universe=universe,
                         synthetic=synthetic,
                         notebooks=[{"notebook": n} for n in FUND_STAGES])
    validate_strategy_stages(cfg, f"params/strategies/{name}.yaml")
    first, last = str(panel.dates[0].date()), str(panel.dates[-1].date())
    universe_doc = {"source": "file", **files}
    strategy_text = _strategy_text(name, title, world, universe_doc, synthetic)
    card_text = _card_text(name, title, owner, developer, len(panel.fund_ids), first, last, files)
    strategy_file.parent.mkdir(parents=True, exist_ok=True)
    card_file.parent.mkdir(parents=True, exist_ok=True)
    with open(card_file, "x", encoding="utf-8") as fh:       # "x": never overwrite
        fh.write(card_text)
    try:
        with open(strategy_file, "x", encoding="utf-8") as fh:
            fh.write(strategy_text)
    except OSError:
        card_file.unlink()
        raise
    return NewStrategy(name, world, strategy_file, card_file, len(panel.fund_ids), first, last)
