"""The stage registry (qmtl_research/stages.py): every registered stage resolves to a notebook, a
parameter model, a runner (the validation stage: none) and a results section; reading the
registry loads no stage code."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic import BaseModel

from qmtl_research.paths import project_root
from qmtl_research.results import SECTIONS
from qmtl_research.stages import STAGES, input_kind


@pytest.mark.parametrize("name", sorted(STAGES))
def test_each_stage_resolves(name):
    stage = STAGES[name]
    assert stage.name == name
    assert (project_root() / "notebooks" / f"{name}.ipynb").exists()
    assert issubclass(stage.params, BaseModel)
    assert (stage.run is None) == (name == "validation")
    assert stage.results_section in SECTIONS
    assert stage.needs in ("panel", "portfolio", "none")


def test_the_var_stage_writes_the_risk_section():
    assert STAGES["var"].results_section == "risk" and STAGES["volatility"].results_section == "volatility"


def test_reading_the_registry_loads_no_stage_code():
    code = ("import json, sys\nfrom qmtl_research.stages import STAGES\n"
            "[(s.needs, s.results_section) for s in STAGES.values()]\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('qmtl_research'))))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert not [m for m in loaded if m.startswith(("qmtl_research.pipeline", "qmtl_research.validation",
                                                   "qmtl_research.volatility", "qmtl_research.rating"))], loaded


def test_input_kind_of_the_shipped_kinds_of_strategy():
    from qmtl_research.config import load_strategy

    assert input_kind(load_strategy("demo")) == "panel"
    assert input_kind(load_strategy("audit-demo")) == "portfolio"
    assert input_kind(load_strategy("qmtl-import")) == "runs"
