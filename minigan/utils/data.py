"""Datasets and a batch loader with torch.utils.data's names and behaviour.

``DataLoader(dataset, batch_size=1, shuffle=False, ...)`` yields batches collated into
minigan Tensors (``default_collate``: tensors, numpy arrays and numbers are stacked; tuples,
lists, dicts and namedtuples are collated field by field; strings stay lists). Shuffling is
deterministic: without a generator each pass draws its seed from minigan's random generator
(so ``minigan.manual_seed`` makes the order reproducible, and each epoch differs), as torch
does; ``generator=`` takes a ``numpy.random.Generator`` and ``seed=`` (a minigan extension)
an int. There is no ``minigan.Generator`` (yet).

Loading runs in the calling process: ``num_workers > 0`` is accepted and runs the same
loading in-process (``worker_init_fn`` is called once, with worker id 0, at the start of each
pass); ``pin_memory``, ``timeout``, ``prefetch_factor`` and the other multiprocessing
options are validated as torch does and have no effect otherwise.

Nothing here is shared with ``minigan.data`` (the command line's dataset files).
"""

from __future__ import annotations

import bisect
import math
import numbers
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

import minigan
from minigan.autograd.tensor import Tensor

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "Subset", "random_split",
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "BatchSampler",
    "DataLoader", "default_collate", "default_convert", "get_worker_info",
]


# --- datasets -----------------------------------------------------------------------------
class Dataset:
    """A map-style dataset: ``__getitem__(index)`` for 0 <= index < ``len(dataset)``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__}: a Dataset must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset read as a stream: ``__iter__`` yields the samples (no indexing, no
    shuffling by the loader)."""

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__}: an IterableDataset must define "
                                  "__iter__")

    def __add__(self, other):
        raise TypeError(f"{type(self).__name__}: IterableDatasets cannot be concatenated "
                        "with +")


def _rows(t) -> int:
    return t.shape[0]


class TensorDataset(Dataset):
    """Sample i is ``tuple(t[i] for t in tensors)``; each tensor is a minigan Tensor or a
    numpy array, all with the same first dim. Batches of numpy arrays become one tensor per
    batch (on the default backend); minigan Tensors are gathered on their own backend."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        for i, t in enumerate(tensors):
            if not isinstance(t, (Tensor, np.ndarray)):
                raise TypeError(f"TensorDataset: tensor {i} must be a minigan Tensor or a numpy "
                                f"array, got {type(t).__name__}")
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: tensor {i} is 0-d (shape ()); each tensor "
                                 "needs a first dim to index samples along")
        n = _rows(tensors[0])
        for i, t in enumerate(tensors[1:], 1):
            if _rows(t) != n:
                raise ValueError(f"TensorDataset: size mismatch between tensors: tensor 0 has "
                                 f"shape {tuple(tensors[0].shape)} but tensor {i} has shape "
                                 f"{tuple(t.shape)} (first dims differ)")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[_as_index(index, len(self), "TensorDataset")] for t in self.tensors)

    def __len__(self) -> int:
        return _rows(self.tensors[0])

    def _collated(self, indices: list) -> list:
        """default_collate of the samples at ``indices``, gathered in one step per tensor."""
        idx = np.asarray(indices, dtype=np.int64)
        out = []
        for t in self.tensors:
            if isinstance(t, Tensor):
                out.append(minigan.functional.index_select(t, 0, idx))
            else:
                out.append(_array_to_tensor(t[idx], "default_collate"))
        return out


def _as_index(index, n: int, who: str) -> int:
    if not isinstance(index, (numbers.Integral, np.integer)) or isinstance(index, bool):
        raise TypeError(f"{who}: index must be an int, got {type(index).__name__}")
    index = int(index)
    if not -n <= index < n:
        raise IndexError(f"{who}: index {index} is out of range for {n} samples")
    return index


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[_as_index(index, len(self), "Subset")]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """The samples of several datasets, one after another."""

    def __init__(self, datasets: Iterable[Dataset]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for i, d in enumerate(self.datasets):
            if isinstance(d, IterableDataset):
                raise TypeError(f"ConcatDataset: dataset {i} is an IterableDataset, which "
                                "cannot be indexed")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]))

    def __len__(self) -> int:
        return int(self.cumulative_sizes[-1])

    def __getitem__(self, index):
        index = _as_index(index, len(self), "ConcatDataset") % len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = 0 if which == 0 else int(self.cumulative_sizes[which - 1])
        return self.datasets[which][index - start]


# --- random numbers -----------------------------------------------------------------------
def _seed_from_minigan() -> int:
    """A seed drawn from minigan's generator (the default backend's; minigan.manual_seed
    fixes it), as torch draws one from its default generator."""
    return int(minigan.randint(0, 2**31 - 1, ()).item())


def _check_generator(who: str, generator, seed) -> None:
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(f"{who}: generator must be a numpy.random.Generator (or pass seed=), "
                        f"got {type(generator).__name__}")
    if generator is not None and seed is not None:
        raise ValueError(f"{who}: give generator or seed, not both")
    if seed is not None and (not isinstance(seed, (numbers.Integral, np.integer))
                             or isinstance(seed, bool)):
        raise TypeError(f"{who}: seed must be an int, got {type(seed).__name__}")


def _pass_rng(generator) -> np.random.Generator:
    """The generator of one pass: the given one (its state advances), else a fresh one
    seeded from minigan's generator."""
    return generator if generator is not None else np.random.default_rng(_seed_from_minigan())


