"""params/ loading: safe YAML, pydantic validation with file:line errors, unknown names."""
from __future__ import annotations

from pathlib import Path

import pytest

from qmtl_research import config
from qmtl_research.errors import ConfigError
from qmtl_research.yamlio import load_yaml, line_of



def test_shipped_params_load():
    names = config.list_strategies()
    assert {"demo", "real-funds", "audit-demo", "real-portfolio", "qmtl-import"} <= set(names)
    for name in names:
        cfg = config.load_strategy(name)
        assert cfg.strategy_id == name and cfg.notebooks[-1].notebook == "validation"
        for w in cfg.worlds:
            assert config.load_world(w).world_id == w
        card = config.load_model_card(cfg.model_card)
        assert card.model_card_version and card.objective.strip()


def test_unknown_strategy_lists_available():
    with pytest.raises(ConfigError) as err:
        config.load_strategy("nope")
    assert "unknown strategy 'nope'" in str(err.value) and "demo" in str(err.value)


def test_qmtl_model_card_loads_unchanged():
    card = config.load_model_card(Path(config.params_dir()) / "model_cards" / "s-eval.yml")
    assert card.strategy_id == "s-eval" and card.model_card_version == "v1.0"
    assert len(card.key_limitations) == 2


def test_validation_error_points_at_file_line_and_field(tmp_path, monkeypatch):
    home = tmp_path
    (home / "params" / "strategies").mkdir(parents=True)
    bad = home / "params" / "strategies" / "bad.yaml"
    bad.write_text("strategy_id: bad\ntitle: t\nmodel_card: demo\nworlds: [w]\n"
                   "universe:\n  source: synthetic\n  n_funds: -3\nnotebooks:\n  - notebook: x\n    parmeters: {}\n")
    monkeypatch.setenv("QMTL_RESEARCH_HOME", str(home))
    with pytest.raises(ConfigError) as err:
        config.load_strategy("bad")
    msg = str(err.value)
    assert f"{bad}:7 field 'universe.n_funds'" in msg
    assert f"{bad}:10 field 'notebooks.0.parmeters'" in msg and "Extra inputs" in msg


def test_yaml_syntax_error_has_line(tmp_path):
    p = tmp_path / "x.yaml"
    p.write_text("a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(ConfigError) as err:
        load_yaml(p)
    assert f"{p}:" in str(err.value)


def test_unsafe_yaml_is_refused(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("a: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError):
        load_yaml(p)


def test_line_of_walks_nested_paths(tmp_path):
    p = tmp_path / "y.yaml"
    p.write_text("top:\n  items:\n    - a: 1\n    - b: 2\n")
    assert line_of(p, ("top", "items", 1, "b")) == 4
    assert line_of(p, ("top", "missing")) == 1


def test_world_needs_exactly_one_policy(tmp_path, monkeypatch):
    (tmp_path / "params" / "worlds").mkdir(parents=True)
    (tmp_path / "params" / "worlds" / "w.yaml").write_text("world_id: w\n")
    monkeypatch.setenv("QMTL_RESEARCH_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="exactly one"):
        config.load_world("w")
