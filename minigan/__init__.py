"""minigan: a from-scratch GAN engine with its own autograd and kernels, checked against torch."""

from __future__ import annotations

import builtins
import numbers

import numpy as np

from minigan import backends as _backends
from minigan.autograd import (
    Function,
    Tensor,
    backward,
    enable_grad,
    grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from minigan.autograd import ops as _ops
from minigan.autograd.tensor import _norm_dim, _shape_arg
from minigan.backends import available_backends, get_backend, set_default_backend

__version__ = "0.1.0"

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)
# torch's dtype aliases (minigan's dtypes are numpy's)
half, double, long, short = float16, float64, int64, np.dtype(np.int16)
# shadow the builtins in this namespace as torch does: code below says builtins.int etc.
float, int = float32, int32  # noqa: A001
bool = bool_  # noqa: A001
int16 = short

_default_dtype = [float32]

__all__ = [
    "Tensor", "Function", "tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full",
    "zeros_like", "ones_like", "full_like", "randn", "rand", "randint", "randn_like",
    "rand_like", "arange", "cat", "stack", "where", "maximum", "minimum", "manual_seed",
    "grad", "backward", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    "get_backend", "available_backends", "set_default_backend", "set_default_dtype",
    "get_default_dtype", "float32", "float64", "int64", "functional", "optim", "nn", "cuda",
    "legacy", "device", "save", "load", "FloatTensor", "DoubleTensor", "HalfTensor",
    "LongTensor", "IntTensor", "ByteTensor", "BoolTensor", "is_tensor", "randperm",
    "linspace", "eye", "normal", "result_type", "concat", "utils", "Generator",
]


def set_default_dtype(dtype) -> None:
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dtype}")
    _default_dtype[0] = dtype


def get_default_dtype() -> np.dtype:
    return _default_dtype[0]


def _dtype(dtype) -> np.dtype:
    return _default_dtype[0] if dtype is None else np.dtype(dtype)


def _infer_dtype(data) -> np.dtype:
    """torch.tensor's rule: numpy arrays and scalars keep their dtype; python floats take the
    default dtype."""
    if isinstance(data, (np.ndarray, np.generic)):
        return data.dtype
    if hasattr(data, "detach") and hasattr(data, "dtype"):  # a torch tensor
        return np.dtype(str(data.dtype).replace("torch.", ""))
    arr = np.asarray(data)
    if arr.dtype.kind == "f":
        return _default_dtype[0]
    if arr.dtype.kind in "iu":
        return int64
    return arr.dtype