def random_split(dataset: Dataset, lengths: Sequence, generator=None, *, seed=None) -> list:
    """Split ``dataset`` into non-overlapping random Subsets of the given ``lengths`` (ints
    summing to len(dataset), or fractions summing to 1: floors, with the remainder handed
    out one by one from the first split, as torch)."""
    _check_generator("random_split", generator, seed)
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:  # fractions (torch's test)
        for i, f in enumerate(lengths):
            if not 0 <= f <= 1:
                raise ValueError(f"random_split: fraction {f} at index {i} of lengths {lengths} "
                                 "is not between 0 and 1")
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an "
                              "empty dataset.", UserWarning, stacklevel=2)
        lengths = sizes
    if any(not isinstance(x, numbers.Integral) or x < 0 for x in lengths) or sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} must be non-negative ints summing to "
                         f"the dataset's length {n} (or fractions summing to 1)")
    rng = np.random.default_rng(seed) if seed is not None else _pass_rng(generator)
    order = rng.permutation(n).tolist()
    bounds = np.cumsum([0] + lengths)
    return [Subset(dataset, order[bounds[i]:bounds[i + 1]]) for i in range(len(lengths))]


# --- samplers -----------------------------------------------------------------------------
class Sampler:
    """Yields dataset indices (or lists of indices, for a batch sampler)."""

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__}: a Sampler must define __iter__")


