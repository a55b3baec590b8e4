"""The backend registry: one list of kernel names, one table per backend.

A backend is storage (how arrays are made, copied and moved to numpy) plus a kernel table
that maps every name in ``KERNELS`` to a function on that backend's arrays. Everything above
(autograd, functional) reaches arithmetic only through ``backend.k.<name>``; a missing kernel
raises ``MissingKernelError`` naming the op and the backend, never falling back elsewhere.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

import numpy as np

# The closed list of kernels every backend implements. Arguments are backend arrays and plain
# Python values; results are backend arrays. The docstring line says what each computes.
KERNELS: dict[str, str] = {
    # elementwise, numpy broadcasting rules
    "add": "a + b", "sub": "a - b", "mul": "a * b", "div": "a / b", "neg": "-a",
    "pow": "a ** b (both arrays)", "pow_scalar": "a ** c (python float c)",
    "exp": "exp(a)", "log": "log(a)", "sqrt": "sqrt(a)", "abs": "|a|", "sign": "sign(a)",
    "tanh": "tanh(a)", "sigmoid": "1 / (1 + exp(-a)), overflow-free",
    "softplus": "log(1 + exp(beta a)) / beta, linear above threshold (torch semantics)",
    "maximum": "elementwise max", "minimum": "elementwise min",
    "clip": "clip(a, lo, hi) with python bounds (None = unbounded)",
    "where": "cond ? a : b",
    "eq": "a == b", "ne": "a != b", "lt": "a < b", "le": "a <= b", "gt": "a > b", "ge": "a >= b",
    "logical_and": "a & b on bools",
    # reductions
    "sum": "sum over axes (tuple), keepdim", "amax": "max over axes", "amin": "min over axes",
    "max_dim": "(values, int64 indices) of the max along one axis, first index on ties",
    "min_dim": "(values, int64 indices) of the min along one axis, first index on ties",
    # layout
    "reshape": "reshape (copy only when needed)", "permute": "axes permutation",
    "broadcast_to": "broadcast to a shape", "getitem": "basic indexing (ints, slices, None)",
    "slice_backward": "zeros of a shape with g written at a basic index",
    "index_select": "take along an axis with an integer index array",
    "index_add": "zeros of a size along an axis, g scatter-added at an index array",
    "pad_constant": "constant padding, non-negative (before, after) per axis",
    "concat": "concatenate along an axis", "astype": "dtype conversion", "one_hot": "one-hot",
    "contiguous": "a C-contiguous copy when needed",
    # linear algebra and convolution (NCHW, weight OIHW)
    "matmul": "batched matmul with broadcasting",
    "conv2d_forward": "conv2d(x, w, b) with stride, padding, dilation, groups, then the "
                      "activation act (None or (name, slope): relu or leaky_relu) in the same "
                      "kernel",
    "conv2d_backward_input": "adjoint of conv2d w.r.t. its input (= conv_transpose2d)",
    "conv2d_backward_weight": "adjoint of conv2d w.r.t. its weight",
    # normalization over a set of axes
    "normalize_forward": "(y, mean, var): y = (x - mean) / sqrt(var + eps), biased var",
    "normalize_backward": "dx from dy for y = normalize(x): the fused no-graph fast path",
    "channel_affine": "act(y * w[c] + b[c]) along axis 1, w or b None, act None or (name, "
                      "slope): relu, leaky_relu, tanh, sigmoid: the normalizations' affine map "
                      "and activation",
    "channel_affine_backward": "(g * w[c], sum g*y per c, sum g per c), each only if asked: "
                               "the fused no-graph backward of channel_affine",
    "norm_forward": "(out, y, mean, var) of the fused batch/instance/group norm: x (contiguous) "
                    "viewed as (A, S, B) by layout = (A, S, B, G, Cg, HW) (norm.h), mean and "
                    "biased var per group s ((S,)), y = (x - mean) / sqrt(var + eps), out = "
                    "act(y * w[p] + b[p]) with p = (s % G) Cg + b // HW; weight, bias (C,) or "
                    "None, act as channel_affine's; out is y when all three are None",
    "norm_backward": "(dx, dw, db) from g, the gradient of norm_forward's out (each only if "
                     "asked): act's gradient from out, the affine map's, then dx = rstd (dy - "
                     "mean(dy) - y mean(dy y)) per group: the fused no-graph backward",
    "running_stats_update": "in place, one launch: running_mean = (1 - m) running_mean + m mean "
                            "and running_var = (1 - m) running_var + m var correction (each "
                            "only if not None): batch norm's running statistics",
    "softmax": "softmax along an axis", "log_softmax": "log_softmax along an axis",
    # gradient penalties on per-sample norms of g2d (N, D); kind "two-sided" ((||g|| - c)^2),
    # "one-sided" (relu(||g|| - c)^2), "squared" (||g||^2) or "power" (||g||^p)
    "penalty_forward": "(sq_norms, penalty), each (N,): the squared norm of each row and its "
                       "penalty of the kind with center c and power p",
    "penalty_backward": "dg[i] = upstream[i] coefficient(i) g[i], the penalty's gradient (the "
                        "coefficient 0 at ||g|| = 0 for the norm kinds, as torch's norm "
                        "backward): the fused no-graph backward",
    # pooling
    "avg_pool2d_forward": "average pooling with torch's ceil_mode/count_include_pad rules",
    "avg_pool2d_backward": "adjoint of avg_pool2d_forward",
    "max_pool2d_forward": "(values, int64 flat H*W indices) of max pooling; -1 for a window "
                          "wholly in the padding",
    "take_hw": "gather along the flattened last two axes of NC(H*W); 0 at index -1",
    "scatter_add_hw": "adjoint of take_hw into a given (H, W); index -1 adds nothing",
    # optimizer updates, in place on lists of parameter and state arrays (one group's tensors,
    # so a GPU backend can update them all in one launch); gradients are only read
    "sgd_step": "SGD: momentum, dampening, Nesterov, L2 weight decay, maximize (torch's order)",
    "adam_step": "Adam/AdamW (decoupled weight decay), AMSGrad, maximize (torch's order)",
    "rmsprop_step": "RMSprop: alpha, eps, momentum, centered, weight decay (torch's order)",
}


class MissingKernelError(NotImplementedError):
    """A backend was asked for a kernel it does not implement."""


class KernelTable:
    """Attribute access to one backend's kernels, with a clear error for missing ones."""

    def __init__(self, backend_name: str, table: dict[str, Callable]):
        unknown = set(table) - set(KERNELS)
        if unknown:
            raise ValueError(f"backend {backend_name!r} registers unknown kernels "
                             f"{sorted(unknown)}")
        self._name = backend_name
        self.__dict__.update(table)

    def __getattr__(self, op: str):
        # Only reached when the attribute is absent from the table.
        if op in KERNELS:
            raise MissingKernelError(f"backend {self._name!r} has no kernel {op!r}")
        raise AttributeError(f"{op!r} is not a minigan kernel")

    def implemented(self) -> list[str]:
        return [op for op in KERNELS if op in self.__dict__]


