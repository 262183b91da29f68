"""Shared file plumbing: output folders, atomic writes, JSON, figures (below every package)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def prepare_out(out: str | Path) -> Path:
    """Create the output folder (and parents); return it as a Path."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"Parameter `out` should be a directory. Found a file at {str(path)!r}.")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (numpy types converted; NaN -> null)."""
    path = Path(path)
    text = json.dumps(_jsonable(obj), indent=2, sort_keys=False) + "\n"
    atomic_write_text(path, text)
    return path


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file via a temporary file and rename, so readers never see half a file."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write a file via a temporary file, fsync and rename, so readers never see half a file.

    The file gets the usual mode of a new file (0666 less the umask, e.g. 0644), not
    the 0600 of the temporary file. A missing folder is named in the error.
    """
    path = Path(path)
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_figure(fig: Figure, out: Path, stem: str) -> list[Path]:
    """Save a matplotlib figure as PNG (200 dpi) and PDF; close it; return the paths."""
    import matplotlib.pyplot as plt

    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    fig.savefig(paths[0], dpi=200, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def use_agg() -> None:
    """Select the non-interactive matplotlib backend (figures are written to files)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
