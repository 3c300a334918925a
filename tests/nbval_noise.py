"""Measure which notebook outputs move under another numeric setting, and by how much.

Re-executes committed notebooks (default parameters, exploration mode, a throwaway
store) with environment variables that change floating-point behaviour but not the
maths (``OPENBLAS_CORETYPE``, ``XLA_FLAGS``, thread counts ...), then compares every
code cell's text outputs with the committed ones number by number::

    .venv/bin/python tests/nbval_noise.py volatility rating \\
        --env OPENBLAS_CORETYPE=Haswell --env XLA_FLAGS=--xla_cpu_max_isa=AVX2 --json /tmp/haswell.json

It prints one line per cell whose outputs changed: how many decimal numbers moved,
the largest absolute and relative change, the largest change in units of the last
displayed digit, and any change that no tolerance may absorb (text, integers, number
count). The tolerance classes of ``tests/nbval_tolerance.py`` are chosen from these
figures (``tests/NOTEBOOKS.md`` keeps the table). Exit status 0 always: it measures,
it does not judge.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
from nbval.plugin import get_sanitize_patterns

from nbval_tolerance import cell_tolerance, diff_text, text_slots

REPO = Path(__file__).resolve().parent.parent
SANITIZE = get_sanitize_patterns((REPO / "tests" / "nbval_sanitize.cfg").read_text())


def sanitize(text: str) -> str:
    """The regex replacements nbval applies before comparing (tests/nbval_sanitize.cfg)."""
    for regex, replace in SANITIZE:
        text = re.sub(regex, replace, text)
    return text


def cell_changes(ref_cell, test_cell) -> dict:
    """Number-by-number changes between two executions of one code cell."""
    moved, exact_changes = [], []
    ref_slots, test_slots = text_slots(ref_cell.outputs), text_slots(test_cell.outputs)
    if set(ref_slots) != set(test_slots):
        exact_changes.append(f"output keys {sorted(ref_slots)} became {sorted(test_slots)}")
    for key, ref_list in ref_slots.items():
        for (rh, rf), (th, tf) in zip(ref_list, test_slots.get(key, [])):
            exact, pairs = diff_text(sanitize(rh[rf]), sanitize(th[tf]))
            exact_changes += [f"{key}: {e}" for e in exact]
            for r, t in pairs:
                diff = abs(t.value - r.value)
                moved.append({"key": key, "ref": r.text, "test": t.text, "abs": diff,
                              "rel": diff / abs(r.value) if r.value else float("inf"),
                              "quanta": diff / min(r.quantum, t.quantum)})
    return {"moved": moved, "exact_changes": exact_changes}


def measure(notebook: str, env: dict[str, str], workdir: Path) -> list[dict]:
    """Execute ``notebooks/<notebook>.ipynb`` under ``env``; the changed cells."""
    import papermill as pm

    src = REPO / "notebooks" / f"{notebook}.ipynb"
    out = workdir / f"{notebook}.ipynb"
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    os.environ["QMTL_STORE_URL"] = f"sqlite:///{workdir}/store.sqlite"
    try:
        pm.execute_notebook(str(src), str(out), kernel_name="qmtl-research", cwd=str(src.parent),
                            progress_bar=False, log_output=False)
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    ref_cells = [c for c in nbformat.read(src, as_version=4).cells if c.cell_type == "code"]
    test_cells = [c for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code"]
    rows = []
    for n, (rc, tc) in enumerate(zip(ref_cells, test_cells)):
        ch = cell_changes(rc, tc)
        if ch["moved"] or ch["exact_changes"]:
            tol = cell_tolerance(rc, f"{src}: code cell {n}")
            rows.append({"notebook": notebook, "cell": n, "declared": tol.name if tol else "exact", **ch})
    return rows


def summary_line(row: dict) -> str:
    moved = row["moved"]
    text = (f"{row['notebook']}.ipynb Cell {row['cell']:>2} [{row['declared']}]: {len(moved)} decimals moved")
    if moved:
        worst_rel = max(moved, key=lambda m: m["rel"])
        worst_abs = max(moved, key=lambda m: m["abs"])
        text += (f"; max |abs| {worst_abs['abs']:.3g} ({worst_abs['ref']} -> {worst_abs['test']}), "
                 f"max rel {worst_rel['rel']:.3g} ({worst_rel['ref']} -> {worst_rel['test']}), "
                 f"max {max(m['quanta'] for m in moved):.0f} units of the last digit")
    for change in row["exact_changes"]:
        text += f"\n    EXACT CHANGE {change}"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", help="notebook names under notebooks/ (without .ipynb)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment variable for the kernel (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the full changes here")
    args = parser.parse_args(argv)
    env = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--env {item!r}: expected NAME=VALUE")
        env[name] = value
    print(f"setting: {env or '(this machine default)'}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="nbval-noise-") as tmp:
        for nb in args.notebooks:
            found = measure(nb, env, Path(tmp))
            rows += found
            print(f"{nb}.ipynb: {len(found)} cells changed")
            for row in found:
                print("  " + summary_line(row))
    if args.json:
        args.json.write_text(json.dumps({"env": env, "cells": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
