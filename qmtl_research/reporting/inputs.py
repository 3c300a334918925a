"""The input files of a run (parameter files, model card, policy, data files), with their
sha256 and their git state, for the manifest; and the model-card version guard.

A report's manifest lists every file that drove the run. ``git`` says for each whether it is
``tracked`` (committed, unchanged), ``modified`` (tracked, changed since the commit),
``untracked`` (not in git at all) or ``outside`` (not in the checkout); the manifest's
``dirty`` is true when any input is not ``tracked`` or any tracked file of the checkout changed.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from qmtl_research.config import StrategyConfig, WorldConfig
from qmtl_research.errors import ConfigError
from qmtl_research.paths import params_dir, project_root
from qmtl_research.reporting.versions import sha256_file


def _find(kind: str, name: str) -> Path | None:
    for ext in (".yaml", ".yml"):
        p = params_dir() / kind / f"{name}{ext}"
        if p.is_file():
            return p
    return None


def model_card_path(cfg: StrategyConfig) -> Path | None:
    p = Path(cfg.model_card)
    return p if p.suffix in (".yaml", ".yml") and p.is_file() else _find("model_cards", cfg.model_card)


def input_files(cfg: StrategyConfig, world: WorldConfig) -> list[Path]:
    """Every file the run of ``cfg`` in ``world`` reads, in a stable order."""
    files = [_find("strategies", cfg.strategy_id), _find("worlds", world.world_id), world.policy_path(),
             model_card_path(cfg), params_dir() / "governance" / "raci.yaml",
             params_dir() / "governance" / "lifecycle.yaml", params_dir() / "governance" / "regulatory_mapping.yaml"]
    stages = {s.notebook for s in cfg.notebooks}
    if "rating" in stages:
        from qmtl_research.grades import scheme_path
        from qmtl_research.rating.settings import load_rating_settings

        rs = load_rating_settings()
        files += [params_dir() / "rating" / "settings.yaml",
                  *[scheme_path(s) for s in dict.fromkeys([rs.grading, *rs.schemes])]]
    if "var" in stages:
        files += sorted((params_dir() / "stress").glob("*.y*ml")) + [params_dir() / "audit.yaml"]
    u = cfg.universe
    root = project_root()
    for rel in (u.returns_path, u.funds_path, u.benchmarks_path):
        if rel:
            p = Path(rel)
            files.append(p if p.is_absolute() else root / p)
    if u.runs_path:
        p = Path(u.runs_path)
        p = p if p.is_absolute() else root / p
        files += sorted(p.glob("*.json")) if p.is_dir() else [p]
    if u.source == "real":
        files += sorted((root / "data" / "real").glob("*")) if (root / "data" / "real").is_dir() else []
    for name in dict.fromkeys([*(s.notebook for s in cfg.notebooks), "report"]):   # the run's order (a set's
        # order changed with the interpreter's string hash seed: the provenance table moved between runs)
        files.append(root / "notebooks" / f"{name}.ipynb")
    seen, out = set(), []
    for f in files:
        if f is not None and f.is_file() and f.resolve() not in seen:
            seen.add(f.resolve())
            out.append(f.resolve())
    return out


def _git(root: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)


def git_states(paths: list[Path], root: Path | None = None) -> dict[Path, str]:
    """tracked | modified | untracked | outside | no-git for each path."""
    root = (root or project_root()).resolve()
    if _git(root, "rev-parse", "HEAD").returncode != 0:
        return {p: "no-git" for p in paths}
    inside = [p for p in paths if p.is_relative_to(root)]
    rel = [str(p.relative_to(root)) for p in inside]
    tracked = set(_git(root, "ls-files", "--", *rel).stdout.split()) if rel else set()
    modified = set(_git(root, "diff", "--name-only", "HEAD", "--", *rel).stdout.split()) if rel else set()
    out = {}
    for p in paths:
        if not p.is_relative_to(root):
            out[p] = "outside"
            continue
        r = str(p.relative_to(root))
        out[p] = "untracked" if r not in tracked else "modified" if r in modified else "tracked"
    return out


def inputs_manifest(cfg: StrategyConfig, world: WorldConfig) -> dict:
    """``{"files": [{path, sha256, git}], "dirty": bool, "untracked": [...], "modified": [...]}``."""
    root = project_root().resolve()
    files = input_files(cfg, world)
    states = git_states(files, root)
    from qmtl_research.reporting.provenance import portable_path

    rows = [{"path": portable_path(p, root), "sha256": sha256_file(p), "git": states[p]} for p in files]
    checkout_dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no").stdout.strip())
    return {"files": rows, "untracked": [r["path"] for r in rows if r["git"] in ("untracked", "outside")],
            "modified": [r["path"] for r in rows if r["git"] == "modified"],
            "dirty": checkout_dirty or any(r["git"] != "tracked" for r in rows)}


def check_model_card_version(store, cfg: StrategyConfig, card) -> str:
    """Refuse a model card whose content changed while its ``model_card_version`` stayed the same.

    The first run of a (strategy, card version) registers the card's sha256 on the store's event
    log (``model_card_registered``); later runs must present the same content for that version.
    Returns the sha256."""
    path = model_card_path(cfg)
    digest = sha256_file(path)
    seen = [e for e in store.events("model_card_registered", strategy_id=None)
            if e["payload"].get("strategy_id") == card.strategy_id
            and e["payload"].get("model_card_version") == card.model_card_version]
    for e in seen:
        if e["payload"].get("sha256") != digest:
            raise ConfigError(
                f"model card {path.name} changed but its model_card_version is still '{card.model_card_version}' "
                f"(registered with sha256 {e['payload']['sha256'][:12]}..., now {digest[:12]}...)",
                where=f"{path}: model_card_version",
                fix="bump model_card_version (e.g. v1.1) so that runs and reports link to the card they used")
    if not seen:
        store.emit_event("model_card_registered", None,
                         {"strategy_id": card.strategy_id, "model_card_version": card.model_card_version,
                          "sha256": digest, "path": path.name},
                         idempotency_key=f"model_card_registered:{card.strategy_id}:{card.model_card_version}:{digest}",
                         world_id=None)
    return digest
