"""minigan.utils.data against torch.utils.data: batching, len, drop_last, collation of
tensors/arrays/numbers/strings/tuples/dicts/namedtuples, samplers, IterableDataset,
random_split sizes; seeded and manual_seed-driven shuffles that reproduce; the torch
argument checks and errors that name the argument and the shapes."""

from __future__ import annotations

import warnings
from collections import namedtuple

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import minigan
from minigan.utils import data as mud
from minigan.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)

Point = namedtuple("Point", "x y")


def plain(obj):
    """A batch as nested plain Python/numpy values, from either library, for comparison:
    tensors become (dtype name, values)."""
    if isinstance(obj, minigan.Tensor):
        return ("tensor", str(obj.dtype), obj.numpy().tolist())
    if isinstance(obj, torch.Tensor):
        return ("tensor", str(obj.dtype).replace("torch.", ""), obj.numpy().tolist())
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [plain(v) for v in obj])
    return obj


def both_loaders(dataset, **kwargs):
    return list(DataLoader(dataset, **kwargs)), list(tud.DataLoader(dataset, **kwargs))


# --- batching and collation against torch -------------------------------------------------
SAMPLES = {
    "array": [np.arange(3, dtype=np.float32) + i for i in range(5)],
    "float64_array": [np.full((2, 2), i, dtype=np.float64) for i in range(5)],
    "int": list(range(5)),
    "float": [0.5 * i for i in range(5)],
    "bool": [i % 2 == 0 for i in range(5)],
    "numpy_scalar": [np.float32(i) for i in range(5)],
    "string": [f"s{i}" for i in range(5)],
    "tuple": [(np.ones(2, np.float32) * i, i, f"n{i}") for i in range(5)],
    "list": [[i, 2.0 * i] for i in range(5)],
    "dict": [{"image": np.ones((1, 2), np.float32) * i, "label": i, "meta": {"w": 0.1 * i}}
             for i in range(5)],
    "namedtuple": [Point(np.float64(i), [i, i + 1]) for i in range(5)],
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
@pytest.mark.parametrize("batch_size, drop_last", [(2, False), (2, True), (5, False), (1, False),
                                                   (7, True)])
def test_batches_and_len_match_torch(kind, batch_size, drop_last):
    dataset = SAMPLES[kind]
    ours, theirs = both_loaders(dataset, batch_size=batch_size, drop_last=drop_last)
    assert len(DataLoader(dataset, batch_size=batch_size, drop_last=drop_last)) == \
        len(tud.DataLoader(dataset, batch_size=batch_size, drop_last=drop_last)) == len(ours)
    assert [plain(b) for b in ours] == [plain(b) for b in theirs]


def test_namedtuple_and_list_types_survive_collation():
    batch = next(iter(DataLoader(SAMPLES["namedtuple"], batch_size=3)))
    assert isinstance(batch, Point) and isinstance(batch.y, list)
    assert batch.x.dtype == minigan.float64 and batch.x.shape == (3,)


@pytest.mark.parametrize("kind", ["array", "tuple", "dict", "int"])
def test_no_auto_batching_converts_like_torch(kind):
    ours, theirs = both_loaders(SAMPLES[kind], batch_size=None)
    assert len(ours) == 5
    assert [plain(b) for b in ours] == [plain(b) for b in theirs]


def test_tensor_dataset_over_arrays_matches_torch():
    x = np.random.default_rng(0).standard_normal((7, 2, 3)).astype(np.float32)
    y = np.arange(7)
    ours = TensorDataset(x, y)
    theirs = tud.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    assert len(ours) == 7
    for kwargs in (dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=10)):
        got = list(DataLoader(ours, **kwargs))
        ref = list(tud.DataLoader(theirs, **kwargs))
        assert [plain(b) for b in got] == [plain(b) for b in ref]
    xi, yi = ours[-1]
    assert np.array_equal(xi, x[-1]) and yi == 6