class Backend:
    """Storage plus kernel table: the one contract a backend fills.

    Everything above the backends reaches storage only through these methods and arithmetic
    only through ``k``. Arrays are the backend's own (numpy arrays, torch tensors used as
    storage, cupy arrays); dtypes are numpy dtypes at this boundary.
    """

    name: str = ""
    k: KernelTable

    # --- storage ----------------------------------------------------------------------------
    def asarray(self, data, dtype=None):  # pragma: no cover - interface
        """A new array (a copy) from host data: numpy arrays, lists, scalars, torch tensors."""
        raise NotImplementedError

    def to_numpy(self, a) -> np.ndarray:  # pragma: no cover - interface
        """The array's values on the host (a device-to-host copy on a GPU)."""
        raise NotImplementedError

    def wrap(self, a):  # pragma: no cover - interface
        """A kernel result as an array (numpy reductions may return scalars)."""
        raise NotImplementedError

    def dtype(self, a) -> np.dtype:  # pragma: no cover - interface
        raise NotImplementedError

    def zeros(self, shape, dtype):  # pragma: no cover - interface
        raise NotImplementedError

    def full(self, shape, value, dtype):  # pragma: no cover - interface
        raise NotImplementedError

    def empty(self, shape, dtype):  # pragma: no cover - interface
        raise NotImplementedError

    def arange(self, start, stop, step, dtype):  # pragma: no cover - interface
        raise NotImplementedError

    def copy(self, a):  # pragma: no cover - interface
        """A new array with a's values (the storage is not shared)."""
        raise NotImplementedError

    # --- in-place writes and aliasing (torch's .data, views and in-place methods) ------------
    def copy_into(self, dst, src) -> None:  # pragma: no cover - interface
        """Write ``src`` (an array of this backend, broadcast to dst's shape and cast to its
        dtype) into ``dst``'s storage, so every array aliasing it sees the new values."""
        raise NotImplementedError

    def setitem(self, dst, index, src) -> None:  # pragma: no cover - interface
        """``dst[index] = src`` in place (basic or integer-array index, src broadcast)."""
        raise NotImplementedError

    def shares_storage(self, a, b) -> bool:  # pragma: no cover - interface
        """Whether the two arrays are views of the same memory."""
        raise NotImplementedError

    # --- random numbers: the backend's own generator, seeded by minigan.manual_seed --------
    def seed(self, seed: int) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def randn(self, shape, dtype):  # pragma: no cover - interface
        raise NotImplementedError

    def rand(self, shape, dtype):  # pragma: no cover - interface
        raise NotImplementedError

    def randint(self, low, high, shape):  # pragma: no cover - interface
        """int64 integers in [low, high)."""
        raise NotImplementedError

    def get_rng_state(self) -> dict:  # pragma: no cover - interface
        """The generator's state as JSON-serializable data (it goes into checkpoints)."""
        raise NotImplementedError

    def set_rng_state(self, state: dict) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    # --- the device -------------------------------------------------------------------------
    device: str = "cpu"

    def synchronize(self) -> None:
        """Wait for queued kernels (a no-op where kernels run synchronously)."""

    def details(self) -> dict:
        """What this backend runs on, for run folders and benchmark rows."""
        return {}

    def describe(self) -> str:
        """One line on which kernels run, for the progress bar (e.g. 'numpy + C++ kernels')."""
        return self.name

    def __repr__(self) -> str:
        return f"<minigan backend {self.name}>"

    def __reduce__(self):
        # One instance per name: copying or unpickling a tensor must find the same backend,
        # or every op would see two backends (deepcopy of a module, checkpoints).
        return get_backend, (self.name,)


