"""``Experiment(interactive=True)`` in a real Jupyter kernel: scopes, captured functions and runs in cells."""

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

CELLS = [
    "from experimentkit import Experiment\n"
    "from experimentkit.observers import InMemoryObserver\n"
    "ex = Experiment('notebook', interactive=True)\n"
    "obs = InMemoryObserver()\n"
    "ex.observers.append(obs)",
    "@ex.config\ndef cfg():\n    a = 2  # a documented value\n    b = a * 10",
    "@ex.capture\ndef scale(b, factor=1):\n    return b * factor",
    "@ex.main\ndef main(a, _run):\n    _run.log_scalar('loss', 0.5)\n    return scale() + a",
    "run = ex.run(config_updates={'a': 3}, options={'--capture': 'sys'})\n"
    "print('RESULT', run.result, run.status, run.config_modifications.docs['a'])",
]


def test_notebook_runs_an_experiment(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "RESULT 33 COMPLETED a documented value" in outputs