def test_tensor_dataset_over_tensors_on_each_backend(backend):
    x = minigan.tensor(np.arange(12.0).reshape(6, 2), backend=backend)
    labels = minigan.tensor(np.arange(6), backend=backend)
    dataset = TensorDataset(x, labels)
    item = dataset[4]
    assert isinstance(item, tuple) and item[0].numpy().tolist() == [8.0, 9.0]
    batches = list(DataLoader(dataset, batch_size=4))
    assert [b[0].shape for b in batches] == [(4, 2), (2, 2)]
    assert all(b[0].backend == backend and b[1].dtype == minigan.int64 for b in batches)
    assert batches[1][0].numpy().tolist() == [[8.0, 9.0], [10.0, 11.0]]
    # the one-gather path equals collating the items one by one
    slow = list(DataLoader(dataset, batch_size=4, collate_fn=default_collate))
    for fast_batch, slow_batch in zip(batches, slow):
        assert plain(fast_batch) == plain(slow_batch)


def test_collated_tensors_keep_their_graph():
    w = minigan.ones(3, requires_grad=True, dtype=minigan.float64)
    dataset = [w * float(i) for i in range(4)]
    batch = next(iter(DataLoader(dataset, batch_size=4)))
    (g,) = minigan.grad(batch.sum(), [w])
    assert g.numpy().tolist() == [6.0, 6.0, 6.0]


# --- shuffling ----------------------------------------------------------------------------
def order(loader):
    return [int(i) for batch in loader for i in batch.numpy()]


def test_shuffle_with_a_seed_reproduces_and_changes_between_epochs():
    loader = DataLoader(list(range(20)), batch_size=6, shuffle=True, seed=3)
    first, second = order(loader), order(loader)
    assert sorted(first) == sorted(second) == list(range(20))
    assert first != second  # a new permutation each epoch
    again = DataLoader(list(range(20)), batch_size=6, shuffle=True, seed=3)
    assert [order(again), order(again)] == [first, second]
    assert order(DataLoader(list(range(20)), batch_size=6, shuffle=True, seed=4)) != first


def test_shuffle_follows_minigan_manual_seed():
    loader = DataLoader(list(range(16)), batch_size=5, shuffle=True)
    minigan.manual_seed(11)
    epochs = [order(loader), order(loader)]
    minigan.manual_seed(11)
    assert [order(loader), order(loader)] == epochs
    assert epochs[0] != epochs[1] and sorted(epochs[0]) == list(range(16))
    minigan.manual_seed(12)
    assert order(loader) != epochs[0]


def test_shuffle_with_a_numpy_generator():
    def run(seed):
        loader = DataLoader(list(range(10)), batch_size=3, shuffle=True,
                            generator=np.random.default_rng(seed))
        return order(loader) + order(loader)

    assert run(5) == run(5) != run(6)


def test_random_sampler_options():
    data = list(range(6))
    with_replacement = list(RandomSampler(data, replacement=True, num_samples=50, seed=1))
    assert len(with_replacement) == 50 and set(with_replacement) <= set(data)
    assert len(set(with_replacement)) < 50
    many = list(RandomSampler(data, num_samples=14, seed=1))
    assert len(many) == 14 and sorted(many[:6]) == data and sorted(many[6:12]) == data
    assert len(RandomSampler(data, num_samples=14)) == 14
    subset = list(mud.SubsetRandomSampler([10, 20, 30], seed=2))
    assert sorted(subset) == [10, 20, 30]


def test_samplers_and_batch_samplers_as_torch():
    data = list(range(10))
    sampler = SequentialSampler(data)
    assert list(BatchSampler(sampler, 4, False)) == \
        list(tud.BatchSampler(tud.SequentialSampler(data), 4, False))
    assert len(BatchSampler(sampler, 4, True)) == 2
    picks = [9, 1, 4]
    ours, theirs = both_loaders(data, batch_size=2, sampler=picks)
    assert [plain(b) for b in ours] == [plain(b) for b in theirs]
    ours, theirs = both_loaders(data, batch_sampler=[[0, 1, 2], [7]])
    assert [plain(b) for b in ours] == [plain(b) for b in theirs]
    assert len(DataLoader(data, batch_sampler=[[0, 1, 2], [7]])) == 2


