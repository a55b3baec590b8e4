"""Checkpoints that cannot run code on load, are never left half-written, and say when they are
broken.

A checkpoint is one ``.npz`` (``allow_pickle=False``) holding named arrays plus a JSON document
under the key ``__meta__``: ``{"format": 2, "checksum": "sha256:...", "meta": {...}}``. The
checksum covers every array (name, dtype, shape, bytes) and the meta document, so a truncated,
bit-flipped or hand-edited file is refused by name instead of loading wrong weights. Format 1
(the same arrays with the bare meta document, no checksum) is still read.

Every file is written to a temporary file in the same folder, flushed and fsynced, then renamed
over the target, so a crash or ``kill -9`` mid-write leaves the previous file intact. A run
keeps its last few checkpoints (``checkpoints/step_NNNNNN.npz``); when the newest is unreadable
the previous good one is used, with a warning.

The generator is also exported alone, as ``generator.safetensors`` (tensors plus the run's
config and a checksum in the header metadata), for sampling and sharing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

META_KEY = "__meta__"
FORMAT = 2  # the checkpoint format this code writes; it reads 1..FORMAT
EXPORT_FORMAT = "minigan-generator/1"
_STEP_FILE = re.compile(r"^step_(\d+)\.npz$")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt or does not fit the model."""


class NoReadableCheckpoint(CheckpointError):
    """Every checkpoint of a folder is unreadable; ``problems`` says why, file by file."""

    def __init__(self, folder, problems: list[str]):
        self.folder, self.problems = Path(folder), problems
        super().__init__(
            f"no readable checkpoint in {folder}: " + "; ".join(problems) + ". Move the "
            "broken files away to start this run over from step 0, or train into another --out")


class CheckpointWarning(UserWarning):
    """A checkpoint was skipped (corrupt, truncated, another format); an older one is used."""


def atomic_write(path: str | os.PathLike, write, delay: float = 0.0) -> None:
    """Call ``write(file)`` on a temporary file, fsync it, then rename it to ``path``.
    ``delay`` seconds pass between the bytes and the rename (a test hook, below)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            if delay > 0:
                f.flush()
                time.sleep(delay)
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


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed ``atomic_write`` left in ``folder``."""
    folder = Path(folder)
    stale = [p for p in folder.glob(".*.tmp") if p.is_file()] if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _digest(arrays: dict[str, np.ndarray], meta_json: bytes) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.require(arrays[name], requirements="C")
        h.update(f"{name}|{a.dtype.str}|{a.shape}\n".encode())
        h.update(a.tobytes())
    h.update(meta_json)
    return "sha256:" + h.hexdigest()


def _meta_json(meta: dict) -> bytes:
    return json.dumps(meta, sort_keys=True).encode()


def save_checkpoint(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> None:
    if META_KEY in arrays:
        raise ValueError(f"save_checkpoint: {META_KEY!r} is reserved")
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    doc = {"format": FORMAT, "checksum": _digest(payload, _meta_json(meta)), "meta": meta}
    payload[META_KEY] = np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8)
    # MINIGAN_DEBUG_CHECKPOINT_DELAY (seconds) holds every checkpoint write open that long
    # before its rename: the tests land a kill -9 in the middle of a write with it
    delay = float(os.environ.get("MINIGAN_DEBUG_CHECKPOINT_DELAY", 0) or 0)
    atomic_write(path, lambda f: np.savez(f, **payload), delay)


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and meta document of a checkpoint; ``CheckpointError`` naming the file and
    what is wrong with it otherwise (missing, empty, truncated, another format, checksum)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    if path.is_file() and path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes): not a minigan checkpoint")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise CheckpointError(f"{path}: not a readable minigan checkpoint (truncated or "
                              f"corrupt: {e})") from None
    if META_KEY not in arrays:
        raise CheckpointError(f"{path}: missing {META_KEY!r}: not a minigan checkpoint")
    try:
        doc = json.loads(arrays.pop(META_KEY).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt meta document ({e})") from None
    if not (isinstance(doc, dict) and "format" in doc):  # format 1: the bare meta document
        return arrays, doc
    version = doc.get("format")
    if not isinstance(version, int) or not 1 <= version <= FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {version!r}; this minigan "
                              f"{_version()} reads formats 1 to {FORMAT} (written by a newer "
                              f"minigan?)")
    meta = doc.get("meta")
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: corrupt meta document (no 'meta' object)")
    if doc.get("checksum") != _digest(arrays, _meta_json(meta)):
        raise CheckpointError(f"{path}: checksum mismatch: the file is corrupt")
    return arrays, meta


