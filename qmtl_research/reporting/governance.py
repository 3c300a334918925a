"""Governance data shown in reports: the RACI matrix (params/governance/raci.yaml, validated by
:mod:`qmtl_research.governance.raci`) and the regulatory mapping."""
from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, ConfigDict

from qmtl_research.errors import ConfigError
from qmtl_research.paths import params_dir
from qmtl_research.yamlio import load_model


def load_raci(path=None) -> pd.DataFrame:
    """The RACI matrix as a table (activity x role letters), validated by its one home
    :func:`qmtl_research.governance.raci.load_raci_matrix`."""
    from qmtl_research.governance.raci import load_raci_matrix

    raci = load_raci_matrix(path)
    return pd.DataFrame([{"activity": a.activity, **raci.letters(a.activity)} for a in raci.activities]
                        ).set_index("activity")[raci.roles]


class MappingRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    element: str
    evidence: list[str]


class RegulatoryMapping(BaseModel):
    """``params/governance/regulatory_mapping.yaml``: guidance elements -> evidence ids
    (:data:`qmtl_research.reporting.outline.EVIDENCE`)."""

    model_config = ConfigDict(extra="forbid")
    frameworks: list[str]
    elements: list[MappingRow]


def load_regulatory_mapping(path=None) -> RegulatoryMapping:
    """The regulatory mapping, every evidence id checked against the report's evidence registry.

    Raises
    ------
    ConfigError
        An element names evidence the report cannot hold (unknown id), or names none.
    """
    from qmtl_research.reporting.outline import EVIDENCE

    path = path or params_dir() / "governance" / "regulatory_mapping.yaml"
    m = load_model(RegulatoryMapping, path, "regulatory mapping")
    for i, row in enumerate(m.elements):
        unknown = [e for e in row.evidence if e not in EVIDENCE]
        if unknown or not row.evidence:
            raise ConfigError(f"regulatory mapping element '{row.element}' names "
                              + (f"unknown evidence {unknown}" if unknown else "no evidence"),
                              where=f"{path}: elements[{i}].evidence",
                              fix=f"use ids of the report's evidence registry: {', '.join(EVIDENCE)}")
    return m


def mapping_table(rep, path=None) -> tuple[list[str], pd.DataFrame]:
    """(frameworks, one row per element): the evidence *this* report holds, cited by section
    number and title, and the evidence it lacks, named as a gap in words."""
    from qmtl_research.reporting.outline import EVIDENCE, cite

    m = load_regulatory_mapping(path)
    rows = []
    for row in m.elements:
        held = [e for e in row.evidence if EVIDENCE[e].present(rep)]
        missing = [e for e in row.evidence if e not in held]
        rows.append({"element": row.element,
                     "evidence in this report (section)": "; ".join(cite(rep, e) for e in held)
                     or "GAP: none in this report",
                     "not in this report (gap)": "; ".join(EVIDENCE[e].what for e in missing) or "none"})
    return m.frameworks, pd.DataFrame(rows, columns=["element", "evidence in this report (section)",
                                                     "not in this report (gap)"])
