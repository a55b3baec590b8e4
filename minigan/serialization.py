"""``minigan.save`` / ``minigan.load``: state_dicts, tensors and nested containers of them in a
file that cannot run code when loaded.

The file is a zip (numpy's ``.npz``, read with ``allow_pickle=False``) holding every array plus
a JSON document that describes the container tree (dicts with str or int keys, lists, tuples,
numbers, strings, None, numpy arrays, tensors with their backend and requires_grad). It is
written atomically. ``load`` also reads torch's own files (``torch.save``) when torch is
installed, with ``weights_only=True``, and turns their tensors into minigan tensors, so a
state_dict saved by a torch script loads into the same model built with minigan.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

TREE_KEY = "__minigan_tree__"
FORMAT = 1


class SerializationError(RuntimeError):
    """A file minigan.load cannot read, or an object minigan.save cannot write."""


def save(obj, f) -> None:
    """Write ``obj`` to ``f`` (a path or a binary file object)."""
    arrays: dict[str, np.ndarray] = {}
    tree = {"format": FORMAT, "root": _encode(obj, arrays, "obj")}
    payload = dict(arrays)
    payload[TREE_KEY] = np.frombuffer(json.dumps(tree).encode(), dtype=np.uint8)
    if isinstance(f, (str, os.PathLike)):
        from minigan.training.checkpoint import atomic_write
        atomic_write(f, lambda fh: np.savez(fh, **payload))
    else:
        np.savez(f, **payload)


def load(f, map_location=None, weights_only: bool = True):
    """Read what ``save`` wrote (or a ``torch.save`` file). ``map_location``: where tensors go
    ('cpu', 'cuda', a ``minigan.device`` or a backend name); by default where they were."""
    name = str(f) if isinstance(f, (str, os.PathLike)) else getattr(f, "name", "<file object>")
    data = Path(f).read_bytes() if isinstance(f, (str, os.PathLike)) else f.read()
    if not data:
        raise SerializationError(f"minigan.load: {name}: empty file")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        members = zf.namelist()
    except zipfile.BadZipFile:
        raise SerializationError(f"minigan.load: {name}: not a file written by minigan.save "
                                 f"or torch.save (not a zip archive)") from None
    if f"{TREE_KEY}.npy" not in members:
        if any(m.endswith("data.pkl") for m in members):
            return _load_torch(data, name, map_location)
        raise SerializationError(f"minigan.load: {name}: a zip archive, but not one written by "
                                 f"minigan.save or torch.save")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        tree = json.loads(arrays.pop(TREE_KEY).tobytes().decode())
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise SerializationError(f"minigan.load: {name}: corrupt file ({e})") from None
    if tree.get("format") != FORMAT:
        raise SerializationError(f"minigan.load: {name}: format {tree.get('format')!r}, this "
                                 f"minigan reads format {FORMAT}")
    return _decode(tree["root"], arrays, map_location, name)


def _encode(obj, arrays: dict, path: str):
    import minigan
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, minigan.Tensor):
        key = f"a{len(arrays)}"
        arrays[key] = obj.detach().numpy()
        return {"__tensor__": key, "backend": obj.backend,
                "requires_grad": bool(obj.requires_grad and obj.is_leaf),
                "parameter": isinstance(obj, minigan.nn.Parameter)}
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise SerializationError(f"minigan.save: {path} is an object array; only numeric "
                                     f"arrays can be saved")
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__ndarray__": key}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise SerializationError(f"minigan.save: {path} has a key of type "
                                         f"{type(k).__name__}; keys must be str or int")
            items.append([k, _encode(v, arrays, f"{path}[{k!r}]")])
        return {"__dict__": items}
    if isinstance(obj, (list, tuple)):
        kind = "__list__" if isinstance(obj, list) else "__tuple__"
        return {kind: [_encode(v, arrays, f"{path}[{i}]") for i, v in enumerate(obj)]}
    raise SerializationError(f"minigan.save: {path} is a {type(obj).__name__}; minigan.save "
                             f"writes tensors, arrays, numbers, strings, None and dicts, lists "
                             f"and tuples of them (no code, so nothing runs on load)")


def _target_backend(saved: str, map_location, name: str) -> str:
    from minigan.backends import BackendUnavailableError, get_backend
    from minigan.device import backend_for
    backend = saved if map_location is None else backend_for(map_location)
    try:
        get_backend(backend)
    except BackendUnavailableError as e:
        raise SerializationError(
            f"minigan.load: {name}: holds tensors of backend {saved!r}, which cannot run here "
            f"({e}); pass map_location='cpu' to load them on the numpy backend") from None
    return backend


def _decode(node, arrays: dict, map_location, name: str):
    import minigan
    if not isinstance(node, dict):
        return node
    if "__tensor__" in node:
        backend = _target_backend(node["backend"], map_location, name)
        t = minigan.tensor(arrays[node["__tensor__"]], backend=backend)
        if node.get("parameter"):
            return minigan.nn.Parameter(t, requires_grad=node.get("requires_grad", True))
        return t.requires_grad_(True) if node.get("requires_grad") else t
    if "__ndarray__" in node:
        return arrays[node["__ndarray__"]]
    if "__dict__" in node:
        return {k: _decode(v, arrays, map_location, name) for k, v in node["__dict__"]}
    if "__list__" in node:
        return [_decode(v, arrays, map_location, name) for v in node["__list__"]]
    if "__tuple__" in node:
        return tuple(_decode(v, arrays, map_location, name) for v in node["__tuple__"])
    raise SerializationError(f"minigan.load: {name}: unknown node {sorted(node)} in the tree")


def _load_torch(data: bytes, name: str, map_location):
    try:
        import torch
    except ImportError:
        raise SerializationError(f"minigan.load: {name} was written by torch.save; reading it "
                                 f"needs torch installed") from None
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch's unpickler raises many kinds
        raise SerializationError(f"minigan.load: {name}: torch.load(weights_only=True) "
                                 f"refused it ({type(e).__name__}: {e})") from None
    backend = _target_backend("numpy", map_location, name)
    return _from_torch(obj, torch, backend)


def _from_torch(obj, torch, backend: str):
    import minigan
    if isinstance(obj, torch.Tensor):
        t = minigan.tensor(obj.detach().cpu().numpy(), backend=backend)
        if isinstance(obj, torch.nn.Parameter):
            return minigan.nn.Parameter(t, requires_grad=obj.requires_grad)
        return t
    if isinstance(obj, dict):  # OrderedDict of a state_dict included
        return {k: _from_torch(v, torch, backend) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_from_torch(v, torch, backend) for v in obj)
    return obj
