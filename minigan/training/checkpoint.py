"""Checkpoints that cannot run code on load and are never left half-written.

A checkpoint is one ``.npz`` (``allow_pickle=False``) holding named arrays plus a JSON
document under the key ``__meta__``. It is written to a temporary file in the same folder,
flushed to disk, then renamed over the target: a crash mid-write leaves the previous
checkpoint intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

META_KEY = "__meta__"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt or does not fit the model."""


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(file)`` on a temporary file, fsync it, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_checkpoint(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> None:
    if META_KEY in arrays:
        raise ValueError(f"save_checkpoint: {META_KEY!r} is reserved")
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    payload[META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, **payload))


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except (OSError, ValueError, EOFError) as e:
        raise CheckpointError(f"{path}: not a readable minigan checkpoint ({e})") from None
    if META_KEY not in arrays:
        raise CheckpointError(f"{path}: missing {META_KEY!r}: not a minigan checkpoint")
    meta = json.loads(arrays.pop(META_KEY).tobytes().decode())
    return arrays, meta
