"""Governance data shown in reports: the RACI matrix (params/governance/raci.yaml, validated by
:mod:`qmtl_research.validation.governance`) and the regulatory mapping."""
from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, ConfigDict

from qmtl_research.paths import params_dir
from qmtl_research.yamlio import load_model


def load_raci(path=None) -> pd.DataFrame:
    """The RACI matrix as a table (activity x role letters), validated by its one home
    :func:`qmtl_research.validation.governance.load_raci_matrix`."""
    from qmtl_research.validation.governance import load_raci_matrix

    raci = load_raci_matrix(path)
    return pd.DataFrame([{"activity": a.activity, **raci.letters(a.activity)} for a in raci.activities]
                        ).set_index("activity")[raci.roles]


class MappingRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    element: str
    sections: list[str]


class RegulatoryMapping(BaseModel):
    """``params/governance/regulatory_mapping.yaml``: guidance elements -> report sections."""

    model_config = ConfigDict(extra="forbid")
    frameworks: list[str]
    elements: list[MappingRow]


def load_regulatory_mapping(path=None) -> tuple[list[str], pd.DataFrame]:
    """(frameworks, table element -> sections) of the regulatory mapping."""
    m = load_model(RegulatoryMapping, path or params_dir() / "governance" / "regulatory_mapping.yaml",
                   "regulatory mapping")
    return m.frameworks, pd.DataFrame([{"element": r.element, "answered in": "; ".join(r.sections)}
                                       for r in m.elements])
