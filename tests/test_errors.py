"""Bad input gives clear errors that name the op, the argument and the shapes."""

from __future__ import annotations

import numpy as np
import pytest

import minigan
import minigan.functional as F
from minigan.autograd.tensor import Tensor
from minigan.backends import KERNELS, BackendUnavailableError, KernelTable, MissingKernelError


def z(backend, *shape, dtype=None):
    return minigan.zeros(*shape, dtype=dtype, backend=backend)


def idx(backend, values):
    return minigan.tensor(values, backend=backend)


# name: (call on a backend, exception type, regex the message must match)
CASES = {
    # wrong ranks
    "conv2d 2-D input": (lambda b: F.conv2d(z(b, 3, 4), z(b, 2, 3, 1, 1)), ValueError,
                         r"conv2d: input must be \(N, C, H, W\) or \(C, H, W\).*"
                         r"got shape \(3, 4\)"),
    "conv2d 3-D weight": (lambda b: F.conv2d(z(b, 1, 3, 4, 4), z(b, 2, 3, 1)), ValueError,
                          r"conv2d: weight must be .*4 dims.*got shape \(2, 3, 1\)"),
    "batch_norm 1-D": (lambda b: F.batch_norm(z(b, 4), None, None, training=True), ValueError,
                       r"batch_norm: input must be \(N, C, \*\).*got shape \(4,\)"),
    "instance_norm 2-D": (lambda b: F.instance_norm(z(b, 4, 3)), ValueError,
                          r"instance_norm: input .*got shape \(4, 3\)"),
    "avg_pool2d 5-D": (lambda b: F.avg_pool2d(z(b, 1, 1, 1, 4, 4), 2), ValueError,
                       r"avg_pool2d: input .*got shape \(1, 1, 1, 4, 4\)"),
    "linear 1-D weight": (lambda b: F.linear(z(b, 2, 3), z(b, 3)), ValueError,
                          r"linear: weight must be \(out_features, in_features\).*\(3,\)"),
    # channel mismatches
    "conv2d channels": (lambda b: F.conv2d(z(b, 1, 3, 4, 4), z(b, 2, 4, 1, 1)), ValueError,
                        r"conv2d: input has 3 channels \(shape \(1, 3, 4, 4\)\) but weight "
                        r"of shape \(2, 4, 1, 1\) expects 4 \(groups=1\)"),
    "conv2d channels grouped": (lambda b: F.conv2d(z(b, 1, 3, 4, 4), z(b, 4, 1, 1, 1), groups=2),
                                ValueError, r"conv2d: input has 3 channels .*expects 2 "
                                            r"\(groups=2\)"),
    "conv2d bias": (lambda b: F.conv2d(z(b, 1, 3, 4, 4), z(b, 2, 3, 1, 1), z(b, 3)),
                    ValueError, r"conv2d: bias must have shape \(2,\), got \(3,\)"),
    "conv_transpose2d channels": (lambda b: F.conv_transpose2d(z(b, 1, 3, 4, 4),
                                                               z(b, 2, 4, 1, 1)), ValueError,
                                  r"conv_transpose2d: input has 3 channels .*weight of shape "
                                  r"\(2, 4, 1, 1\) expects 2"),
    "batch_norm weight": (lambda b: F.batch_norm(z(b, 4, 3), None, None, weight=z(b, 4),
                                                 training=True), ValueError,
                          r"batch_norm: weight must have shape \(3,\) for an input with 3 "
                          r"channels, got \(4,\)"),
    "batch_norm running_mean": (lambda b: F.batch_norm(z(b, 4, 3, 2), z(b, 2), z(b, 3)),
                                ValueError, r"batch_norm: running_mean must have shape \(3,\).*"
                                            r"got \(2,\)"),
    "batch_norm eval without stats": (lambda b: F.batch_norm(z(b, 4, 3), None, None),
                                      ValueError, "batch_norm: running_mean and running_var "
                                                  "are required"),
    "batch_norm one value per channel": (lambda b: F.batch_norm(z(b, 1, 3), None, None,
                                                                training=True), ValueError,
                                         r"batch_norm: expected more than 1 value per channel"
                                         r".*\(1, 3\)"),
    "group_norm channels": (lambda b: F.group_norm(z(b, 2, 6, 3, 3), 4), ValueError,
                            r"group_norm: num_groups=4 must divide the 6 channels of input "
                            r"\(2, 6, 3, 3\)"),
    "group_norm weight": (lambda b: F.group_norm(z(b, 2, 6, 3), 3, weight=z(b, 5)), ValueError,
                          r"group_norm: weight must have shape \(6,\).*got \(5,\)"),
    "layer_norm shape": (lambda b: F.layer_norm(z(b, 2, 3), (4,)), ValueError,
                         r"layer_norm: normalized_shape \(4,\) does not match .*\(2, 3\)"),
    "linear features": (lambda b: F.linear(z(b, 2, 3), z(b, 4, 5)), ValueError,
                        r"linear: input has 3 features \(shape \(2, 3\)\) but weight of shape "
                        r"\(4, 5\) expects 5"),
    "matmul": (lambda b: z(b, 2, 3) @ z(b, 4, 5), ValueError,
               r"matmul: shapes \(2, 3\) and \(4, 5\) cannot be multiplied"),
    "broadcast": (lambda b: z(b, 4, 3) + z(b, 3, 4), ValueError,
                  r"add: shapes \(4, 3\) and \(3, 4\) cannot be broadcast"),
    "broadcast maximum": (lambda b: minigan.maximum(z(b, 2), z(b, 3)), ValueError,
                          r"maximum: shapes \(2,\) and \(3,\) cannot be broadcast"),
    "bce target shape": (lambda b: F.binary_cross_entropy_with_logits(z(b, 4, 3), z(b, 3, 4)),
                         ValueError, r"binary_cross_entropy_with_logits: target shape \(3, 4\) "
                                     r"must match input shape \(4, 3\)"),
    # groups that do not divide
    "conv2d groups out": (lambda b: F.conv2d(z(b, 1, 4, 4, 4), z(b, 3, 2, 1, 1), groups=2),
                          ValueError, r"conv2d: groups=2 does not divide the 3 output channels "
                                      r"of weight \(3, 2, 1, 1\)"),
    "conv_transpose2d groups": (lambda b: F.conv_transpose2d(z(b, 1, 3, 4, 4), z(b, 3, 4, 1, 1),
                                                             groups=2), ValueError,
                                "conv_transpose2d: groups=2 does not divide the 3 input "
                                "channels"),
    "conv2d groups zero": (lambda b: F.conv2d(z(b, 1, 4, 4, 4), z(b, 2, 4, 1, 1), groups=0),
                           ValueError, "conv2d: groups must be a positive int, got 0"),
    # negative or inconsistent sizes
    "zeros(-1)": (lambda b: minigan.zeros(-1, backend=b), ValueError,
                  r"zeros: negative dimension in size \(-1,\)"),
    "ones(2, -3)": (lambda b: minigan.ones(2, -3, backend=b), ValueError,
                    r"ones: negative dimension in size \(2, -3\)"),
    "full negative": (lambda b: minigan.full((-2,), 1.0, backend=b), ValueError,
                      "full: negative dimension"),
    "randn negative": (lambda b: minigan.randn(3, -1, backend=b), ValueError,
                       r"randn: negative dimension in size \(3, -1\)"),
    "reshape numel": (lambda b: z(b, 2, 3).reshape(4, 2), ValueError,
                      r"reshape: shape \(4, 2\) is invalid for a tensor of shape \(2, 3\) "
                      r"\(6 elements\)"),
    "reshape -1": (lambda b: z(b, 2, 3).reshape(-1, 4), ValueError,
                   r"reshape: shape \(-1, 4\) is invalid for a tensor of shape \(2, 3\)"),
    "reshape two -1": (lambda b: z(b, 2, 3).view(-1, -1), ValueError,
                       r"reshape: only one dimension can be -1, got \(-1, -1\)"),
    "reshape negative": (lambda b: z(b, 2, 3).reshape(-2, -3), ValueError,
                         r"reshape: invalid size in \(-2, -3\)"),
    "expand": (lambda b: z(b, 2, 3).expand(3, 3), ValueError,
               r"expand: cannot expand shape \(2, 3\) to \(3, 3\)"),
    "cat": (lambda b: minigan.cat([z(b, 2, 3), z(b, 2, 4)]), ValueError,
            r"cat: tensor 1 has shape \(2, 4\), which does not match \(2, 3\) outside dim 0"),
    "stack": (lambda b: minigan.stack([z(b, 2, 3), z(b, 3, 2)]), ValueError,
              r"stack: tensor 1 has shape \(3, 2\) but tensor 0 has \(2, 3\)"),
    "permute": (lambda b: z(b, 2, 3).permute(0, 0), ValueError,
                r"permute: \(0, 0\) is not a permutation of the 2 dims .*\(2, 3\)"),
    "sum dim": (lambda b: z(b, 2, 3).sum(2), IndexError,
                "sum: dimension 2 is out of range for a tensor with 2 dims"),
    "getitem range": (lambda b: z(b, 2, 3)[:, 3], IndexError,
                      "getitem: index 3 is out of range for dim 1 of size 3"),
    "getitem too many": (lambda b: z(b, 2, 3)[0, 0, 0], IndexError,
                         r"getitem: too many indices \(3\) for a tensor of shape \(2, 3\)"),
    "getitem advanced": (lambda b: z(b, 2, 3)[[0, 1]], TypeError,
                         "getitem: only basic indexing .*index_select"),
    "split": (lambda b: z(b, 5).split([2, 2]), ValueError,
              r"split: sizes \[2, 2\] do not add up to 5 along dim 0"),
    # dtype mixes
    "matmul dtypes": (lambda b: z(b, 2, 2) @ z(b, 2, 2, dtype="float64"), TypeError,
                      "matmul: dtype mismatch"),
    "conv2d float64 weight": (lambda b: F.conv2d(z(b, 1, 3, 4, 4), z(b, 2, 3, 1, 1,
                                                                     dtype="float64")),
                              TypeError, "conv2d: weight has dtype float64 but input has "
                                         "float32"),
    "conv2d integer input": (lambda b: F.conv2d(z(b, 1, 3, 4, 4, dtype="int64"),
                                                z(b, 2, 3, 1, 1)), TypeError,
                             "conv2d: input must be floating point, got int64"),
    "batch_norm float64 weight": (lambda b: F.batch_norm(z(b, 4, 3), None, None,
                                                         z(b, 3, dtype="float64"),
                                                         training=True), TypeError,
                                  "batch_norm: weight has dtype float64 but input has float32"),
    "integer requires_grad": (lambda b: minigan.tensor([1, 2], requires_grad=True, backend=b),
                              TypeError, "tensor: only floating tensors can require grad, got "
                                         "int64"),
    "set_default_dtype int": (lambda b: minigan.set_default_dtype(minigan.int64), TypeError,
                              "set_default_dtype: expected a floating dtype, got int64"),
    # kernel larger than input
    "conv2d kernel > input": (lambda b: F.conv2d(z(b, 1, 3, 2, 5), z(b, 2, 3, 3, 3)), ValueError,
                              r"conv2d: input of spatial size \(2, 5\) with padding \(0, 0\) is "
                              r"smaller than the dilated kernel \(3, 3\)"),
    "conv2d dilated kernel > input": (lambda b: F.conv2d(z(b, 1, 3, 4, 4), z(b, 2, 3, 2, 2),
                                                         dilation=4), ValueError,
                                      r"conv2d: .*smaller than the dilated kernel \(5, 5\)"),
    "max_pool2d kernel > input": (lambda b: F.max_pool2d(z(b, 1, 3, 2, 2), 3), ValueError,
                                  r"max_pool2d: input of shape \(1, 3, 2, 2\) is too small for "
                                  r"kernel_size \(3, 3\)"),
    "avg_pool2d kernel > input": (lambda b: F.avg_pool2d(z(b, 1, 3, 2, 4), (3, 1)), ValueError,
                                  r"avg_pool2d: input of shape \(1, 3, 2, 4\) is too small for "
                                  r"kernel_size \(3, 1\)"),
    # bad convolution and pooling arguments
    "conv2d negative padding": (lambda b: F.conv2d(z(b, 1, 3, 4, 4), z(b, 2, 3, 1, 1),
                                                   padding=-1), ValueError,
                                r"conv2d: padding must be non-negative, got \(-1, -1\)"),
    "conv2d padding string": (lambda b: F.conv2d(z(b, 1, 3, 4, 4), z(b, 2, 3, 1, 1),
                                                 padding="full"), ValueError,
                              "conv2d: padding must be 'valid', 'same' or ints, got 'full'"),
    "conv2d same with stride": (lambda b: F.conv2d(z(b, 1, 3, 4, 4), z(b, 2, 3, 3, 3),
                                                   stride=2, padding="same"), ValueError,
                                r"conv2d: padding='same' is not supported for strided "
                                r"convolutions \(stride=\(2, 2\)\)"),
    "conv2d stride 0": (lambda b: F.conv2d(z(b, 1, 3, 4, 4), z(b, 2, 3, 1, 1), stride=0),
                        ValueError, r"conv2d: stride must be positive, got \(0, 0\)"),
    "conv2d dilation 0": (lambda b: F.conv2d(z(b, 1, 3, 4, 4), z(b, 2, 3, 1, 1),
                                             dilation=(1, 0)), ValueError,
                          r"conv2d: dilation must be positive, got \(1, 0\)"),
    "conv2d stride triple": (lambda b: F.conv2d(z(b, 1, 3, 4, 4), z(b, 2, 3, 1, 1),
                                                stride=(1, 1, 1)), ValueError,
                             r"conv2d: stride must be an int or a pair of ints, got "
                             r"\(1, 1, 1\)"),
    "conv_transpose2d output_padding": (lambda b: F.conv_transpose2d(z(b, 1, 3, 4, 4),
                                                                     z(b, 3, 4, 1, 1),
                                                                     output_padding=1),
                                        ValueError, r"conv_transpose2d: output_padding \(1, 1\) "
                                                    r"must be smaller than stride \(1, 1\)"),
    "conv_transpose2d size": (lambda b: F.conv_transpose2d(z(b, 1, 3, 1, 1), z(b, 3, 4, 1, 1),
                                                           padding=1), ValueError,
                              r"conv_transpose2d: the output size \(-1, -1\) .*not positive"),
    "max_pool2d padding": (lambda b: F.max_pool2d(z(b, 1, 3, 4, 4), 2, padding=2), ValueError,
                           r"max_pool2d: padding \(2, 2\) should be at most half of kernel_size "
                           r"\(2, 2\)"),
    "avg_pool2d kernel 0": (lambda b: F.avg_pool2d(z(b, 1, 3, 4, 4), 0), ValueError,
                            r"avg_pool2d: kernel_size must be positive, got \(0, 0\)"),
    "avg_pool2d stride 0": (lambda b: F.avg_pool2d(z(b, 1, 3, 4, 4), 2, stride=0), ValueError,
                            r"avg_pool2d: stride must be positive, got \(0, 0\)"),
    "avg_pool2d divisor": (lambda b: F.avg_pool2d(z(b, 1, 3, 4, 4), 2, divisor_override=-1),
                           ValueError, "avg_pool2d: divisor_override must be positive, got -1"),
    "max_pool2d negative padding": (lambda b: F.max_pool2d(z(b, 1, 3, 4, 4), 2, padding=-1),
                                    ValueError, r"max_pool2d: padding must be non-negative"),
    "pad odd length": (lambda b: F.pad(z(b, 1, 1, 2, 2), (1,)), ValueError,
                       r"pad: pad \(1,\) must have an even length .*\(1, 1, 2, 2\)"),
    "pad reflect too wide": (lambda b: F.pad(z(b, 1, 1, 2, 2), (2, 2), mode="reflect"),
                             ValueError, r"pad: reflect padding \(2, 2\) must be smaller than "
                                         r"the size 2 of dim 3"),
    "pad mode": (lambda b: F.pad(z(b, 1, 1, 2, 2), (1, 1), mode="wrap"), ValueError,
                 "pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got 'wrap'"),
    "interpolate mode": (lambda b: F.interpolate(z(b, 1, 1, 2, 2), scale_factor=2,
                                                 mode="trilinear"), ValueError,
                         "interpolate: mode must be 'nearest', 'nearest-exact', 'bilinear', "
                         "'bicubic' or 'area', got 'trilinear'"),
    "interpolate size and scale": (lambda b: F.interpolate(z(b, 1, 1, 2, 2), size=3,
                                                           scale_factor=2), ValueError,
                                   "interpolate: give exactly one of size and scale_factor"),
    "dropout p": (lambda b: F.dropout(z(b, 3), 1.5), ValueError,
                  "dropout: probability has to be between 0 and 1, got 1.5"),
    # class targets
    "cross_entropy target too big": (lambda b: F.cross_entropy(z(b, 2, 3), idx(b, [0, 3])),
                                     IndexError, "cross_entropy: target 3 is out of bounds for 3 "
                                                 "classes"),
    "cross_entropy negative target": (lambda b: F.cross_entropy(z(b, 2, 3), idx(b, [-1, 0])),
                                      IndexError, "cross_entropy: target -1 is out of bounds"),
    "cross_entropy target shape": (lambda b: F.cross_entropy(z(b, 2, 3), idx(b, [0, 1, 2])),
                                   ValueError, r"cross_entropy: target of shape \(3,\) does not "
                                               r"match input of shape \(2, 3\)"),
    "cross_entropy float target shape": (lambda b: F.cross_entropy(z(b, 2, 3), z(b, 2, 4)),
                                         ValueError, r"cross_entropy: target shape \(2, 4\) "
                                                     r"must match input shape \(2, 3\)"),
    "cross_entropy label_smoothing": (lambda b: F.cross_entropy(z(b, 2, 3), idx(b, [0, 1]),
                                                                label_smoothing=1.5),
                                      ValueError, r"cross_entropy: label_smoothing must be in "
                                                  r"\[0, 1\], got 1.5"),
    "nll_loss target": (lambda b: F.nll_loss(z(b, 2, 3, 4), idx(b, [[0, 5, 1, 1], [0] * 4])),
                        IndexError, "nll_loss: target 5 is out of bounds for 3 classes"),
    "nll_loss float target": (lambda b: F.nll_loss(z(b, 2, 3), z(b, 2)), TypeError,
                              "nll_loss: target must hold integer class indices, got float32"),
    "nll_loss reduction": (lambda b: F.nll_loss(z(b, 2, 3), idx(b, [0, 1]), reduction="avg"),
                           ValueError, "nll_loss: reduction must be 'mean', 'sum' or 'none', "
                                       "got 'avg'"),
    "one_hot range": (lambda b: F.one_hot(idx(b, [0, 4]), 3), ValueError,
                      r"one_hot: class values must be in \[0, 3\)"),
    "embedding range": (lambda b: F.embedding(idx(b, [0, 7]), z(b, 5, 2)), IndexError,
                        "embedding: index out of range for 5 embeddings"),
    "index_select range": (lambda b: F.index_select(z(b, 3, 2), 0, idx(b, [3])), IndexError,
                           "index_select: index out of range for dim 0 of size 3"),
    "binary_cross_entropy range": (lambda b: F.binary_cross_entropy(z(b, 2) + 2, z(b, 2)),
                                   ValueError, "binary_cross_entropy: all elements of input "
                                               "should be between 0 and 1"),
    # conversions
    "item of many": (lambda b: z(b, 2, 2).item(), ValueError,
                     r"item\(\): tensor of shape \(2, 2\) has 4 elements"),
    "numpy of requires_grad": (lambda b: minigan.zeros(2, requires_grad=True, backend=b).numpy(),
                               RuntimeError, r"numpy\(\): the tensor requires grad"),
    "len of 0-d": (lambda b: len(minigan.tensor(1.0, backend=b)), TypeError,
                   r"len\(\) of a 0-d tensor"),
    # backends
    "unknown backend": (lambda b: minigan.get_backend("tpu"), ValueError,
                        r"unknown backend 'tpu'; choose one of \['cupy', 'numpy', 'triton'\]"),
    "unknown backend in a factory": (lambda b: minigan.zeros(2, backend="metal"), ValueError,
                                     "unknown backend 'metal'"),
    "unknown default backend": (lambda b: minigan.set_default_backend("opencl"), ValueError,
                                "unknown backend 'opencl'"),
    "unknown backend in to()": (lambda b: z(b, 2).to(backend="xla"), ValueError,
                                "unknown backend 'xla'"),
    "unknown kernel name": (lambda b: minigan.get_backend(b).k.conv3d_forward, AttributeError,
                            "'conv3d_forward' is not a minigan kernel"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_error_names_op_and_shapes(name, backend):
    call, exc, pattern = CASES[name]
    with pytest.raises(exc, match=pattern):
        call(backend)


def test_backward_through_freed_graph_names_the_op(backend):
    x = minigan.ones(3, requires_grad=True, backend=backend)
    y = x.exp().sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"^Sum: Trying to backward through the graph a "
                                           r"second time"):
        y.backward()


def test_missing_kernel_names_op_and_backend():
    table = KernelTable("partial", {"add": np.add})
    assert table.add is np.add
    with pytest.raises(MissingKernelError, match="backend 'partial' has no kernel 'mul'"):
        table.mul  # noqa: B018
    assert issubclass(MissingKernelError, NotImplementedError)


def test_an_op_on_a_backend_without_its_kernel_fails_loudly(backend):
    """No silent fallback: an op whose kernel the table lacks raises, naming op and backend."""
    be = minigan.get_backend(backend)
    partial = type(be).__new__(type(be))
    partial.__dict__.update(be.__dict__)
    partial.k = KernelTable("partial-" + backend,
                            {n: getattr(be.k, n) for n in KERNELS if n != "tanh"})
    x = Tensor(be.asarray(np.ones(3, dtype=np.float32)), partial, requires_grad=True)
    assert (x * 2).shape == (3,)
    with pytest.raises(MissingKernelError, match=f"backend 'partial-{backend}' has no kernel "
                                                 "'tanh'"):
        x.tanh()


def test_backend_that_cannot_run_says_why():
    missing = [n for n in ("triton", "cupy") if n not in minigan.available_backends()]
    if not missing:
        pytest.skip("every backend loads on this machine")
    with pytest.raises(BackendUnavailableError, match=f"backend '{missing[0]}'"):
        minigan.get_backend(missing[0])


def test_failed_default_backend_change_keeps_the_old_default():
    before = minigan.backends.default_backend()
    with pytest.raises(ValueError):
        minigan.set_default_backend("nope")
    assert minigan.backends.default_backend() is before