def tensor(data, requires_grad: bool = False, dtype=None, backend=None, device=None) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (nested lists, numpy arrays, scalars)."""
    backend = _backend_arg(backend, device)
    if isinstance(data, Tensor):
        data = data._be.to_numpy(data.array)
    be = get_backend(backend)
    dtype = _infer_dtype(data) if dtype is None else np.dtype(dtype)
    if requires_grad and dtype.kind != "f":
        raise TypeError(f"tensor: only floating tensors can require grad, got {dtype}")
    return Tensor(be.asarray(data, dtype), be, requires_grad=requires_grad)


def as_tensor(data, dtype=None, backend=None, device=None) -> Tensor:
    backend = _backend_arg(backend, device)
    if isinstance(data, Tensor) and (dtype is None or data.dtype == np.dtype(dtype)) and \
            (backend is None or data._be is get_backend(backend)):
        return data
    return tensor(data, dtype=dtype, backend=backend)


def from_numpy(array: np.ndarray, backend=None, device=None) -> Tensor:
    """On the numpy backend the tensor shares the array's memory, as torch.from_numpy; other
    backends copy it to their device."""
    backend = _backend_arg(backend, device)
    be = get_backend(backend)
    if be.name == "numpy" and isinstance(array, np.ndarray):
        return Tensor(array, be)
    return tensor(array, backend=backend)


def _check_shape(shape, op: str) -> tuple:
    shape = _shape_arg(shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"{op}: negative dimension in size {shape}")
    return shape


def _make(op: str, fill, size, dtype, requires_grad, backend) -> Tensor:
    be = get_backend(backend)
    shape = _check_shape(size, op)
    dtype = _dtype(dtype)
    if fill is None:
        array = be.empty(shape, dtype)
    else:
        array = be.full(shape, fill, dtype)
    return Tensor(array, be, requires_grad=requires_grad)


def zeros(*size, dtype=None, requires_grad: bool = False, backend=None, device=None) -> Tensor:
    backend = _backend_arg(backend, device)
    return _make("zeros", 0, size, dtype, requires_grad, backend)


def ones(*size, dtype=None, requires_grad: bool = False, backend=None, device=None) -> Tensor:
    backend = _backend_arg(backend, device)
    return _make("ones", 1, size, dtype, requires_grad, backend)


def empty(*size, dtype=None, requires_grad: bool = False, backend=None, device=None) -> Tensor:
    backend = _backend_arg(backend, device)
    return _make("empty", None, size, dtype, requires_grad, backend)


def full(size, fill_value, dtype=None, requires_grad: bool = False,
         backend=None, device=None) -> Tensor:
    backend = _backend_arg(backend, device)
    if dtype is None and isinstance(fill_value, (builtins.bool, np.bool_)):
        dtype = bool_
    elif dtype is None and isinstance(fill_value, numbers.Integral):
        dtype = int64
    return _make("full", fill_value, (size,) if isinstance(size, builtins.int) else size, dtype,
                 requires_grad, backend)


def _like(t: Tensor, dtype, backend):
    return dict(dtype=t.dtype if dtype is None else dtype,
                backend=t.backend if backend is None else backend)


def zeros_like(t: Tensor, dtype=None, requires_grad=False, backend=None, device=None) -> Tensor:
    backend = _backend_arg(backend, device)
    return zeros(t.shape, requires_grad=requires_grad, **_like(t, dtype, backend))


def ones_like(t: Tensor, dtype=None, requires_grad=False, backend=None, device=None) -> Tensor:
    backend = _backend_arg(backend, device)
    return ones(t.shape, requires_grad=requires_grad, **_like(t, dtype, backend))


def full_like(t: Tensor, fill_value, dtype=None, requires_grad=False,
              backend=None, device=None) -> Tensor:
    backend = _backend_arg(backend, device)
    return full(t.shape, fill_value, requires_grad=requires_grad, **_like(t, dtype, backend))


def randn(*size, dtype=None, requires_grad: bool = False, backend=None, device=None) -> Tensor:
    """Standard normal samples from the backend's generator (see manual_seed)."""
    backend = _backend_arg(backend, device)
    be = get_backend(backend)
    return Tensor(be.randn(_check_shape(size, "randn"), _dtype(dtype)), be,
                  requires_grad=requires_grad)


def rand(*size, dtype=None, requires_grad: bool = False, backend=None, device=None) -> Tensor:
    """Uniform [0, 1) samples from the backend's generator."""
    backend = _backend_arg(backend, device)
    be = get_backend(backend)
    return Tensor(be.rand(_check_shape(size, "rand"), _dtype(dtype)), be,
                  requires_grad=requires_grad)


def randint(low: int, high: int | None = None, size=(), dtype=None, backend=None,
            device=None) -> Tensor:
    backend = _backend_arg(backend, device)
    if high is None:
        low, high = 0, low
    be = get_backend(backend)
    out = Tensor(be.randint(low, high, _check_shape(size, "randint")), be)
    return out if dtype is None or np.dtype(dtype) == int64 else out.to(dtype)


def randn_like(t: Tensor, dtype=None, device=None) -> Tensor:
    return randn(t.shape, **_like(t, dtype, _backend_arg(None, device)))


def rand_like(t: Tensor, dtype=None, device=None) -> Tensor:
    return rand(t.shape, **_like(t, dtype, _backend_arg(None, device)))


def arange(start, end=None, step=1, dtype=None, backend=None, device=None) -> Tensor:
    backend = _backend_arg(backend, device)
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = int64 if ints else _default_dtype[0]
    be = get_backend(backend)
    return Tensor(be.arange(start, end, step, np.dtype(dtype)), be)


def manual_seed(seed: int) -> None:
    """Seed the generator of every backend (loaded now or later)."""
    _backends.set_seed(builtins.int(seed))


