"""Refresh ``tests/file_seconds.json`` (the seconds each test file takes, which conftest uses to
run the longest files first) from a verbose pytest log with every duration:

    .venv/bin/python -m pytest -v -n 2 --dist loadfile --durations=0 tests > /tmp/durations.log
    .venv/bin/python tests/tools/file_seconds.py /tmp/durations.log

Only the order matters (a busy machine scales every file alike); files under 2 s are left out.
"""
from __future__ import annotations

import collections
import json
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "file_seconds.json"


def main(log: str) -> None:
    seconds: collections.Counter[str] = collections.Counter()
    for line in Path(log).read_text().splitlines():
        m = re.match(r"([\d.]+)s (?:setup|call|teardown)\s+(tests/[^:]+)::", line)
        if m:
            seconds[m.group(2)] += float(m.group(1))
    if not seconds:
        raise SystemExit(f"{log}: no durations found (run pytest with --durations=0)")
    table = {f: round(t, 1) for f, t in seconds.most_common() if t >= 2.0}
    OUT.write_text(json.dumps(table, indent=1) + "\n")
    print(f"{OUT}: {len(table)} files, {sum(table.values()):.0f} s in all")


if __name__ == "__main__":
    main(sys.argv[1])
