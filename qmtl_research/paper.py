"""The published results of the reproduced paper (params/paper/kim_park_2023.yaml), so that
notebooks, reports and benchmarks compare against one copy of the reference numbers."""
from __future__ import annotations

from functools import lru_cache

import pandas as pd
from pydantic import BaseModel, ConfigDict

from qmtl_research.paths import params_dir
from qmtl_research.yamlio import load_model


class PaperReference(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    citation: str
    table2: dict[str, dict[str, float]]
    table3: dict[str, dict[str, float]]
    table4: dict[str, float]

    def table2_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.table2).T.rename_axis("model")

    def table3_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.table3).T.rename_axis("fund_type")

    def table4_series(self) -> pd.Series:
        return pd.Series(self.table4, name="paper accuracy").rename_axis("approach")


@lru_cache(maxsize=1)
def paper_reference() -> PaperReference:
    return load_model(PaperReference, params_dir() / "paper" / "kim_park_2023.yaml", "paper reference")