_BACKEND_MODULES = {
    "numpy": "minigan.backends.numpy_backend",
    "triton": "minigan.backends.triton_backend",
    "cupy": "minigan.backends.cupy_backend",
}
_instances: dict[str, Backend] = {}
_default = ["numpy"]
_seed: list[int | None] = [None]


class BackendUnavailableError(RuntimeError):
    """The backend cannot run on this machine (no GPU, package missing)."""


class BackendNotImplementedError(BackendUnavailableError):
    """The backend is not part of this version of minigan, on any machine."""


def get_backend(name: str | Backend | None = None) -> Backend:
    """The backend object for a name (``None`` means the current default)."""
    if isinstance(name, Backend):
        return name
    name = _default[0] if name is None else name
    if name in _instances:
        return _instances[name]
    if name not in _BACKEND_MODULES:
        raise ValueError(f"unknown backend {name!r}; choose one of {sorted(_BACKEND_MODULES)}")
    try:
        module = importlib.import_module(_BACKEND_MODULES[name])
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("minigan.backends."):
            raise BackendNotImplementedError(
                f"backend {name!r} is not implemented in this version of minigan "
                f"(implemented: {', '.join(_implemented())})") from None
        raise BackendUnavailableError(f"backend {name!r} cannot load: {e}") from e
    backend = module.create()
    if _seed[0] is not None:
        backend.seed(_seed[0])
    _instances[name] = backend
    return backend


def _implemented() -> list[str]:
    """Backends whose module ships in this version (they may still not run here)."""
    return [n for n, m in _BACKEND_MODULES.items() if importlib.util.find_spec(m) is not None]


def available_backends() -> list[str]:
    """Backends that load and run on this machine."""
    names = []
    for name in _BACKEND_MODULES:
        try:
            get_backend(name)
        except BackendUnavailableError:
            continue
        names.append(name)
    return names


def set_seed(seed: int) -> None:
    """Seed every loaded backend now and every backend loaded later."""
    _seed[0] = seed
    for backend in _instances.values():
        backend.seed(seed)


def set_default_backend(name: str) -> None:
    get_backend(name)
    _default[0] = name


def default_backend() -> Backend:
    return get_backend(None)


from minigan.backends import cudnn  # noqa: E402,F401  (torch.backends.cudnn's flags)
