"""Rich values (images, figures, text, dicts) turned into artifact files with metadata.

``Run.log_image`` / ``log_figure`` / ``log_text`` / ``log_dict`` write one file per call through the
ordinary ``artifact_event``, so every backend stores them; the artifact's name encodes the value's
name and step (``<name>.step<N>.<ext>``, ``/`` in the name becoming ``.``) and its metadata holds
``{"media": kind, "name", "step", ...}`` (``shape`` for images), which the read side lists with
:meth:`experimentkit.query.base.RunRecord.media`.  Pillow and matplotlib are imported only when an
image or a figure is logged.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

__all__ = ["encode", "artifact_name", "parse_artifact_name", "safe_name", "KINDS"]

#: kind -> (file extension, content type)
KINDS = {
    "image": ("png", "image/png"),
    "figure": ("png", "image/png"),
    "text": ("txt", "text/plain"),
    "dict": ("json", "application/json"),
}
_NAME_RE = re.compile(r"^(?P<name>.+)\.step(?P<step>-?\d+)\.(?P<ext>[a-z]+)$")


def safe_name(name: str) -> str:
    """``name`` as part of a plain file name (TensorBoard-style ``val/images`` → ``val.images``)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"Invalid media name {name!r}: expected a non-empty string")
    return re.sub(r"[/\\\0]", ".", name)


def artifact_name(kind: str, name: str, step: int) -> str:
    """The artifact name of one logged value."""
    return f"{safe_name(name)}.step{int(step)}.{KINDS[kind][0]}"


def parse_artifact_name(artifact: str) -> Any:
    """``(safe name, step)`` of a media artifact name, or None for any other artifact."""
    match = _NAME_RE.match(artifact)
    if match is None or match["ext"] not in {ext for ext, _ in KINDS.values()}:
        return None
    return match["name"], int(match["step"])


def encode(kind: str, value: Any, path: str) -> dict:
    """Write ``value`` to ``path`` in the kind's format; returns the extra metadata (shape, ...)."""
    if kind == "image":
        return _write_image(value, path)
    if kind == "figure":
        return _write_figure(value, path)
    if kind == "text":
        text = value if isinstance(value, str) else str(value)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return {"chars": len(text)}
    if kind == "dict":
        with open(path, "w", encoding="utf-8") as f:
            json.dump(value, f, default=_json_default, indent=1, sort_keys=True)
        return {"keys": sorted(map(str, value))[:50] if isinstance(value, dict) else None}
    raise ValueError(f"unknown media kind {kind!r}")


def _json_default(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)  # numpy arrays/scalars, CPU tensors
    if callable(tolist):
        return tolist()
    return repr(value)


def _as_pixels(image: Any) -> Any:
    """A uint8 numpy array (H, W) or (H, W, C) from an array, a tensor (also CHW) or a PIL image."""
    import numpy as np

    if type(image).__module__.partition(".")[0] == "torch":
        image = image.detach().cpu().numpy()
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # CHW (PyTorch's layout) -> HWC
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(
            f"log_image: expected an image of shape (H, W), (H, W, 3|4) or (3|4, H, W), got {array.shape}"
        )
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype.kind == "f":
        array = (np.clip(np.nan_to_num(array), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    elif array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    return array


def _write_image(image: Any, path: str) -> dict:
    from PIL import Image

    if isinstance(image, Image.Image):
        image.save(path, format="PNG")
        return {"shape": [image.height, image.width, len(image.getbands())]}
    if hasattr(image, "savefig"):  # a matplotlib figure given to log_image
        return _write_figure(image, path)
    pixels = _as_pixels(image)
    Image.fromarray(pixels).save(path, format="PNG")
    return {"shape": list(pixels.shape)}


def _write_figure(figure: Any, path: str) -> dict:
    savefig = getattr(figure, "savefig", None)
    if savefig is None:
        raise TypeError(f"log_figure: expected a matplotlib Figure, got {type(figure).__name__}")
    savefig(path, format="png")
    from PIL import Image

    with Image.open(path) as written:
        return {"shape": [written.height, written.width, len(written.getbands())]}


def remove_quietly(path: str) -> None:
    """Delete a temporary file whose content the observers (or the journal) have copied."""
    try:
        os.remove(path)
    except OSError:
        pass
