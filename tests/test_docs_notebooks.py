"""docs/notebooks.md runs as written: each of its Python blocks is a cell of a real Jupyter
kernel, executed in order in a fresh directory."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("pandas")

pytestmark = pytest.mark.slow

PAGE = Path(__file__).resolve().parent.parent / "docs" / "notebooks.md"


def _cells() -> list:
    return re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), re.S | re.M)


def test_the_page_runs_in_a_kernel(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in _cells()]
    assert len(nb.cells) >= 6
    client = nbclient.NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError with the cell and traceback on any failure

    def text(cell: object) -> str:
        out = []
        for o in cell.outputs:
            out.append(o.get("text", ""))
            out.append(str(o.get("data", {}).get("text/plain", "")))
            out.append(str(o.get("data", {}).get("text/html", "")))
        return "".join(out)

    cells = {c.source.split("\n", 1)[0]: c for c in nb.cells}
    first_run = text(next(c for k, c in cells.items() if k.startswith("run = ex.run")))
    assert "COMPLETED " in first_run and first_run.strip().endswith("0.01"), first_run
    frame = text(next(c for k, c in cells.items() if k.startswith("from experimentkit.query")))
    assert "metrics.val.loss" in frame and "0.3" in frame  # four runs, sorted by lr
    best = text(nb.cells[-1])
    assert "val.loss: lower is better (recorded by run" in best
    assert "<table class='experimentkit-run'>" in best and "config.lr" in best
    runs = [p for p in (tmp_path / "runs").iterdir() if p.name.isdigit()]
    assert len(runs) == 4