class SequentialSampler(Sampler):
    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation per pass (``num_samples`` > n: several permutations back to
    back), or ``num_samples`` draws with replacement."""

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None,
                 generator=None, *, seed=None):
        _check_generator("RandomSampler", generator, seed)
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a boolean value, but got "
                            f"replacement={replacement}")
        if num_samples is not None and (not isinstance(num_samples, numbers.Integral)
                                        or num_samples <= 0):
            raise ValueError(f"RandomSampler: num_samples should be a positive integer value, "
                             f"but got num_samples={num_samples}")
        self.data_source, self.replacement = data_source, replacement
        self._num_samples = num_samples
        self.generator = np.random.default_rng(seed) if seed is not None else generator

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def __iter__(self) -> Iterator[int]:
        n, count = len(self.data_source), self.num_samples
        rng = _pass_rng(self.generator)
        if self.replacement:
            if n == 0:
                raise ValueError("RandomSampler: cannot draw with replacement from an empty "
                                 "dataset")
            yield from rng.integers(0, n, count).tolist()
            return
        for _ in range(count // n if n else 0):
            yield from rng.permutation(n).tolist()
        if n:
            yield from rng.permutation(n)[:count % n].tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order per pass."""

    def __init__(self, indices: Sequence[int], generator=None, *, seed=None):
        _check_generator("SubsetRandomSampler", generator, seed)
        self.indices = indices
        self.generator = np.random.default_rng(seed) if seed is not None else generator

    def __iter__(self) -> Iterator[int]:
        for i in _pass_rng(self.generator).permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler`` (the last one shorter unless
    ``drop_last``)."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or \
                batch_size <= 0:
            raise ValueError(f"BatchSampler: batch_size should be a positive integer value, "
                             f"but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last should be a boolean value, but got "
                             f"drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, int(batch_size), drop_last

    def __iter__(self) -> Iterator[list]:
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


# --- collation ----------------------------------------------------------------------------
_COLLATE_ERROR = ("{who}: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                  "found {kind}")


def _array_to_tensor(array: np.ndarray, who: str) -> Tensor:
    if array.dtype.kind in "SaUOV":
        raise TypeError(_COLLATE_ERROR.format(who=who, kind=f"numpy array of dtype {array.dtype}"))
    return minigan.tensor(array)


def default_convert(data):
    """What the loader does to each sample without batching (batch_size=None): numpy arrays
    and numpy scalars become Tensors; containers are converted element by element; anything
    else is returned as is."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "SaUOV":
        return minigan.tensor(data)
    if isinstance(data, np.generic) and not isinstance(data, (np.str_, np.bytes_)):
        return minigan.tensor(np.asarray(data))
    if isinstance(data, Mapping):
        converted = {k: default_convert(v) for k, v in data.items()}
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        converted = [default_convert(d) for d in data]
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    return data


def _same_shapes(who: str, shapes: list) -> None:
    for i, shape in enumerate(shapes):
        if shape != shapes[0]:
            raise ValueError(f"{who}: cannot stack the batch: entry 0 has shape {shapes[0]} but "
                             f"entry {i} has shape {shape}")


def default_collate(batch: Sequence):
    """Stack a list of samples into a batch, as torch's default_collate: Tensors -> stacked
    Tensor; numpy arrays and numpy scalars -> one Tensor (dtype kept); Python floats ->
    float64, ints -> int64, bools -> bool Tensors; str/bytes -> the list; dicts ->
    dict of collated values; namedtuples -> the namedtuple of collated fields; tuples and
    lists -> a list of collated fields (lists keep their type where possible)."""
    # torch's order of tests; the fields of tuple samples arrive as tuples (zip)
    who = "default_collate"
    if not isinstance(batch, Sequence) or isinstance(batch, (str, bytes)):
        raise TypeError(f"{who}: expects a list of samples, got {type(batch).__name__}")
    if not batch:
        raise ValueError(f"{who}: expects a non-empty list of samples, got an empty one")
    elem = batch[0]
    if isinstance(elem, Tensor):
        if not all(isinstance(b, Tensor) for b in batch):
            raise TypeError(f"{who}: entry 0 is a Tensor but not every entry is")
        _same_shapes(who, [b.shape for b in batch])
        return minigan.stack(list(batch))
    if isinstance(elem, np.ndarray):
        if not all(isinstance(b, np.ndarray) for b in batch):
            raise TypeError(f"{who}: entry 0 is a numpy array but not every entry is")
        _same_shapes(who, [b.shape for b in batch])
        return _array_to_tensor(np.stack(batch), who)
    if isinstance(elem, np.generic):
        return _array_to_tensor(np.asarray(batch), who)
    if isinstance(elem, bool):
        return minigan.tensor(np.asarray(batch, dtype=np.bool_))
    if isinstance(elem, numbers.Integral):
        return minigan.tensor(np.asarray(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return minigan.tensor(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return batch  # as torch: the list (a tuple for a field of tuple samples)
    if isinstance(elem, Mapping):
        keys = list(elem)
        for i, b in enumerate(batch):
            if not isinstance(b, Mapping) or set(b) != set(keys):
                raise ValueError(f"{who}: entry 0 is a dict with keys {keys} but entry {i} "
                                 f"has {list(b) if isinstance(b, Mapping) else type(b).__name__}")
        collated = {k: default_collate([b[k] for b in batch]) for k in keys}
        try:
            return type(elem)(collated)
        except TypeError:
            return collated
    if isinstance(elem, Sequence):
        sizes = [len(b) if isinstance(b, Sequence) else None for b in batch]
        if any(s != sizes[0] for s in sizes):
            raise ValueError(f"{who}: each element in list of batch should be of equal size; "
                             f"entry 0 has {sizes[0]} fields, entry "
                             f"{next(i for i, s in enumerate(sizes) if s != sizes[0])} has "
                             f"{next(s for s in sizes if s != sizes[0])}")
        fields = [default_collate(samples) for samples in zip(*batch)]
        if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
            return type(elem)(*fields)
        if isinstance(elem, tuple):
            return fields
        try:
            return type(elem)(fields)
        except TypeError:
            return fields
    raise TypeError(_COLLATE_ERROR.format(who=who, kind=type(elem).__name__))


def get_worker_info():
    """None: loading always runs in the calling process."""
    return None


# --- the loader ---------------------------------------------------------------------------
class DataLoader:
    """Batches of ``dataset`` (see the module docstring). torch's signature; ``seed=`` is a
    minigan extension (a reproducible shuffle without a generator object)."""

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler=None, batch_sampler=None, num_workers: int = 0, collate_fn=None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True, seed: int | None = None):
        who = "DataLoader"
        if not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError(f"{who}: num_workers option should be non-negative; use "
                             f"num_workers=0 to disable multiprocessing (got {num_workers})")
        if timeout < 0:
            raise ValueError(f"{who}: timeout option should be non-negative, got {timeout}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(f"{who}: prefetch_factor option could only be specified in "
                             "multiprocessing; let num_workers > 0 to enable multiprocessing, "
                             "otherwise set prefetch_factor to None")
        if persistent_workers and num_workers == 0:
            raise ValueError(f"{who}: persistent_workers option needs num_workers > 0")
        _check_generator(who, generator, seed)
        if not hasattr(dataset, "__getitem__") and not isinstance(dataset, IterableDataset):
            raise TypeError(f"{who}: dataset must be indexable (a Dataset, a list, ...) or an "
                            f"IterableDataset, got {type(dataset).__name__}")

        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in (None, False):
                raise ValueError(f"{who} with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"{who} with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"{who} with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        else:
            if sampler is not None and shuffle:
                raise ValueError(f"{who}: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(f"{who}: batch_sampler option is mutually exclusive with "
                                 "batch_size, shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None:
            if drop_last:
                raise ValueError(f"{who}: batch_size=None option disables auto-batching and is "
                                 "mutually exclusive with drop_last")
        elif not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or \
                batch_size <= 0:
            raise ValueError(f"{who}: batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")

        if not self._iterable and sampler is None:
            sampler = RandomSampler(dataset, generator=generator, seed=seed) if shuffle \
                else SequentialSampler(dataset)
        if not self._iterable and batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, int(batch_size), bool(drop_last))

        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.num_workers, self.timeout, self.pin_memory = num_workers, timeout, pin_memory
        self.pin_memory_device, self.in_order = pin_memory_device, in_order
        self.worker_init_fn, self.multiprocessing_context = worker_init_fn, multiprocessing_context
        self.prefetch_factor, self.persistent_workers = prefetch_factor, persistent_workers
        self.generator = generator
        self._auto_collation = batch_size is not None or batch_sampler is not None
        self._default_collate = collate_fn is None
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    def __len__(self) -> int:
        if self._iterable:
            try:
                n = len(self.dataset)
            except TypeError:
                raise TypeError(f"DataLoader: the IterableDataset {type(self.dataset).__name__} "
                                "has no __len__, so neither has its loader") from None
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self._auto_collation else self.sampler)

    def __iter__(self) -> Iterator:
        if self.num_workers > 0 and self.worker_init_fn is not None:
            self.worker_init_fn(0)
        if self._iterable:
            return self._iterate_stream()
        return self._iterate_map()

    def _iterate_map(self) -> Iterator:
        if not self._auto_collation:
            for index in self.sampler:
                yield self.collate_fn(self.dataset[index])
            return
        fast = self._default_collate and type(self.dataset) is TensorDataset
        for indices in self.batch_sampler:
            indices = list(indices)
            if fast:
                yield self.dataset._collated(indices)
            else:
                yield self.collate_fn([self.dataset[i] for i in indices])

    def _iterate_stream(self) -> Iterator:
        if not self._auto_collation:
            for sample in self.dataset:
                yield self.collate_fn(sample)
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)
