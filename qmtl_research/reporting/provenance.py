"""Provenance of a run, recorded with it and printed in its report (Appendix B).

:func:`run_provenance` is taken once, before the run starts, and stored in the run's ``params``
(``params["provenance"]``): the commit and dirty flag of the checkout, every input file with its
sha256 and git state (:func:`qmtl_research.reporting.inputs.inputs_manifest`), the model card's
sha256 and the package versions. The report prints it from the store, so that the PDF states how
it was made, and ``report diff`` / section 7 compare two runs' provenance.

No machine path: input paths are relative to the checkout; a file outside it is named by its
file name only (:func:`portable_path`).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from qmtl_research.paths import project_root

OUTSIDE = "(outside the checkout) "


def portable_path(path: Path, root: Path | None = None) -> str:
    """``path`` relative to the checkout, or ``'(outside the checkout) <name>'``: never a machine path."""
    root = (root or project_root()).resolve()
    path = Path(path).resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else OUTSIDE + path.name


def run_provenance(inputs: dict, model_card_sha256: str | None) -> dict:
    """Everything needed to say how a run was made (stored in ``params["provenance"]``).

    Parameters
    ----------
    inputs : dict
        The run's input files (:func:`qmtl_research.reporting.inputs.inputs_manifest`).
    model_card_sha256 : str or None
        sha256 of the model card file the run used.

    Returns
    -------
    dict
        ``{"commit", "dirty", "inputs": [{path, sha256, git}], "model_card_sha256", "packages"}``.
    """
    from qmtl_research.reporting.manifest import git_state, package_versions

    git = git_state()
    return {"commit": git["commit"], "dirty": bool(git["dirty"]) or bool(inputs["dirty"]),
            "inputs": inputs["files"], "model_card_sha256": model_card_sha256, "packages": package_versions()}


def stage_rows(stages: list[dict] | None) -> list[tuple[str, str]]:
    """(item, value) per cached stage of the run: computed in this run (and why it was not read
    back), or reused from the stage cache with the run that computed it
    (:mod:`qmtl_research.reporting.stage_cache`). Runs made before the cache recorded nothing."""
    rows = []
    for s in stages or []:
        if s.get("reused"):
            value = (f"reused, not recomputed: read back from the stage cache (key {s['key'][:12]}), computed by run "
                     f"{s.get('computed_by_run')} at {s.get('computed_at')} from the same inputs, code and seed")
        else:
            value = f"computed in this run ({s.get('reason') or 'not cached'})"
        rows.append((f"stage {s['stage']}", value))
    return rows


def provenance_tables(run: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
    """(identity, inputs, packages) tables of a stored run's provenance, or None when the run
    recorded none (runs made before provenance was recorded)."""
    prov = ((run or {}).get("params") or {}).get("provenance")
    if not prov:
        return None
    commit = prov.get("commit")
    ident = pd.DataFrame([
        ("commit", commit or "no git checkout"),
        ("dirty (uncommitted changes in the checkout or its inputs)", str(prov.get("dirty"))),
        ("data fingerprint (sha256 of the data panel)", run.get("data_fingerprint") or "n/a"),
        ("model card sha256", prov.get("model_card_sha256") or "n/a"),
        ("model card version", run.get("model_card_version") or "n/a"),
        ("policy version", run.get("policy_version") or "n/a"),
        ("ruleset hash", run.get("ruleset_hash") or "n/a"),
        *stage_rows(prov.get("stages")),
    ], columns=["item", "value"])
    inputs = pd.DataFrame(prov.get("inputs") or [], columns=["path", "git", "sha256"])
    packages = pd.DataFrame(sorted((prov.get("packages") or {}).items()), columns=["package", "version"])
    return ident, inputs, packages