def cat(tensors, dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    ref = tensors[0]
    dim = _norm_dim(dim, ref.ndim, "cat")
    for i, t in enumerate(tensors):
        if t.ndim != ref.ndim or any(a != b for j, (a, b) in enumerate(zip(t.shape, ref.shape))
                                     if j != dim):
            raise ValueError(f"cat: tensor {i} has shape {t.shape}, which does not match "
                             f"{ref.shape} outside dim {dim}")
    dtype = result_type(*tensors)
    tensors = [t if t.dtype == dtype else t.to(dtype) for t in tensors]
    return _ops.Cat.apply(*tensors, dim=dim)


def result_type(*tensors) -> np.dtype:
    """torch's promotion over tensors of several dtypes: the widest floating dtype if any is
    floating, else the widest integer (bool below every integer)."""
    dtypes = [t.dtype for t in tensors]
    floats = [d for d in dtypes if d.kind == "f"]
    out = floats[0] if floats else dtypes[0]
    for d in floats or dtypes:
        out = np.promote_types(out, d)
    return out


def stack(tensors, dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    dim = _norm_dim(dim, tensors[0].ndim + 1, "stack")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape} but tensor 0 has "
                             f"{tensors[0].shape}")
    return cat([t.unsqueeze(dim) for t in tensors], dim)


def where(condition: Tensor, input, other) -> Tensor:
    """condition ? input : other, differentiable in input and other."""
    ref = input if isinstance(input, Tensor) else other
    a = ref._lift(input, "where")
    b = ref._lift(other, "where")
    from minigan.autograd.tensor import _promote
    a, b = _promote(a, b, "where")
    return _ops.Where.apply(condition.array, a, b)


def maximum(a: Tensor, b: Tensor) -> Tensor:
    return _ops.maximum(a, a._lift(b, "maximum"))


def minimum(a: Tensor, b: Tensor) -> Tensor:
    return _ops.minimum(a, a._lift(b, "minimum"))


from minigan import cuda, functional, legacy, nn, optim, utils  # noqa: E402
from minigan.device import device  # noqa: E402
from minigan.legacy import (  # noqa: E402
    BoolTensor,
    ByteTensor,
    DoubleTensor,
    FloatTensor,
    Generator,
    HalfTensor,
    IntTensor,
    LongTensor,
)
from minigan.serialization import load, save  # noqa: E402


# --- torch's functions that are tensor methods: torch.mean(x, 1) is x.mean(1) ---------------
def _method_function(name: str):
    def fn(input, *args, **kwargs):
        if not isinstance(input, Tensor):
            raise TypeError(f"minigan.{name}: expects a Tensor first, got "
                            f"{type(input).__name__}")
        return getattr(input, name)(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``minigan.{name}(x, ...)`` is ``x.{name}(...)`` (torch's function form)."
    return fn


_METHOD_FUNCTIONS = (
    "abs", "add", "sub", "mul", "div", "exp", "log", "sqrt", "sigmoid", "tanh", "relu", "pow",
    "neg", "clamp", "clip", "mean", "sum", "max", "min", "argmax", "argmin", "amax", "amin",
    "matmul", "mm", "bmm", "reshape", "flatten", "transpose", "permute", "squeeze", "unsqueeze",
    "chunk", "split", "norm", "std", "var", "t", "sign", "softmax", "log_softmax", "square",
    "clone", "numel", "masked_fill", "eq", "ne", "lt", "le", "gt", "ge", "narrow", "detach",
)
for _name in _METHOD_FUNCTIONS:
    globals()[_name] = _method_function(_name)
del _name

concat = cat
subtract, multiply, divide = sub, mul, div  # noqa: F821 - defined just above


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def randperm(n: int, dtype=None, backend=None, device=None) -> Tensor:
    """A random permutation of 0..n-1 from the backend's generator."""
    be = _backend_arg(backend, device)
    keys = rand(n, backend=be, dtype=float64)
    perm = np.argsort(keys.numpy(), kind="stable")
    return tensor(perm, dtype=int64 if dtype is None else dtype, backend=be)


def linspace(start, end, steps: int, dtype=None, backend=None, device=None) -> Tensor:
    return tensor(np.linspace(start, end, steps), dtype=_dtype(dtype),
                  backend=_backend_arg(backend, device))


def eye(n: int, m: int | None = None, dtype=None, backend=None, device=None) -> Tensor:
    return tensor(np.eye(n, m), dtype=_dtype(dtype), backend=_backend_arg(backend, device))


def normal(mean, std, size=None, dtype=None, backend=None, device=None) -> Tensor:
    """torch.normal(mean, std, size) with float mean and std, or tensors of them."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        ref = mean if isinstance(mean, Tensor) else std
        return randn_like(ref) * std + mean
    if size is None:
        raise TypeError("normal: with float mean and std, size is required")
    return randn(*_shape_arg((size,)), dtype=dtype, backend=_backend_arg(backend, device)) * \
        std + mean


def _backend_arg(backend, device):
    if device is not None:
        from minigan.device import backend_for
        return backend_for(device)
    return backend

