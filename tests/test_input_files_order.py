"""The input files a run records (the report's provenance table) come in the same order in
every interpreter: the notebooks follow the strategy's order, then the report notebook (their
order came from a set of strings, which moves with the string hash seed)."""
import json
import os
import subprocess
import sys

CODE = ("import json; from qmtl_research.config import load_strategy, load_world; "
        "from qmtl_research.reporting.inputs import input_files; "
        "cfg = load_strategy('demo'); world = load_world(cfg.worlds[0]); "
        "print(json.dumps({'files': [p.name for p in input_files(cfg, world)], "
        "'notebooks': [s.notebook for s in cfg.notebooks]}))")


def test_input_files_come_in_the_runs_order_whatever_the_hash_seed():
    outputs = set()
    for seed in ("0", "1", "2"):        # the old set order: validation, rating, volatility / ... report, volatility / report first
        out = subprocess.run([sys.executable, "-c", CODE], env={**os.environ, "PYTHONHASHSEED": seed},
                             capture_output=True, text=True, check=True)
        outputs.add(out.stdout)
    assert len(outputs) == 1
    run = json.loads(outputs.pop())
    notebooks = [f[: -len(".ipynb")] for f in run["files"] if f.endswith(".ipynb")]
    assert notebooks == [*run["notebooks"], "report"]
