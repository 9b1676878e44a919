"""Self-contained HTML files of a run or a comparison (``experimentkit report``).

The same pages the dashboard serves, rendered with :class:`pages.View` ``static=True``: styles and
scripts (uPlot and the page script) are inlined, image artifacts become ``data:`` URIs, and the
chart data is in the file, so it opens from disk or a mail attachment with no server.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

from ..errors import UsageError
from . import app, pages

__all__ = ["write_report", "MAX_IMAGE_BYTES"]

#: Image artifacts larger than this are left out of a report (the page says so).
MAX_IMAGE_BYTES = 5 * 1024 * 1024


def _images(store: Any, records: Sequence[Any]) -> dict:
    out = {}
    for record in records:
        for name in record.artifacts:
            kind = app.inline_image_type(name)
            if not kind:
                continue
            with store.artifact(record.id, name) as stream:
                data = stream.read(MAX_IMAGE_BYTES + 1)
            if len(data) <= MAX_IMAGE_BYTES:
                out[(str(record.id), name)] = pages.data_uri(kind, data)
    return out


def render_report(store: Any, run_ids: Sequence[str], show_all: bool = False) -> bytes:
    """The HTML of one run's page (one id) or of the comparison of several."""
    if not run_ids:
        raise UsageError("report needs at least one run id")
    records = [app.find_run(store, run_id) for run_id in run_ids]
    view = pages.View(static=True, images=_images(store, records))
    if len(records) == 1:
        record = records[0]
        tables = {
            name: app._sample_rows(record, name, {"where": "", "sort": "", "page": "1"})
            for name in record.tables()
        }
        captured = record.captured_out() or ""
        previews = [app._preview(store, record, name) for name in record.artifacts]
        return pages.run_page(
            record,
            app._metric_charts([record], store),
            tables,
            captured[-app.OUTPUT_LIMIT :],
            len(captured) > app.OUTPUT_LIMIT,
            previews,
            view=view,
        )
    data = app.compare_data(store, [r.id for r in records], show_all)
    return pages.compare_page(data, show_all, ",".join(r.id for r in records), view=view)


def write_report(
    store: Any, run_ids: Sequence[str], output: Union[str, os.PathLike], show_all: bool = False
) -> Path:
    """Write the report atomically (a temporary file renamed into place); returns its path."""
    body = render_report(store, run_ids, show_all)
    path = Path(output)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(body)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write the report to '{path}': {exc.strerror or exc}") from None
    return path