def _version() -> str:
    import minigan
    return minigan.__version__


# --- a run's checkpoint folder -----------------------------------------------------------
def checkpoint_path(folder: str | os.PathLike, step: int) -> Path:
    return Path(folder) / f"step_{step:06d}.npz"


def list_checkpoints(folder: str | os.PathLike) -> list[Path]:
    """The checkpoint files of a folder, newest step first; the ``latest.npz`` of runs written
    by minigan 0.1 (one checkpoint per run) last."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    steps = [(int(m.group(1)), p) for p in folder.iterdir()
             if (m := _STEP_FILE.match(p.name)) and p.is_file()]
    found = [p for _, p in sorted(steps, reverse=True)]
    legacy = folder / "latest.npz"
    return found + ([legacy] if legacy.is_file() else [])


def load_latest(folder: str | os.PathLike, quarantine: bool = False):
    """``(path, arrays, meta)`` of the newest readable checkpoint in ``folder``, or ``None``
    when the folder holds no checkpoint. Unreadable ones are skipped with a
    ``CheckpointWarning`` naming each (and with ``quarantine``, renamed to ``NAME.corrupt``, out
    of the rotation but kept for inspection); if every one is unreadable, ``CheckpointError``
    lists them and says what to do."""
    problems, broken = [], []
    for path in list_checkpoints(folder):
        try:
            arrays, meta = load_checkpoint(path)
        except CheckpointError as e:
            problems.append(str(e))
            broken.append(path)
            continue
        if problems:
            moved = ""
            if quarantine:
                for p in broken:
                    p.replace(p.with_name(p.name + ".corrupt"))
                moved = " (renamed to *.corrupt)"
            warnings.warn(f"skipped {len(problems)} unreadable checkpoint(s){moved}: "
                          + "; ".join(problems) + f"; resuming from {path}",
                          CheckpointWarning, stacklevel=2)
        return path, arrays, meta
    if problems:
        raise NoReadableCheckpoint(folder, problems)
    return None


def prune_checkpoints(folder: str | os.PathLike, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` step checkpoints, and the ``latest.npz`` of a 0.1 run
    once a step checkpoint exists."""
    files = list_checkpoints(folder)
    steps = [p for p in files if _STEP_FILE.match(p.name)]
    removed = steps[keep:] + [p for p in files if p.name == "latest.npz" and steps]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


# --- the generator-only export -----------------------------------------------------------
def save_generator(path: str | os.PathLike, arrays: dict[str, np.ndarray], info: dict) -> None:
    """``arrays`` (G's state dict) as safetensors, ``info`` (JSON-able: the run's config, the
    step, the image channels) and a checksum in the header's metadata."""
    from safetensors.numpy import save
    tensors = {k: np.require(v, requirements="C") for k, v in arrays.items()}
    info_json = json.dumps(info, sort_keys=True)
    metadata = {"format": EXPORT_FORMAT, "info": info_json,
                "checksum": _digest(tensors, info_json.encode())}
    atomic_write(path, lambda f: f.write(save(tensors, metadata=metadata)))


def load_generator_export(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and info of a ``generator.safetensors``; ``CheckpointError`` naming the file
    and the problem otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes): not a minigan generator export")
    try:
        from safetensors import safe_open
    except ImportError:
        raise CheckpointError(f"{path}: reading it needs the safetensors package "
                              "(pip install safetensors)") from None
    try:
        with safe_open(str(path), framework="np") as f:
            metadata = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
    except Exception as e:  # noqa: BLE001 - safetensors raises its own and OS errors
        raise CheckpointError(f"{path}: not a readable safetensors file (truncated or corrupt: "
                              f"{e})") from None
    if metadata.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"{path}: format {metadata.get('format')!r}, not a minigan "
                              f"generator export ({EXPORT_FORMAT})")
    info_json = metadata.get("info", "")
    if metadata.get("checksum") != _digest(arrays, info_json.encode()):
        raise CheckpointError(f"{path}: checksum mismatch: the file is corrupt")
    return arrays, json.loads(info_json)
