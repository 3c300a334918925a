"""The validation portal: a static HTML site rendered from the state view.

``index.html`` is the inventory of every model (one row of the state view per world and
strategy: tier, owner, lifecycle stage, verdict, last validation, next review due, open
findings, live decay); ``models/<world>/<strategy>.html`` has a model's report versions (links
to their PDF / HTML files), its verdict history (an SVG figure), decisions, overrides, findings
and the differences between successive report versions; ``worlds/<world>.html`` has the
world's validation health and policy stability. Plain files: no server, no script.

The state view is the consumer's (:mod:`qmtl_research.governance.stream`): run
``qmtl-research events follow --once`` before building (``make site`` does). Every text that
comes from the store is HTML-escaped; file names come from identifiers (others are hashed).
"""
from __future__ import annotations

import hashlib
import html
import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from qmtl_research.errors import InputError
from qmtl_research.identifiers import is_identifier
from qmtl_research.store import EvaluationStore, RunKey
from qmtl_research.store.approval_tables import list_approvals
from qmtl_research.governance.findings import findings_frame
from qmtl_research.validation.health import validation_health
from qmtl_research.governance.overrides import overrides_frame
from qmtl_research.governance.stream import current_verdict, state_frame

#: marks a folder as a portal build: `site build` only writes into an empty folder or one with this file
MARKER = ".qmtl-site"
INVENTORY = ["world_id", "strategy_id", "risk_tier", "owner", "lifecycle_stage", "current_verdict",
             "last_validation", "next_review_due", "open_findings", "overrides_due", "live_decay", "deep_validation"]
_CSS = ("body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #bbb;padding:3px 8px;font-size:13px}th{background:#eee}"
        ".pass{color:#161}.warn{color:#a60}.fail{color:#b11}nav a{margin-right:1em}")


def esc(value: Any) -> str:
    """``value`` as escaped HTML text (None and NaN: empty)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, pd.Timestamp) or hasattr(value, "isoformat"):
        value = pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")
    elif isinstance(value, float):
        value = f"{value:.3g}"
    return html.escape(str(value), quote=True)


def slug(name: str) -> str:
    """A file name for ``name``: itself when it is an identifier, else a hash of it."""
    return name if is_identifier(name) else "x-" + hashlib.sha256(name.encode()).hexdigest()[:16]


def model_page(world_id: str, strategy_id: str) -> str:
    return f"models/{slug(world_id)}/{slug(strategy_id)}.html"


def world_page(world_id: str) -> str:
    return f"worlds/{slug(world_id)}.html"


def _a(href: str, text: Any) -> str:
    return f'<a href="{html.escape(href, quote=True)}">{esc(text)}</a>'


def _table(frame: pd.DataFrame, cls: str, links: dict[str, Any] | None = None) -> str:
    """An HTML table of ``frame`` (escaped); ``links``: {column: function(row) -> href}."""
    if frame.empty:
        return f'<p class="{cls} empty">none</p>'
    links = links or {}
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    rows = []
    for _, r in frame.iterrows():
        cells = []
        for c in frame.columns:
            v = r[c]
            body = _a(links[c](r), v) if c in links else esc(v)
            klass = f' class="{esc(v)}"' if c in ("current_verdict", "verdict", "status") and v in ("pass", "warn", "fail") else ""
            cells.append(f"<td{klass}>{body}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _page(title: str, body: str, depth: int) -> str:
    up = "../" * depth
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f"<style>{_CSS}</style></head><body><nav>{_a(up + 'index.html', 'Inventory')}</nav>"
            f"<h1>{esc(title)}</h1>{body}</body></html>\n")


def _write(out: Path, rel: str, text: str, written: list[str]) -> None:
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    written.append(rel)


def verdict_history(store: EvaluationStore, world_id: str, strategy_id: str) -> pd.DataFrame:
    """Every evaluated run of the model with its verdict as first stored and as it stands now
    (history applied: re-judgements, ex-post failures), oldest first."""
    rows = []
    for r in store.list_runs(world_id, strategy_id, status="evaluated"):
        now, _, deep = current_verdict(store, RunKey(world_id, strategy_id, r["run_id"]), r)
        rows.append({"evaluated_at": r["evaluated_at"], "run_id": r["run_id"], "stage": r.get("stage"),
                     "verdict": (r.get("summary") or {}).get("status"), "current_verdict": now,
                     "deep_validation": deep, "ruleset_hash": (r.get("ruleset_hash") or "")[:19]})
    return pd.DataFrame(rows, columns=["evaluated_at", "run_id", "stage", "verdict", "current_verdict",
                                       "deep_validation", "ruleset_hash"])


def verdict_figure(history: pd.DataFrame, path: Path) -> None:
    """SVG of the verdicts over time (fail / warn / pass as 0 / 1 / 2; stored verdicts as
    circles, current ones as crosses)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    level = {"fail": 0, "warn": 1, "pass": 2}
    with plt.rc_context({"svg.hashsalt": "qmtl-site", "svg.fonttype": "none"}):
        fig, ax = plt.subplots(figsize=(7, 2.4))
        x = pd.to_datetime(history["evaluated_at"], utc=True)
        ax.plot(x, history["verdict"].map(level), "o-", label="stored verdict", color="#2a6")
        ax.plot(x, history["current_verdict"].map(level), "x", markersize=10, label="current verdict", color="#b22")
        ax.set_yticks([0, 1, 2], ["fail", "warn", "pass"])
        ax.set_ylim(-0.5, 2.5)
        ax.set_title("Verdict history")
        ax.legend(loc="lower left", fontsize=8)
        fig.autofmt_xdate()
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="svg", metadata={"Date": None})
        plt.close(fig)