# --- datasets -----------------------------------------------------------------------------
def test_subset_concat_and_add():
    a, b = TensorDataset(np.arange(3)), TensorDataset(np.arange(10, 14))
    both = a + b
    assert isinstance(both, ConcatDataset) and len(both) == 7
    assert [int(both[i][0]) for i in range(7)] == [0, 1, 2, 10, 11, 12, 13]
    assert int(both[-1][0]) == 13
    sub = Subset(both, [6, 0, 3])
    assert len(sub) == 3 and [int(sub[i][0]) for i in range(3)] == [13, 0, 10]
    batch = next(iter(DataLoader(sub, batch_size=3)))
    assert batch[0].numpy().tolist() == [13, 0, 10]


@pytest.mark.parametrize("n, lengths", [(10, [3, 7]), (10, [0.3, 0.7]), (11, [0.5, 0.5]),
                                        (7, [0.2, 0.2, 0.6]), (5, [1, 1, 1, 1, 1])])
def test_random_split_sizes_match_torch(n, lengths):
    ours = random_split(list(range(n)), lengths, seed=0)
    theirs = tud.random_split(list(range(n)), lengths)
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    everything = sorted(i for s in ours for i in (s[j] for j in range(len(s))))
    assert everything == list(range(n))


def test_random_split_reproducible():
    def split(**kwargs):
        return [list(s.indices) for s in random_split(range(12), [4, 8], **kwargs)]

    assert split(seed=1) == split(seed=1) != split(seed=2)
    assert split(generator=np.random.default_rng(3)) == split(generator=np.random.default_rng(3))
    minigan.manual_seed(5)
    first = split()
    minigan.manual_seed(5)
    assert split() == first


def test_random_split_warns_on_an_empty_split_like_torch():
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        parts = random_split(range(2), [0.9, 0.05, 0.05], seed=0)
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        ref = tud.random_split(range(2), [0.9, 0.05, 0.05])
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    assert "Length of split at index 1 is 0" in str(ours[0].message)
    assert [len(p) for p in parts] == [len(p) for p in ref]


class Stream(IterableDataset):
    def __init__(self, n, with_len=True):
        self.n, self.with_len = n, with_len

    def __iter__(self):
        return iter(np.full(2, i, dtype=np.float32) for i in range(self.n))

    def __len__(self):
        if not self.with_len:
            raise TypeError("no len")
        return self.n


