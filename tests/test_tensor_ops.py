"""Tensor methods and elementwise/reduction/layout primitives against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, broadcastable_shapes

import minigan
from tests.torch_ref import check

shapes = array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=5)


def values(draw, shape, low=-3.0, high=3.0):
    seed = draw(st.integers(0, 2**31 - 1))
    return np.asarray(np.random.default_rng(seed).uniform(low, high, size=shape))


UNARY = {
    "neg": (lambda x: -x, lambda x: -x, None),
    "exp": (lambda x: x.exp(), lambda x: x.exp(), None),
    "log": (lambda x: x.log(), lambda x: x.log(), (0.1, 3.0)),
    "sqrt": (lambda x: x.sqrt(), lambda x: x.sqrt(), (0.1, 3.0)),
    "abs": (lambda x: x.abs(), lambda x: x.abs(), None),
    "tanh": (lambda x: x.tanh(), lambda x: x.tanh(), None),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: x.sigmoid(), None),
    "relu": (lambda x: x.relu(), lambda x: x.relu(), None),
    "pow3": (lambda x: x ** 3, lambda x: x ** 3, None),
    "pow_half": (lambda x: x ** 0.5, lambda x: x ** 0.5, (0.1, 3.0)),
    "pow2": (lambda x: x.pow(2), lambda x: x.pow(2), None),
    "clamp": (lambda x: x.clamp(-1.0, 0.5), lambda x: x.clamp(-1.0, 0.5), None),
    "clamp_min": (lambda x: x.clamp(min=0.2), lambda x: x.clamp(min=0.2), None),
    "rsub": (lambda x: 2.0 - x, lambda x: 2.0 - x, None),
    "rdiv": (lambda x: 2.0 / x, lambda x: 2.0 / x, (0.5, 3.0)),
    "radd_mul": (lambda x: 3 * x + 1, lambda x: 3 * x + 1, None),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_unary(name, backend, dtype, data):
    ours, theirs, domain = UNARY[name]
    shape = data.draw(shapes)
    x = values(data.draw, shape, *(domain or (-3.0, 3.0)))
    check(ours, theirs, [x], backend=backend, dtype=dtype, what=name)


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / (b * b + 0.5), lambda a, b: a / (b * b + 0.5)),
    "pow": (lambda a, b: (a * a + 0.5) ** b, lambda a, b: (a * a + 0.5) ** b),
    "maximum": (minigan.maximum, torch.maximum),
    "minimum": (minigan.minimum, torch.minimum),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_binary_broadcasting(name, backend, dtype, data):
    ours, theirs = BINARY[name]
    a_shape = data.draw(shapes)
    b_shape = data.draw(broadcastable_shapes(a_shape, max_dims=4, max_side=5))
    a, b = values(data.draw, a_shape), values(data.draw, b_shape)
    check(ours, theirs, [a, b], backend=backend, dtype=dtype, what=name)


def test_maximum_ties_split_gradient(backend):
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 5.0, 0.0])
    check(minigan.maximum, torch.maximum, [a, b], backend=backend, what="maximum ties")


REDUCTIONS = {
    "sum": (lambda x, d, k: x.sum(d, keepdim=k), lambda x, d, k: x.sum(d, keepdim=k)),
    "mean": (lambda x, d, k: x.mean(d, keepdim=k), lambda x, d, k: x.mean(d, keepdim=k)),
    "var": (lambda x, d, k: x.var(d, keepdim=k), lambda x, d, k: x.var(d, keepdim=k)),
    "var_biased": (lambda x, d, k: x.var(d, unbiased=False, keepdim=k),
                   lambda x, d, k: x.var(d, unbiased=False, keepdim=k)),
    "std": (lambda x, d, k: x.std(d, keepdim=k), lambda x, d, k: x.std(d, keepdim=k)),
    "amax": (lambda x, d, k: x.amax(d, keepdim=k), lambda x, d, k: x.amax(d, keepdim=k)),
    "amin": (lambda x, d, k: x.amin(d, keepdim=k), lambda x, d, k: x.amin(d, keepdim=k)),
    "norm": (lambda x, d, k: x.norm(2, d, keepdim=k), lambda x, d, k: x.norm(2, d, keepdim=k)),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@given(data=st.data())
def test_reductions(name, backend, dtype, data):
    ours, theirs = REDUCTIONS[name]
    shape = data.draw(array_shapes(min_dims=1, max_dims=4, min_side=2, max_side=5))
    dims = data.draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True))
    keep = data.draw(st.booleans())
    x = values(data.draw, shape)
    check(lambda t: ours(t, tuple(dims), keep), lambda t: theirs(t, tuple(dims), keep), [x],
          backend=backend, dtype=dtype, what=name)


@pytest.mark.parametrize("which", ["max", "min"])
@given(data=st.data())
def test_max_min_dim(which, backend, dtype, data):
    shape = data.draw(array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    keep = data.draw(st.booleans())
    x = values(data.draw, shape)
    check(lambda t: getattr(t, which)(dim, keep), lambda t: getattr(t, which)(dim, keep), [x],
          backend=backend, dtype=dtype, what=f"{which}(dim)")


@pytest.mark.parametrize("which", ["max", "min"])
def test_full_max_min_ties_share_gradient(which, backend):
    x = np.array([[1.0, 3.0], [3.0, -2.0]]) * (1 if which == "max" else -1)
    check(lambda t: getattr(t, which)(), lambda t: getattr(t, which)(), [x], backend=backend,
          what=f"{which}()")


def test_norm_zero_has_zero_gradient(backend):
    check(lambda t: t.norm(2, dim=1), lambda t: t.norm(2, dim=1),
          [np.array([[0.0, 0.0], [3.0, 4.0]])], backend=backend, second_order=False, what="norm")


LAYOUT = {
    "reshape": (lambda t: t.reshape(-1, 2), lambda t: t.reshape(-1, 2)),
    "permute": (lambda t: t.permute(2, 0, 1), lambda t: t.permute(2, 0, 1)),
    "transpose": (lambda t: t.transpose(0, 2), lambda t: t.transpose(0, 2)),
    "unsqueeze_squeeze": (lambda t: t.unsqueeze(1).squeeze(1), lambda t: t.unsqueeze(1).squeeze(1)),
    "flatten": (lambda t: t.flatten(1), lambda t: t.flatten(1)),
    "expand": (lambda t: t[:, :1].expand(3, 4, 2), lambda t: t[:, :1].expand(3, 4, 2)),
    "getitem": (lambda t: t[1:, ::2, None, -1], lambda t: t[1:, ::2, None, -1]),
    "getitem_ellipsis": (lambda t: t[..., 1], lambda t: t[..., 1]),
    "cat": (lambda t: minigan.cat([t, t * 2], 1), lambda t: torch.cat([t, t * 2], 1)),
    "stack": (lambda t: minigan.stack([t, -t], 2), lambda t: torch.stack([t, -t], 2)),
    "split": (lambda t: t.split(3, 1), lambda t: t.split(3, 1)),
    "chunk": (lambda t: t.chunk(2, 0), lambda t: t.chunk(2, 0)),
    "T": (lambda t: t.T, lambda t: t.permute(2, 1, 0)),
    "clone": (lambda t: t.clone() * t, lambda t: t.clone() * t),
}


@pytest.mark.parametrize("name", sorted(LAYOUT))
def test_layout(name, backend, dtype):
    ours, theirs = LAYOUT[name]
    x = np.random.default_rng(1).standard_normal((3, 4, 2))
    check(ours, theirs, [x], backend=backend, dtype=dtype, what=name)


@given(data=st.data())
def test_matmul(backend, dtype, data):
    batch = data.draw(st.sampled_from([(), (2,), (3, 1)]))
    m, k, n = (data.draw(st.integers(1, 5)) for _ in range(3))
    a_shape = batch + (m, k)
    b_shape = data.draw(st.sampled_from([(k, n), batch[-1:] + (k, n)]))
    a, b = values(data.draw, a_shape), values(data.draw, b_shape)
    check(lambda x, y: x @ y, lambda x, y: x @ y, [a, b], backend=backend, dtype=dtype,
          what="matmul")


@pytest.mark.parametrize("shapes_", [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,))])
def test_matmul_vectors(shapes_, backend):
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(s) for s in shapes_)
    check(lambda x, y: x @ y, lambda x, y: x @ y, [a, b], backend=backend, what="matmul 1-D")


def test_where_and_comparisons(backend, dtype):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    check(lambda x, y: minigan.where(x > y, x * y, y), lambda x, y: torch.where(x > y, x * y, y),
          [a, b], backend=backend, dtype=dtype, what="where")
    ma, mb = minigan.tensor(a, backend=backend), minigan.tensor(b, backend=backend)
    for op in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
        ours = getattr(ma, op)(mb).numpy()
        theirs = getattr(torch.tensor(a), op)(torch.tensor(b)).numpy()
        np.testing.assert_array_equal(ours, theirs)
