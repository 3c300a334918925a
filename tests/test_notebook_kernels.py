"""Notebooks sharing a kernel (qmtl_research.reporting.notebooks): a notebook run after another in
the same kernel has the outputs it has in a fresh kernel of its own (namespace, execution counts,
matplotlib settings, warnings shown, random states); a failure stops the notebooks queued after it."""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat as nbf
import pytest

from qmtl_research.errors import NotebookFailed
from qmtl_research.reporting.notebooks import Execution, execute_all

# the first notebook leaves behind all the state a fresh kernel does not have
FIRST = [
    "x = 41\nimport numpy as np\nnp.random.seed(7)\nimport random\nrandom.seed(7)\nx + 1",
    "import matplotlib\nimport matplotlib.pyplot as plt\nmatplotlib.rcParams['figure.dpi'] = 33\n"
    "matplotlib.rcParams['axes.titlesize'] = 30\nfig = plt.figure()\nimport warnings\n"
    "warnings.simplefilter('ignore')\nprint('first done')",
]
# the second reads it: in a fresh kernel, no x, default settings, a warning shown, unseeded draws
SECOND = [
    "print('x' in globals(), 'np' in globals())",
    "import matplotlib\nimport matplotlib.pyplot as plt\n"
    "print(matplotlib.rcParams['figure.dpi'], matplotlib.rcParams['axes.titlesize'], plt.get_fignums())",
    "import warnings\nwarnings.warn('shown again')",
    "import numpy as np\nimport random\nprint(np.random.get_state()[2], random.random() < 2)",
]


def _notebook(folder: Path, name: str, cells: list[str]) -> None:
    nb = nbf.v4.new_notebook()
    nb.cells = [nbf.v4.new_code_cell("value = None", metadata={"tags": ["parameters"]})]
    nb.cells += [nbf.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "qmtl-research", "display_name": "Python (qmtl-research)",
                                 "language": "python"}
    nbf.write(nb, folder / f"{name}.ipynb")


@pytest.fixture
def home(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    _notebook(tmp_path / "notebooks", "first", FIRST)
    _notebook(tmp_path / "notebooks", "second", SECOND)
    _notebook(tmp_path / "notebooks", "broken", ["raise ValueError('broken on purpose (test)')"])
    monkeypatch.setenv("QMTL_RESEARCH_HOME", str(tmp_path))
    return tmp_path


def _outputs(path: Path) -> list:
    """(execution count, outputs) per code cell; the kernel's process id (in the file name
    IPython gives a cell's code, shown by a warning) differs between any two kernels."""
    text = re.sub(r"ipykernel_\d+", "ipykernel_PID", path.read_text())
    out = []
    for c in json.loads(text)["cells"]:
        if c["cell_type"] != "code":
            continue
        merged: list = []          # a stream's text may arrive in several messages: join them
        for o in c.get("outputs", []):
            if merged and o.get("output_type") == "stream" and merged[-1].get("name") == o.get("name"):
                merged[-1] = {**merged[-1], "text": "".join(merged[-1]["text"]) + "".join(o["text"])}
            else:
                merged.append({**o, "text": "".join(o["text"])} if o.get("output_type") == "stream" else o)
        out.append((c.get("execution_count"), merged))
    return out


def test_a_notebook_after_another_in_a_shared_kernel_has_its_fresh_kernel_outputs(home):
    out = home / "out"
    out.mkdir()
    shared = [Execution("first", out / "1_first.ipynb", {"value": 1}), Execution("second", out / "2_second.ipynb",
                                                                                 {"value": 2})]
    secs = execute_all(shared, echo=lambda _m: None, kernels=1)
    assert set(secs) == {"first", "second"}
    alone = [Execution("second", out / "alone.ipynb", {"value": 2})]
    execute_all(alone, echo=lambda _m: None, kernels=1)
    got, want = _outputs(out / "2_second.ipynb"), _outputs(out / "alone.ipynb")
    assert got == want
    # and what the fresh kernel shows is what the test means: no leftovers, counts from 1
    texts = ["".join(o.get("text", "")) for _, outs in got for o in outs]
    assert texts[0] == "False False\n" and texts[1].endswith(" []\n") and "shown again" in texts[2]
    assert "33" not in texts[1] and "30" not in texts[1]
    assert [n for n, _ in got] == list(range(1, len(got) + 1))


def test_a_failure_stops_the_notebooks_queued_after_it_in_its_kernel(home):
    out = home / "out"
    out.mkdir()
    runs = [Execution("broken", out / "1_broken.ipynb", {}), Execution("first", out / "2_first.ipynb", {}),
            Execution("second", out / "3_second.ipynb", {})]
    with pytest.raises(NotebookFailed) as err:
        execute_all(runs, echo=lambda _m: None, kernels=2)      # broken + first share a kernel; second alone
    msg = str(err.value)
    assert "notebook 'broken' failed in cell" in msg and "broken on purpose" in msg
    assert "stopped: first" in msg                      # queued after the failure in the shared kernel: never started
    assert not (out / "2_first.ipynb").exists()