class TorchStream(tud.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(np.full(2, i, dtype=np.float32) for i in range(self.n))

    def __len__(self):
        return self.n


@pytest.mark.parametrize("kwargs", [dict(batch_size=2), dict(batch_size=2, drop_last=True),
                                    dict(batch_size=None)])
def test_iterable_dataset_like_torch(kwargs):
    ours = DataLoader(Stream(5), **kwargs)
    theirs = tud.DataLoader(TorchStream(5), **kwargs)
    assert len(ours) == len(theirs)
    assert [plain(b) for b in ours] == [plain(b) for b in theirs]


def test_in_process_workers():
    seen = []
    loader = DataLoader(list(range(5)), batch_size=2, num_workers=3, worker_init_fn=seen.append,
                        prefetch_factor=2, persistent_workers=True, pin_memory=True)
    assert order(loader) == [0, 1, 2, 3, 4] and seen == [0]
    assert mud.get_worker_info() is None


# --- errors -------------------------------------------------------------------------------
class NoItems(Dataset):
    def __len__(self):
        return 2


ERRORS = [
    (lambda: TensorDataset(np.zeros((3, 2)), np.zeros(4)), ValueError,
     r"TensorDataset: size mismatch between tensors: tensor 0 has shape \(3, 2\) but tensor 1 "
     r"has shape \(4,\)"),
    (lambda: TensorDataset([1, 2]), TypeError,
     "TensorDataset: tensor 0 must be a minigan Tensor or a numpy array, got list"),
    (lambda: TensorDataset(np.float32(1)), TypeError, "TensorDataset: tensor 0 must be"),
    (lambda: TensorDataset(np.zeros(())), ValueError, r"TensorDataset: tensor 0 is 0-d"),
    (lambda: TensorDataset(), ValueError, "TensorDataset: expected at least one tensor"),
    (lambda: TensorDataset(np.zeros(3))[3], IndexError,
     "TensorDataset: index 3 is out of range for 3 samples"),
    (lambda: NoItems()[0], NotImplementedError, "NoItems: a Dataset must define __getitem__"),
    (lambda: default_collate([np.zeros(2), np.zeros(3)]), ValueError,
     r"default_collate: cannot stack the batch: entry 0 has shape \(2,\) but entry 1 has "
     r"shape \(3,\)"),
    (lambda: default_collate([minigan.zeros(2), minigan.zeros(3)]), ValueError,
     r"entry 0 has shape \(2,\) but entry 1 has shape \(3,\)"),
    (lambda: default_collate([np.array(["a"]), np.array(["b"])]), TypeError,
     "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
     "found numpy array of dtype <U1"),
    (lambda: default_collate([object()]), TypeError, "found object"),
    (lambda: default_collate([{"a": 1}, {"b": 2}]), ValueError,
     r"default_collate: entry 0 is a dict with keys \['a'\] but entry 1 has \['b'\]"),
    (lambda: default_collate([(1, 2), (1,)]), ValueError,
     "each element in list of batch should be of equal size; entry 0 has 2 fields, entry 1 "
     "has 1"),
    (lambda: default_collate([]), ValueError, "default_collate: expects a non-empty list"),
    (lambda: DataLoader([1], batch_size=0), ValueError,
     "DataLoader: batch_size should be a positive integer value, but got batch_size=0"),
    (lambda: DataLoader([1], num_workers=-1), ValueError,
     "DataLoader: num_workers option should be non-negative"),
    (lambda: DataLoader([1], prefetch_factor=2), ValueError,
     "DataLoader: prefetch_factor option could only be specified in multiprocessing"),
    (lambda: DataLoader([1], persistent_workers=True), ValueError,
     "persistent_workers option needs num_workers > 0"),
    (lambda: DataLoader([1], timeout=-1), ValueError, "timeout option should be non-negative"),
    (lambda: DataLoader([1], sampler=[0], shuffle=True), ValueError,
     "sampler option is mutually exclusive with shuffle"),
    (lambda: DataLoader([1], batch_sampler=[[0]], batch_size=2), ValueError,
     "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and "
     "drop_last"),
    (lambda: DataLoader([1], batch_size=None, drop_last=True), ValueError,
     "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"),
    (lambda: DataLoader(Stream(2), shuffle=True), ValueError,
     "DataLoader with IterableDataset: expected unspecified shuffle option"),
    (lambda: len(DataLoader(Stream(2, with_len=False))), TypeError,
     "DataLoader: the IterableDataset Stream has no __len__"),
    (lambda: DataLoader([1], shuffle=True, generator=torch.Generator()), TypeError,
     "DataLoader: generator must be a numpy.random.Generator .*got Generator"),
    (lambda: DataLoader([1], shuffle=True, seed=1.5), TypeError,
     "DataLoader: seed must be an int, got float"),
    (lambda: DataLoader([1], shuffle=True, seed=1, generator=np.random.default_rng()),
     ValueError, "DataLoader: give generator or seed, not both"),
    (lambda: DataLoader(5), TypeError, "DataLoader: dataset must be indexable"),
    (lambda: random_split(range(5), [2, 2]), ValueError,
     r"random_split: lengths \[2, 2\] must be non-negative ints summing to the dataset's "
     r"length 5"),
    (lambda: random_split(range(5), [1.5, -0.5]), ValueError,
     r"random_split: fraction 1.5 at index 0 .* is not between 0 and 1"),
    (lambda: BatchSampler([0], 2, drop_last=1), ValueError,
     "BatchSampler: drop_last should be a boolean value"),
    (lambda: RandomSampler([0], num_samples=0), ValueError,
     "RandomSampler: num_samples should be a positive integer value"),
    (lambda: Subset([1, 2], [0])[1], IndexError, "Subset: index 1 is out of range for 1"),
    (lambda: ConcatDataset([]), ValueError, "ConcatDataset: datasets should not be an empty"),
]


@pytest.mark.parametrize("case", range(len(ERRORS)))
def test_errors_name_the_argument(case):
    fn, kind, pattern = ERRORS[case]
    with pytest.raises(kind, match=pattern):
        fn()
