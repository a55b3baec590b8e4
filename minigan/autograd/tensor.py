"""minigan.Tensor: one backend array plus the autograd bookkeeping, with torch's method names."""

from __future__ import annotations

import numbers
import weakref
from collections import namedtuple
from collections.abc import Sequence

import numpy as np

from minigan.backends import Backend, get_backend

MaxMin = namedtuple("MaxMin", ["values", "indices"])


def _shape_arg(shape) -> tuple:
    """Accept f(2, 3) and f((2, 3)) like torch."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def _norm_dim(dim: int, ndim: int, op: str) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dimension {dim} is out of range for a tensor with {ndim} dims")
    return dim % n


def _norm_dims(dim, ndim: int, op: str) -> tuple:
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = tuple(sorted({_norm_dim(d, ndim, op) for d in dims}))
    if len(out) != len(dims):
        raise ValueError(f"{op}: dimension appears more than once in {dim}")
    return out if ndim else ()


class Tensor:
    """An n-dimensional array on one backend that can record how it was computed.

    ``array`` is the backend's storage (numpy array, torch tensor, cupy array); ``data`` is
    torch's detached view of the same storage.
    """

    # _version: a one-element list shared by every alias of the storage (.data, detach(),
    # views), bumped by each in-place write; _view: made by a view op from another tensor
    __slots__ = ("array", "_be", "requires_grad", "grad", "grad_fn", "_output_nr", "_version",
                 "_view", "__weakref__")
    __array_priority__ = 1000  # numpy scalars on the left defer to Tensor's reflected ops

    def __init__(self, array=None, backend: Backend | str | None = None,
                 requires_grad: bool = False, *more_sizes):
        if array is None or type(array) in (int, list, tuple) or \
                (type(backend) is int and type(array) is int):
            # torch's legacy constructor: Tensor(2, 3) (zeros; torch leaves them
            # uninitialised), Tensor([1, 2]) (data), Tensor() (empty): the default float dtype
            args = () if array is None else (array,) + tuple(
                a for a in (backend, requires_grad, *more_sizes) if type(a) is int)
            array, backend, requires_grad = _legacy_array(args), None, False
        self.array = array
        self._be = get_backend(backend)
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self.grad_fn = None
        self._output_nr = 0
        self._version, self._view = [0], False

    @classmethod
    def _from_node(cls, array, backend, node, output_nr) -> Tensor:
        t = cls.__new__(cls)
        t.array, t._be, t.grad, t.grad_fn, t._output_nr = array, backend, None, node, output_nr
        t.requires_grad = node is not None
        t._version, t._view = [0], False
        return t

    def _alias(self) -> Tensor:
        """A new Tensor on the same storage and version counter, outside the graph."""
        t = Tensor(self.array, self._be)
        t._version, t._view = self._version, self._view
        return t

    # --- attributes ----------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self.array.shape)

    @property
    def dtype(self) -> np.dtype:
        return self._be.dtype(self.array)

    @property
    def ndim(self) -> int:
        return len(self.array.shape)

    @property
    def backend(self) -> str:
        return self._be.name

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def data(self) -> Tensor:
        """The same storage, detached from the graph: in-place writes through it (init
        functions, weight clipping) change this tensor, as in torch."""
        return self._alias()

    @data.setter
    def data(self, other: Tensor) -> None:
        """Rebind this tensor to other storage (torch's ``x.data = y``)."""
        if isinstance(other, Tensor):  # the storage may live on another backend (Module.to)
            self.array, self._be = other.array, other._be
            self._version, self._view = other._version, other._view
        else:
            self.array = other
            self._version, self._view = [0], False

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[_norm_dim(dim, self.ndim, "size")]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        if not self.ndim:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        extra = f", grad_fn=<{self.grad_fn.name}>" if self.grad_fn else (
            ", requires_grad=True" if self.requires_grad else "")
        body = np.array2string(self._be.to_numpy(self.array), separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}, backend={self.backend}{extra})"

    __hash__ = object.__hash__

    # --- conversion ----------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        if self.requires_grad:
            raise RuntimeError("numpy(): the tensor requires grad; call .detach().numpy()")
        return self._be.to_numpy(self.array)

    def item(self):
        if self.numel() != 1:
            raise ValueError(f"item(): tensor of shape {self.shape} has {self.numel()} elements")
        return self._be.to_numpy(self.array).reshape(()).item()

    def tolist(self):
        return self._be.to_numpy(self.array).tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu":
            raise TypeError("only integer tensors can be used as an index")
        return int(self.item())

    def detach(self) -> Tensor:
        return self._alias()

    def detach_(self) -> Tensor:
        """Make this tensor a leaf that does not require grad (in place)."""
        if self._view and self.requires_grad:
            raise RuntimeError("detach_(): a view of a tensor that requires grad cannot be "
                               "detached in place; use detach()")
        self.grad_fn, self._output_nr, self.requires_grad = None, 0, False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor; use detach()")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward, like torch."""
        if self.grad_fn is None:
            return
        if self.grad_fn._retained is None:
            self.grad_fn._retained = {}
        self.grad_fn._retained[self._output_nr] = weakref.ref(self)

    def clone(self) -> Tensor:
        return ops.Clone.apply(self)

    def contiguous(self) -> Tensor:
        return self

    @property
    def device(self):
        """torch's device of this tensor's backend: cpu for numpy, cuda for the GPU backend."""
        from minigan.device import device_of
        return device_of(self._be.name)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def cuda(self, device=None, non_blocking: bool = False) -> Tensor:
        from minigan.device import cuda_backend
        return self.to(backend=cuda_backend())

    def cpu(self) -> Tensor:
        from minigan.device import CPU_BACKEND
        return self.to(backend=CPU_BACKEND)

    def type(self, dtype=None, non_blocking: bool = False):
        """Without an argument, torch's type string ('torch.FloatTensor'); with a legacy type
        (``FloatTensor``, ``'torch.cuda.LongTensor'``) or a dtype, the converted tensor."""
        from minigan import legacy
        if dtype is None:
            return legacy.type_name(self.dtype, self.device)
        dt, dev = legacy.resolve(dtype)
        return self.to(dt, backend=None if dev is None else dev.backend)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype, backend=other.backend)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        return self._new(np.zeros, _shape_arg(size), dtype, device, requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        return self._new(np.ones, _shape_arg(size), dtype, device, requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        return self._new(np.zeros, _shape_arg(size), dtype, device, requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None,
                 requires_grad: bool = False) -> Tensor:
        return self._new(lambda shape, dtype: np.full(shape, fill_value, dtype),
                         _shape_arg((size,)), dtype, device, requires_grad)

    def new_tensor(self, data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        return self._new(lambda shape, dtype: np.asarray(data, dtype=dtype), None, dtype, device,
                         requires_grad)

    def _new(self, make, shape, dtype, device, requires_grad) -> Tensor:
        from minigan.device import backend_for
        be = self._be if device is None else get_backend(backend_for(device))
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        return Tensor(be.asarray(make(shape, dtype)), be, requires_grad=requires_grad)

    def to(self, *args, dtype=None, backend: str | None = None, device=None,
           non_blocking: bool = False, copy: bool = False) -> Tensor:
        """Cast (differentiable) and/or move to another backend (a leaf copy). Takes torch's
        forms too: ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other)``, where a
        device is 'cpu' (numpy), 'cuda' (the GPU backend), a ``minigan.device`` or a backend
        name."""
        from minigan.device import parse_to
        dtype, backend = parse_to(args, dtype, backend, device, "to")
        t = self
        if backend is not None and get_backend(backend) is not self._be:
            dst = get_backend(backend)
            t = Tensor(dst.asarray(self._be.to_numpy(self.array)), dst,
                       requires_grad=self.requires_grad)
        if dtype is not None and np.dtype(dtype) != t.dtype:
            t = ops.Cast.apply(t, np.dtype(dtype))
        if copy and t is self:
            t = self.clone()
        return t

    def half(self) -> Tensor:
        return self.to(np.float16)

    def int(self) -> Tensor:
        return self.to(np.int32)

    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    def long(self) -> Tensor:
        return self.to(np.int64)

    def bool(self) -> Tensor:
        return self.to(np.bool_)

    # --- autograd ------------------------------------------------------------------------
    def backward(self, gradient: Tensor | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs=None) -> None:
        from minigan.autograd import backward
        backward([self], None if gradient is None else [gradient], retain_graph=retain_graph,
                 create_graph=create_graph, inputs=inputs)

    def _accumulate_grad(self, g: Tensor, create_graph: bool) -> None:
        if not create_graph:
            g = g.detach()
        self.grad = g if self.grad is None else self.grad + g

    # --- arithmetic ----------------------------------------------------------------------
    def _lift(self, other, op: str) -> Tensor:
        """Python scalars take this tensor's dtype; mixed float dtypes are an error."""
        if isinstance(other, Tensor):
            if other._be is not self._be:
                raise ValueError(f"{op}: tensors on different backends "
                                 f"({self.backend} and {other.backend})")
            return other
        if isinstance(other, (numbers.Number, np.generic)):
            dtype = self.dtype
            if isinstance(other, float) and dtype.kind != "f":
                dtype = np.dtype(np.float32)
            return Tensor(self._be.full((), other, dtype), self._be)
        return Tensor(self._be.asarray(np.asarray(other)), self._be)

    def _binary(self, fn, other, op: str, reverse: bool = False) -> Tensor:
        if op in ("add", "sub", "mul", "div") and (
                (type(other) in (int, float) and self.dtype.kind == "f")
                or (type(other) is int and self.dtype.kind in "iu" and op != "div")):
            return ops.ScalarArith.apply(self, other, op, reverse)
        other = self._lift(other, op)
        a, b = (other, self) if reverse else (self, other)
        a, b = _promote(a, b, op)
        return fn.apply(a, b)

    def __add__(self, o):
        return self._binary(ops.Add, o, "add")

    def __radd__(self, o):
        return self._binary(ops.Add, o, "add", True)

    def __sub__(self, o):
        return self._binary(ops.Sub, o, "sub")

    def __rsub__(self, o):
        return self._binary(ops.Sub, o, "sub", True)

    def __mul__(self, o):
        return self._binary(ops.Mul, o, "mul")

    def __rmul__(self, o):
        return self._binary(ops.Mul, o, "mul", True)

    def __truediv__(self, o):
        return self._binary(ops.Div, o, "div")

    def __rtruediv__(self, o):
        return self._binary(ops.Div, o, "div", True)

    def __pow__(self, o):
        if isinstance(o, numbers.Number):
            return ops.PowScalar.apply(self, float(o))
        return self._binary(ops.Pow, o, "pow")

    def __rpow__(self, o):
        return self._binary(ops.Pow, o, "pow", True)

    def __neg__(self):
        return ops.Neg.apply(self)

    def __matmul__(self, o):
        return ops.matmul(self, self._lift(o, "matmul"))

    def __rmatmul__(self, o):
        return ops.matmul(self._lift(o, "matmul"), self)

    def pow(self, exponent):
        return self ** exponent

    # comparisons: no gradient
    def _compare(self, kernel: str, other) -> Tensor:
        other = self._lift(other, kernel)
        a, b = _promote(self, other, kernel)
        return Tensor(getattr(self._be.k, kernel)(a.array, b.array), self._be)

    def __eq__(self, o):  # noqa: D105
        return self._compare("eq", o)

    def __ne__(self, o):
        return self._compare("ne", o)

    def __lt__(self, o):
        return self._compare("lt", o)

    def __le__(self, o):
        return self._compare("le", o)

    def __gt__(self, o):
        return self._compare("gt", o)

    def __ge__(self, o):
        return self._compare("ge", o)

    def __and__(self, o):
        return Tensor(self._be.k.logical_and(self.array, self._lift(o, "and").array), self._be)

    # --- elementwise ---------------------------------------------------------------------
    def exp(self):
        return ops.Exp.apply(self)

    def log(self):
        return ops.Log.apply(self)

    def sqrt(self):
        return ops.Sqrt.apply(self)

    def abs(self):
        return ops.Abs.apply(self)

    def tanh(self):
        return ops.Tanh.apply(self)

    def sigmoid(self):
        return ops.Sigmoid.apply(self)

    def relu(self):
        return ops.Relu.apply(self)

    def neg(self):
        return ops.Neg.apply(self)

    def sign(self):
        return Tensor(self._be.k.sign(self.array), self._be)

    def clamp(self, min=None, max=None):  # noqa: A002 - torch's names
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            out = self if min is None else ops.maximum(self, self._lift(min, "clamp"))
            return out if max is None else ops.minimum(out, self._lift(max, "clamp"))
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        return ops.Clamp.apply(self, min, max)

    clip = clamp

    # --- reductions ----------------------------------------------------------------------
    def sum(self, dim=None, keepdim: bool = False, dtype=None):
        if isinstance(dim, (tuple, list)) and not dim:
            dim = None  # torch reduces every dim for dim=() (and [])
        out = ops.Sum.apply(self, _norm_dims(dim, self.ndim, "sum"), keepdim)
        return out if dtype is None else out.to(dtype)

    def mean(self, dim=None, keepdim: bool = False, dtype=None):
        if isinstance(dim, (tuple, list)) and not dim:
            dim = None
        if dtype is not None:
            return self.to(dtype).mean(dim, keepdim)
        dims = _norm_dims(dim, self.ndim, "mean")
        count = int(np.prod([self.shape[d] for d in dims], dtype=np.int64))
        return self.sum(dims, keepdim) / count

    def var(self, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: int | None = None):
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        dims = _norm_dims(dim, self.ndim, "var")
        count = int(np.prod([self.shape[d] for d in dims], dtype=np.int64))
        centred = self - self.mean(dims, keepdim=True)
        return (centred * centred).sum(dims, keepdim) / max(count - correction, 0)

    def std(self, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: int | None = None):
        return self.var(dim, unbiased, keepdim, correction=correction).sqrt()

    def max(self, dim: int | None = None, keepdim: bool = False):
        return self._extreme(dim, keepdim, "max")

    def min(self, dim: int | None = None, keepdim: bool = False):
        return self._extreme(dim, keepdim, "min")

    def _extreme(self, dim, keepdim, which):
        if isinstance(dim, Tensor):
            return ops.maximum(self, dim) if which == "max" else ops.minimum(self, dim)
        if dim is None:
            return ops.Extreme.apply(self, which)
        dim = _norm_dim(dim, self.ndim, which)
        values, indices = ops.ExtremeDim.apply(self, which, dim, keepdim)
        return MaxMin(values, indices)

    def amax(self, dim=None, keepdim: bool = False):
        return ops.Extreme.apply(self, "max", _norm_dims(dim, self.ndim, "amax"), keepdim)

    def amin(self, dim=None, keepdim: bool = False):
        return ops.Extreme.apply(self, "min", _norm_dims(dim, self.ndim, "amin"), keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False):
        if dim is None:
            return self.reshape(-1).max(0).indices
        return self.max(dim, keepdim).indices

    def argmin(self, dim: int | None = None, keepdim: bool = False):
        if dim is None:
            return self.reshape(-1).min(0).indices
        return self.min(dim, keepdim).indices

    def norm(self, p=2, dim=None, keepdim: bool = False):
        """p-norm; p=2 has torch's zero gradient at the origin (no NaN)."""
        dims = _norm_dims(dim, self.ndim, "norm")
        if p == 2:
            return ops.Norm2.apply(self, dims, keepdim)
        if p == 1:
            return self.abs().sum(dims, keepdim)
        return (self.abs() ** p).sum(dims, keepdim) ** (1.0 / p)

    # --- torch's named arithmetic methods ----------------------------------------------------
    def add(self, other, alpha=1) -> Tensor:
        return self + (other if alpha == 1 else other * alpha)

    def sub(self, other, alpha=1) -> Tensor:
        return self - (other if alpha == 1 else other * alpha)

    def mul(self, other) -> Tensor:
        return self * other

    def div(self, other) -> Tensor:
        return self / other

    def matmul(self, other) -> Tensor:
        return self @ other

    def mm(self, other) -> Tensor:
        if self.ndim != 2 or other.ndim != 2:
            raise ValueError(f"mm: expects two 2-d tensors, got shapes {self.shape} and "
                             f"{other.shape}")
        return self @ other

    def bmm(self, other) -> Tensor:
        if self.ndim != 3 or other.ndim != 3:
            raise ValueError(f"bmm: expects two 3-d tensors, got shapes {self.shape} and "
                             f"{other.shape}")
        return self @ other

    def square(self) -> Tensor:
        return self * self

    def softmax(self, dim: int) -> Tensor:
        from minigan import functional as F
        return F.softmax(self, dim)

    def log_softmax(self, dim: int) -> Tensor:
        from minigan import functional as F
        return F.log_softmax(self, dim)

    def eq(self, other) -> Tensor:
        return self == other

    def ne(self, other) -> Tensor:
        return self != other

    def lt(self, other) -> Tensor:
        return self < other

    def le(self, other) -> Tensor:
        return self <= other

    def gt(self, other) -> Tensor:
        return self > other

    def ge(self, other) -> Tensor:
        return self >= other

    def repeat(self, *sizes) -> Tensor:
        """Tile the tensor ``sizes`` times along each dim (torch's repeat)."""
        import minigan
        sizes = _shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise ValueError(f"repeat: {len(sizes)} repeats for a tensor of shape {self.shape}; "
                             f"give at least one per dim")
        t = self.reshape((1,) * (len(sizes) - self.ndim) + self.shape)
        for d, r in enumerate(sizes):
            if r != 1:
                t = minigan.cat([t] * r, d) if r > 0 else t.narrow(d, 0, 0)
        return t

    def narrow(self, dim: int, start: int, length: int) -> Tensor:
        dim = _norm_dim(dim, self.ndim, "narrow")
        return self[(slice(None),) * dim + (slice(start, start + length),)]

    # --- in place: writes into the storage every alias shares (.data, detach(), views) ------
    def _inplace(self, op: str, compute, constant: bool = False) -> Tensor:
        """Write ``compute(src)`` into this tensor's storage and bump its version counter.

        With grad mode on, a non-leaf tensor (or one written from a tensor that requires
        grad) takes the result's place in the graph, computed from a clone of its old value so
        the result's backward sees the values the forward used (torch rebases the history the
        same way). ``constant`` results (fill, random) do not depend on the old value.
        """
        from minigan.autograd.grad_mode import is_grad_enabled, no_grad
        grad_on = is_grad_enabled()
        if grad_on and self.requires_grad and self.grad_fn is None:
            raise RuntimeError(
                f"{op}: a leaf tensor that requires grad (shape {self.shape}) is used in an "
                f"in-place operation; write it under `with minigan.no_grad():` or through "
                f"`.data`, as in torch")
        if constant:
            with no_grad():
                result = compute(self)
        else:
            result = compute(self.clone() if grad_on and self.requires_grad else self)
        if not isinstance(result, Tensor):
            result = Tensor(self._be.full(self.shape, result, self.dtype), self._be)
        if result._be is not self._be:
            raise ValueError(f"{op}: tensors on different backends ({self.backend} and "
                             f"{result.backend})")
        if result.shape != self.shape:
            try:
                _check_broadcast(result.shape, self.shape, op)
                if len(result.shape) > self.ndim or any(
                        r not in (1, s) for r, s in zip(reversed(result.shape),
                                                        reversed(self.shape))):
                    raise ValueError
            except ValueError:
                raise ValueError(f"{op}: the result's shape {result.shape} does not fit the "
                                 f"tensor written in place, of shape {self.shape}") from None
            result = result.expand(self.shape)
        if result.dtype != self.dtype:
            if self.dtype.kind in "biu" and result.dtype.kind == "f":
                raise TypeError(f"{op}: a {result.dtype} result cannot be written into a "
                                f"{self.dtype} tensor in place (as in torch)")
            result = result.to(self.dtype)
        tracked = grad_on and result.requires_grad
        if tracked and self._view:
            raise RuntimeError(
                f"{op}: an in-place write that autograd must record, into a view (shape "
                f"{self.shape}) of another tensor, is not supported; use the out-of-place op")
        try:
            self._be.copy_into(self.array, result.array)
        except (ValueError, RuntimeError) as e:
            raise RuntimeError(f"{op}: cannot write into this tensor of shape {self.shape} "
                               f"({e}); an expanded tensor has several elements on one memory "
                               f"location: clone() it first") from None
        self._version[0] += 1
        if tracked:
            self.grad_fn, self._output_nr, self.requires_grad = \
                result.grad_fn, result._output_nr, True
        elif grad_on and self.grad_fn is not None:  # overwritten by a constant
            self.grad_fn, self._output_nr, self.requires_grad = None, 0, False
        return self

    def fill_(self, value) -> Tensor:
        return self._inplace("fill_", lambda src: Tensor(
            self._be.full(self.shape, value.item() if isinstance(value, Tensor) else value,
                          self.dtype), self._be), constant=True)

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
        if generator is not None:
            raise TypeError("normal_: generator= is not supported; seed with "
                            "minigan.manual_seed")
        if self.dtype.kind != "f":
            raise TypeError(f"normal_: expects a floating tensor, got {self.dtype}")
        return self._inplace("normal_", lambda src: Tensor(
            self._be.randn(self.shape, self.dtype), self._be) * std + mean, constant=True)

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
        if generator is not None:
            raise TypeError("uniform_: generator= is not supported; seed with "
                            "minigan.manual_seed")
        if self.dtype.kind != "f":
            raise TypeError(f"uniform_: expects a floating tensor, got {self.dtype}")
        return self._inplace("uniform_", lambda src: Tensor(
            self._be.rand(self.shape, self.dtype), self._be) * (b - a) + a, constant=True)

    def bernoulli_(self, p: float = 0.5, generator=None) -> Tensor:
        if generator is not None:
            raise TypeError("bernoulli_: generator= is not supported")
        return self._inplace("bernoulli_", lambda src: Tensor(
            self._be.rand(self.shape, np.float32), self._be) < p, constant=True)

    def copy_(self, src, non_blocking: bool = False) -> Tensor:
        if not isinstance(src, Tensor):
            raise TypeError(f"copy_: expects a Tensor, got {type(src).__name__}")
        if src._be is not self._be:  # a host round trip, as torch's cross-device copy
            src = src.detach().to(backend=self.backend)
        return self._inplace("copy_", lambda _: src)

    def add_(self, other, alpha=1) -> Tensor:
        return self._inplace("add_", lambda s: s + (other if alpha == 1 else other * alpha))

    def sub_(self, other, alpha=1) -> Tensor:
        return self._inplace("sub_", lambda s: s - (other if alpha == 1 else other * alpha))

    def mul_(self, other) -> Tensor:
        return self._inplace("mul_", lambda s: s * other)

    def div_(self, other) -> Tensor:
        return self._inplace("div_", lambda s: s / other)

    def pow_(self, exponent) -> Tensor:
        return self._inplace("pow_", lambda s: s ** exponent)

    def clamp_(self, min=None, max=None) -> Tensor:  # noqa: A002 - torch's names
        return self._inplace("clamp_", lambda s: s.clamp(min, max))

    clip_ = clamp_

    def clamp_min_(self, min) -> Tensor:  # noqa: A002
        return self._inplace("clamp_min_", lambda s: s.clamp(min, None))

    def clamp_max_(self, max) -> Tensor:  # noqa: A002
        return self._inplace("clamp_max_", lambda s: s.clamp(None, max))

    def masked_fill(self, mask, value) -> Tensor:
        """``value`` where ``mask`` is true (broadcast), this tensor elsewhere."""
        import minigan
        if not isinstance(mask, Tensor) or mask.dtype != np.bool_:
            raise TypeError("masked_fill: mask must be a bool Tensor")
        return minigan.where(mask, value, self)

    def masked_fill_(self, mask, value) -> Tensor:
        return self._inplace("masked_fill_", lambda s: s.masked_fill(mask, value))

    def neg_(self) -> Tensor:
        return self._inplace("neg_", lambda s: -s)

    def abs_(self) -> Tensor:
        return self._inplace("abs_", lambda s: s.abs())

    def exp_(self) -> Tensor:
        return self._inplace("exp_", lambda s: s.exp())

    def log_(self) -> Tensor:
        return self._inplace("log_", lambda s: s.log())

    def sqrt_(self) -> Tensor:
        return self._inplace("sqrt_", lambda s: s.sqrt())

    def tanh_(self) -> Tensor:
        return self._inplace("tanh_", lambda s: s.tanh())

    def sigmoid_(self) -> Tensor:
        return self._inplace("sigmoid_", lambda s: s.sigmoid())

    def relu_(self) -> Tensor:
        return self._inplace("relu_", lambda s: s.relu())

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def __setitem__(self, index, value) -> None:
        """``x[index] = value`` in place: basic indices (write through a view) and integer
        arrays or lists (torch's index_put_), without autograd history."""
        from minigan.autograd.grad_mode import is_grad_enabled
        if is_grad_enabled() and (self.requires_grad or (isinstance(value, Tensor)
                                                         and value.requires_grad)):
            raise RuntimeError(
                f"setitem: an indexed write into a tensor (shape {self.shape}) that autograd "
                f"would have to record is not supported; build the result out of place (cat, "
                f"where) or write under `with minigan.no_grad():`")
        if isinstance(value, Tensor):
            if value._be is not self._be:
                raise ValueError(f"setitem: tensors on different backends ({self.backend} and "
                                 f"{value.backend})")
            value = value.array if value.dtype == self.dtype else value.to(self.dtype).array
        else:
            value = self._be.asarray(np.asarray(value, dtype=self.dtype))
        try:
            try:
                key = _basic_index(index, self.shape)
            except TypeError:  # integer arrays, lists, boolean masks
                self._be.setitem(self.array, _host_index(index), value)
            else:
                view = self._be.k.getitem(self.array, key)
                if self._be.shares_storage(view, self.array):
                    self._be.copy_into(view, value)
                else:  # a negative step: the backend's own indexed write
                    self._be.setitem(self.array, key, value)
        except (ValueError, RuntimeError, IndexError) as e:
            raise ValueError(f"setitem: cannot write a value of shape {tuple(value.shape)} "
                             f"into {index!r} of a tensor of shape {self.shape} ({e})") from None
        self._version[0] += 1

    def resize_(self, *sizes) -> Tensor:
        """New shape; the values are kept when the element count is (a view), else the
        storage is new and uninitialised, as in torch."""
        shape = _shape_arg(sizes)
        if self.requires_grad:
            raise RuntimeError("resize_: not allowed on a tensor that requires grad")
        if int(np.prod(shape, dtype=np.int64)) == self.numel():
            self.array = self._be.k.reshape(self.array, shape)
        else:
            self.array, self._version, self._view = self._be.empty(shape, self.dtype), [0], \
                False
        return self

    # --- shape ---------------------------------------------------------------------------
    def reshape(self, *shape):
        shape = _infer_shape(_shape_arg(shape), self.numel(), "reshape", self.shape)
        return self if shape == self.shape else ops.Reshape.apply(self, shape)

    def view(self, *shape):
        return self.reshape(*shape)

    def view_as(self, other: Tensor):
        return self.reshape(other.shape)

    def reshape_as(self, other: Tensor):
        return self.reshape(other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = _norm_dim(start_dim, self.ndim, "flatten"), _norm_dim(end_dim, self.ndim, "flatten")
        if s > e:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        return self.reshape(self.shape[:s] + (-1,) + self.shape[e + 1:])

    def permute(self, *dims):
        dims = _shape_arg(dims)
        if sorted(_norm_dim(d, self.ndim, "permute") for d in dims) != list(range(self.ndim)):
            raise ValueError(f"permute: {dims} is not a permutation of the {self.ndim} "
                             f"dims of a tensor of shape {self.shape}")
        dims = tuple(_norm_dim(d, self.ndim, "permute") for d in dims)
        return self if dims == tuple(range(self.ndim)) else ops.Permute.apply(self, dims)

    def transpose(self, dim0: int, dim1: int):
        order = list(range(self.ndim))
        d0, d1 = _norm_dim(dim0, self.ndim, "transpose"), _norm_dim(dim1, self.ndim, "transpose")
        order[d0], order[d1] = order[d1], order[d0]
        return self.permute(order)

    def t(self):
        if self.ndim > 2:
            raise ValueError(f"t(): expects a tensor with <= 2 dims, got shape {self.shape}")
        return self if self.ndim < 2 else self.transpose(0, 1)

    @property
    def T(self):  # noqa: N802 - torch's name
        return self.permute(tuple(reversed(range(self.ndim))))

    @property
    def mT(self):  # noqa: N802
        return self.transpose(-2, -1)

    def unsqueeze(self, dim: int):
        dim = _norm_dim(dim, self.ndim + 1, "unsqueeze")
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape(tuple(s for s in self.shape if s != 1))
        dims = _norm_dims(dim, self.ndim, "squeeze")
        return self.reshape(tuple(s for i, s in enumerate(self.shape)
                                  if not (i in dims and s == 1)))

    def expand(self, *sizes):
        sizes = _shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise ValueError(f"expand: {sizes} has fewer dims than the tensor's shape {self.shape}")
        lead = len(sizes) - self.ndim
        shape = tuple(self.shape[i - lead] if s == -1 and i >= lead else s
                      for i, s in enumerate(sizes))
        for i, s in enumerate(self.shape):
            if s != 1 and s != shape[lead + i]:
                raise ValueError(f"expand: cannot expand shape {self.shape} to {sizes}")
        return self if shape == self.shape else ops.Expand.apply(self, shape)

    def expand_as(self, other: Tensor):
        return self.expand(other.shape)

    def sum_to(self, shape: Sequence[int]) -> Tensor:
        """Sum broadcast dimensions away so the result has ``shape`` (broadcasting's adjoint)."""
        shape = tuple(shape)
        if self.shape == shape:
            return self
        lead = self.ndim - len(shape)
        dims = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                          if s == 1 and self.shape[lead + i] != 1)
        out = self.sum(dims, keepdim=True) if dims else self
        return out.reshape(shape)

    def __getitem__(self, index):
        index = _basic_index(index, self.shape)
        return ops.GetItem.apply(self, index)

    def chunk(self, chunks: int, dim: int = 0):
        size = -(-self.shape[_norm_dim(dim, self.ndim, "chunk")] // chunks)
        return self.split(size, dim)

    def split(self, split_size, dim: int = 0):
        dim = _norm_dim(dim, self.ndim, "split")
        n = self.shape[dim]
        sizes = [split_size] * (n // split_size) + ([n % split_size] if n % split_size else []) \
            if isinstance(split_size, int) else list(split_size)
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} do not add up to {n} along dim {dim}")
        out, start = [], 0
        for s in sizes:
            out.append(self[(slice(None),) * dim + (slice(start, start + s),)])
            start += s
        return tuple(out)


def _promote(a: Tensor, b: Tensor, op: str, broadcast: bool = True):
    """Integer/bool operands take the other operand's float dtype; two float dtypes promote as
    in torch (float32 with float64 gives float64, a 0-d tensor takes the other's dtype).
    ``broadcast``: the op is elementwise, so the shapes must broadcast together (else it is
    matmul, which needs equal float dtypes, as in torch)."""
    if broadcast:
        _check_broadcast(a.shape, b.shape, op)
    da, db = a.dtype, b.dtype
    if da == db:
        return a, b
    fa, fb = da.kind == "f", db.kind == "f"
    if fa and fb and not broadcast:  # matmul: torch does not promote either
        raise TypeError(f"{op}: dtype mismatch: {da} tensor of shape {a.shape} and {db} tensor "
                        f"of shape {b.shape}; convert one with .to(dtype)")
    if fa and fb:  # torch's promotion: a 0-d tensor takes the other's dtype, else the wider
        if (a.ndim == 0) != (b.ndim == 0):
            return (ops.Cast.apply(a, db), b) if a.ndim == 0 else (a, ops.Cast.apply(b, da))
        wide = np.promote_types(da, db)
        return (a if da == wide else ops.Cast.apply(a, wide),
                b if db == wide else ops.Cast.apply(b, wide))
    if fa:
        return a, ops.Cast.apply(b, da)
    if fb:
        return ops.Cast.apply(a, db), b
    return a, b


def _check_broadcast(sa: tuple, sb: tuple, op: str) -> None:
    for i, (x, y) in enumerate(zip(reversed(sa), reversed(sb))):
        if x != y and x != 1 and y != 1:
            raise ValueError(f"{op}: shapes {sa} and {sb} cannot be broadcast together (sizes "
                             f"{x} and {y} at dim {-1 - i})")


def _infer_shape(shape: tuple, numel: int, op: str, old: tuple) -> tuple:
    if shape.count(-1) > 1:
        raise ValueError(f"{op}: only one dimension can be -1, got {shape}")
    if any(s < -1 for s in shape):
        raise ValueError(f"{op}: invalid size in {shape}")
    if -1 in shape:
        rest = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
        if rest == 0 or numel % rest:
            raise ValueError(f"{op}: shape {shape} is invalid for a tensor of shape {old}")
        shape = tuple(numel // rest if s == -1 else s for s in shape)
    if int(np.prod(shape, dtype=np.int64)) != numel:
        raise ValueError(f"{op}: shape {shape} is invalid for a tensor of shape {old} "
                         f"({numel} elements)")
    return shape


def _legacy_array(args: tuple):
    import minigan
    be = get_backend(None)
    dtype = minigan.get_default_dtype()
    if not args:
        return be.zeros((0,), dtype)
    if all(type(a) is int for a in args):
        return be.zeros(args, dtype)
    if len(args) == 1:
        return be.asarray(np.asarray(args[0], dtype=dtype))
    raise TypeError(f"Tensor: expects sizes (ints) or one sequence of data, got {args!r}")


def _host_index(index):
    """An advanced index with host arrays (tensors turned into numpy integer/bool arrays)."""
    def one(i):
        if isinstance(i, Tensor):
            return i._be.to_numpy(i.array)
        if isinstance(i, (list, range)):
            return np.asarray(i)
        return i
    return tuple(one(i) for i in index) if isinstance(index, tuple) else one(index)


def _basic_index(index, shape) -> tuple:
    """Validate a basic index (ints, slices, None, Ellipsis) and make it a tuple."""
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    consumed = sum(1 for i in index if i is not None and i is not Ellipsis)
    if consumed > len(shape):
        raise IndexError(f"getitem: too many indices ({consumed}) for a tensor of shape {shape}")
    dim = 0
    for i in index:
        if i is Ellipsis:
            out.append(i)
            dim = len(shape) - (consumed - dim)
            continue
        if isinstance(i, Tensor) and i.ndim == 0 and i.dtype.kind in "iu":
            i = int(i.item())
        basic = i is None or isinstance(i, (slice, numbers.Integral))
        if isinstance(i, (bool, np.bool_)) or not basic:
            raise TypeError(f"getitem: only basic indexing (ints, slices, None, ...) is supported, "
                            f"got {type(i).__name__}; use index_select for integer arrays")
        if isinstance(i, numbers.Integral):
            if not -shape[dim] <= i < shape[dim]:
                raise IndexError(f"getitem: index {i} is out of range for dim {dim} of size "
                                 f"{shape[dim]}")
            i = int(i) % shape[dim]
        out.append(i)
        if i is not None:
            dim += 1
    return tuple(out)


from minigan.autograd import ops  # noqa: E402  (ops build on Tensor)
