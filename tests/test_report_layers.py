"""The report's table of QMTL validation layers (#22 item 4) against the policy files themselves."""
from __future__ import annotations

import types

import pandas as pd
import pytest
import yaml

from qmtl_research.config import list_worlds, load_world
from qmtl_research.paths import params_dir
from qmtl_research.reporting.sections import QMTL_LAYERS, qmtl_layers


def _policy_mapping(world) -> dict:
    if world.policy is not None:
        return world.policy
    return yaml.safe_load((params_dir() / world.policy_file).read_text(encoding="utf-8"))


@pytest.mark.parametrize("world_id", list_worlds())
def test_configured_layers_are_those_of_the_policy_file(world_id):
    world = load_world(world_id)
    raw = _policy_mapping(world)
    got = qmtl_layers(types.SimpleNamespace(world=world), None).set_index("layer")
    assert list(got.index) == list(QMTL_LAYERS)
    for layer in QMTL_LAYERS:
        assert got.loc[layer, "configured"] == ("yes" if raw.get(layer) is not None else "no"), layer
        if raw.get(layer):
            assert set(got.loc[layer, "settings"].split(", ")) == {k for k, v in raw[layer].items() if v is not None}
        assert got.loc[layer, "verdict"] == "not evaluated"


def test_the_verdict_column_reads_the_evaluated_layer():
    world = load_world(list_worlds()[0])
    ext = pd.DataFrame({"rule": ["stress", "var_backtest"], "status": ["fail", "warn"]})
    got = qmtl_layers(types.SimpleNamespace(world=world), ext).set_index("layer")
    assert got.loc["stress", "verdict"] == "fail"
    assert got.loc["cohort", "verdict"] == "not evaluated"
