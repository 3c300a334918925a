"""Governance data shown in reports: the RACI matrix (params/governance/raci.yaml)."""
from __future__ import annotations

from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator

from qmtl_research.paths import params_dir
from qmtl_research.yamlio import load_model

Letter = Literal["R", "A", "C", "I", "A/R"]


class RaciTable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roles: list[str]
    activities: list[dict[str, str]]

    @model_validator(mode="after")
    def _complete(self):
        allowed = {"R", "A", "C", "I", "A/R"}
        for i, row in enumerate(self.activities):
            missing = [r for r in self.roles if r not in row]
            if "activity" not in row or missing:
                raise ValueError(f"activities[{i}] needs 'activity' and every role; missing {missing}")
            bad = {r: row[r] for r in self.roles if row[r] not in allowed}
            if bad:
                raise ValueError(f"activities[{i}] has letters outside R/A/C/I: {bad}")
        return self


def load_raci(path=None) -> pd.DataFrame:
    raci = load_model(RaciTable, path or params_dir() / "governance" / "raci.yaml", "RACI table")
    return pd.DataFrame(raci.activities).set_index("activity")[raci.roles]


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