def report_versions(store: EvaluationStore, world_id: str, strategy_id: str, page_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(versions with links to their PDF / HTML files, differences between successive versions)."""
    reps = store.list_reports(strategy_id=strategy_id, world_id=world_id)
    rows, diffs = [], []
    prev = None
    for rep in reps:
        files = rep.get("files") or {}
        links = []
        for name in sorted(files):
            if name.endswith((".pdf", ".html")):
                target = Path(rep["path"]) / name
                links.append((name, os.path.relpath(target, page_dir) if target.is_absolute() else str(target)))
        rows.append({"version": rep["version"], "run_id": rep["run_id"], "created_at": rep["created_at"],
                     "files": links})
        if prev is not None:
            a, b = prev.get("files") or {}, files
            diffs.append({"from": prev["version"], "to": rep["version"],
                          "run changed": prev["run_id"] != rep["run_id"],
                          "added": ", ".join(sorted(set(b) - set(a))), "removed": ", ".join(sorted(set(a) - set(b))),
                          "changed": ", ".join(sorted(n for n in set(a) & set(b) if a[n] != b[n]))})
        prev = rep
    return pd.DataFrame(rows, columns=["version", "run_id", "created_at", "files"]), \
        pd.DataFrame(diffs, columns=["from", "to", "run changed", "added", "removed", "changed"])


def _versions_table(versions: pd.DataFrame) -> str:
    if versions.empty:
        return '<p class="versions empty">no report rendered yet</p>'
    rows = []
    for _, v in versions.iterrows():
        files = " ".join(_a(href, name) for name, href in v["files"]) or "(no PDF/HTML)"
        rows.append(f"<tr><td>{esc(v['version'])}</td><td>{esc(v['run_id'])}</td><td>{esc(v['created_at'])}</td>"
                    f"<td>{files}</td></tr>")
    return ('<table class="versions"><thead><tr><th>version</th><th>run_id</th><th>created_at</th><th>files</th>'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _check_out(out: Path) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file, not a folder", where="--out", fix="give a folder for the site")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise InputError(f"{out} is not empty and holds no earlier portal build ({MARKER})", where="--out",
                         fix="give an empty or new folder (the site is never written over other files)")
    return out


def build_site(store: EvaluationStore, out: str | Path) -> list[str]:
    """Render the portal into ``out`` (see the module docstring); returns the files written
    (relative to ``out``)."""
    out = _check_out(Path(out))
    view = state_frame(store)
    if view.empty:
        raise InputError("the state view is empty", where=store.url,
                         fix="run `qmtl-research events follow --once` first (make site does)")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("qmtl-research validation portal\n", encoding="utf-8")
    written: list[str] = []
    inv = view[INVENTORY].copy()
    body = (f"<p>{len(inv)} model(s) in {inv['world_id'].nunique()} world(s), from the state view of the event "
            f"consumer (last event {esc(int(view['last_event_id'].max()))}).</p>"
            + _table(inv, "inventory", {"strategy_id": lambda r: model_page(r["world_id"], r["strategy_id"]),
                                        "world_id": lambda r: world_page(r["world_id"])}))
    _write(out, "index.html", _page("Validation portal: model inventory", body, 0), written)
    for _, row in view.iterrows():
        _model(store, out, row, written)
    for world_id in sorted(view["world_id"].unique()):
        _world(store, out, world_id, view[view["world_id"] == world_id], written)
    return written


def _model(store: EvaluationStore, out: Path, row: pd.Series, written: list[str]) -> None:
    w, s = row["world_id"], row["strategy_id"]
    rel = model_page(w, s)
    page_dir = (out / rel).parent
    hist = verdict_history(store, w, s)
    fig = Path(rel).with_suffix(".verdicts.svg")
    parts = [_table(pd.DataFrame([row[INVENTORY]]), "summary")]
    parts.append("<h2>Report versions</h2>")
    versions, diffs = report_versions(store, w, s, page_dir.resolve())
    parts.append(_versions_table(versions))
    parts.append("<h2>Verdict history</h2>")
    if len(hist):
        verdict_figure(hist, out / fig)
        written.append(str(fig))
        parts.append(f'<figure><img class="verdict-history" src="{html.escape(fig.name)}" alt="verdict history of '
                     f'{esc(s)}" width="700"></figure>')
    parts.append(_table(hist, "history"))
    parts.append("<h2>Decisions</h2>")
    dec = pd.DataFrame(list_approvals(store, w, s))
    cols = ["seq", "decision", "actor", "role", "reason", "stage_before", "stage_after", "run_id", "created_at"]
    parts.append(_table(dec[[c for c in cols if c in dec.columns]] if len(dec) else dec, "decisions"))
    parts.append("<h2>Overrides</h2>")
    ov = overrides_frame(store, w, s)
    parts.append(_table(ov.drop(columns=["world_id", "strategy_id"]), "overrides"))
    parts.append("<h2>Findings</h2>")
    parts.append(_table(findings_frame(store, w, s), "findings"))
    parts.append("<h2>Differences between report versions</h2>")
    parts.append(_table(diffs, "diffs"))
    parts.insert(0, f"<p>World {_a('../../' + world_page(w), w)}</p>")
    _write(out, rel, _page(f"{s} in {w}", "".join(parts), 2), written)


def _world(store: EvaluationStore, out: Path, world_id: str, models: pd.DataFrame, written: list[str]) -> None:
    health = validation_health(store, world_id)
    changes = pd.DataFrame([{"created_at": e["created_at"], "stage": (e["payload"] or {}).get("stage"),
                             "profile": (e["payload"] or {}).get("profile"),
                             "ruleset_hash": ((e["payload"] or {}).get("ruleset_hash") or "")[:19],
                             "previous_ruleset_hash": ((e["payload"] or {}).get("previous_ruleset_hash") or "")[:19],
                             "policy_version": (e["payload"] or {}).get("policy_version")}
                            for e in store.events("validation_profile_changed", world_id=world_id)],
                           columns=["created_at", "stage", "profile", "ruleset_hash", "previous_ruleset_hash",
                                    "policy_version"])
    body = ("<h2>Models</h2>" + _table(models[INVENTORY], "models", {
                "strategy_id": lambda r: "../" + model_page(r["world_id"], r["strategy_id"])})
            + "<h2>Validation health</h2>" + _table(health, "health")
            + "<h2>Policy stability (validation profile changes)</h2>" + _table(changes, "policy"))
    _write(out, world_page(world_id), _page(f"World {world_id}", body, 1), written)


def pages(written: Iterable[str]) -> list[str]:
    """The HTML pages among ``written``."""
    return [p for p in written if p.endswith(".html")]
