"""Data layer: the FundPanel and where panels come from (files, synthetic, offline real data)."""
from qmtl_research.data.panel import FundPanel

__all__ = ["FundPanel"]
