"""The legacy tensor types of torch scripts: ``FloatTensor(2, 3)``, ``LongTensor(labels)``,
``x.type(FloatTensor)``, ``isinstance(x, FloatTensor)`` (and ``minigan.cuda.FloatTensor`` on the
GPU backend), plus ``autograd.Variable``."""

from __future__ import annotations

import numpy as np

from minigan.device import device


class TensorType:
    """A dtype on a device that builds tensors like torch's legacy constructors: sizes give a
    zero-filled tensor (torch leaves it uninitialised), data (lists, numpy arrays, tensors) is
    copied and converted."""

    def __init__(self, name: str, dtype: str, dev: device):
        self.__name__ = name
        self.dtype, self.device = np.dtype(dtype), dev
        prefix = "minigan." if dev.type == "cpu" else "minigan.cuda."
        self.qualified = prefix + name

    def __call__(self, *args):
        import minigan
        backend = self.device.backend
        if not args:
            return minigan.zeros(0, dtype=self.dtype, backend=backend)
        if all(type(a) is int or isinstance(a, np.integer) for a in args):
            return minigan.zeros(*(int(a) for a in args), dtype=self.dtype, backend=backend)
        if len(args) != 1:
            raise TypeError(f"{self.__name__}: expects sizes (ints) or one sequence of data, "
                            f"got {args!r}")
        data = args[0]
        if isinstance(data, minigan.Tensor):
            return data.detach().to(self.dtype, backend=backend)
        return minigan.tensor(np.asarray(data), dtype=self.dtype, backend=backend)

    def __instancecheck__(self, obj) -> bool:
        import minigan
        return isinstance(obj, minigan.Tensor) and obj.dtype == self.dtype and \
            obj.device.type == self.device.type

    def __repr__(self) -> str:
        return f"<class '{self.qualified}'>"


_cpu = device("cpu")
FloatTensor = TensorType("FloatTensor", "float32", _cpu)
DoubleTensor = TensorType("DoubleTensor", "float64", _cpu)
HalfTensor = TensorType("HalfTensor", "float16", _cpu)
LongTensor = TensorType("LongTensor", "int64", _cpu)
IntTensor = TensorType("IntTensor", "int32", _cpu)
ByteTensor = TensorType("ByteTensor", "uint8", _cpu)
BoolTensor = TensorType("BoolTensor", "bool", _cpu)
_BY_NAME = {t.__name__: t for t in (FloatTensor, DoubleTensor, HalfTensor, LongTensor,
                                    IntTensor, ByteTensor, BoolTensor)}


def type_name(dtype: np.dtype, dev: device) -> str:
    """torch's ``x.type()`` string, e.g. 'torch.FloatTensor' (kept torch's prefix: scripts
    compare it against such strings)."""
    for name, t in _BY_NAME.items():
        if t.dtype == dtype:
            return ("torch." if dev.type == "cpu" else "torch.cuda.") + name
    return f"torch.{dtype.name}"


def resolve(spec):
    """``(dtype, device or None)`` of a ``.type(...)`` argument: a TensorType, a string such as
    'torch.cuda.FloatTensor', or a dtype."""
    if isinstance(spec, TensorType):
        return spec.dtype, spec.device
    if isinstance(spec, str) and spec.endswith("Tensor"):
        parts = spec.split(".")
        name = parts[-1]
        if name not in _BY_NAME:
            raise ValueError(f"type: unknown tensor type {spec!r}")
        dev = device("cuda") if "cuda" in parts else _cpu
        return _BY_NAME[name].dtype, dev
    return np.dtype(spec), None


def Variable(data, requires_grad: bool = False, volatile: bool = False):  # noqa: N802
    """torch's deprecated wrapper: the tensor itself (``requires_grad=True`` gives a leaf
    alias of it that requires grad)."""
    import minigan
    if not isinstance(data, minigan.Tensor):
        raise TypeError(f"Variable: expects a Tensor, got {type(data).__name__}")
    if requires_grad and not data.requires_grad:
        return data.detach().requires_grad_(True)
    return data


class Generator(np.random.Generator):
    """torch.Generator for the host-side randomness of scripts (DataLoader shuffling,
    random_split): a numpy Generator that ``manual_seed(seed)`` reseeds. Tensor sampling
    (randn, dropout) uses each backend's own generator, seeded by ``minigan.manual_seed``."""

    def __init__(self, device="cpu"):
        self._initial = 67280421310721  # torch's default seed
        super().__init__(np.random.PCG64(self._initial))

    def manual_seed(self, seed: int) -> Generator:
        self._initial = int(seed)
        self.bit_generator.state = np.random.PCG64(self._initial).state
        return self

    def initial_seed(self) -> int:
        return self._initial

    def seed(self) -> int:
        """Reseed from fresh OS entropy and return the new seed."""
        return self.manual_seed(int(np.random.SeedSequence().entropy % 2**63)).initial_seed()
