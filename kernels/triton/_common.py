"""What every Triton kernel module shares: dtype names, block-size choice, the dot precision
switch, and one launcher that records each launch so tests can check that every
configuration the backend launched is also compiled for sm_90 (see ``compile_cases``).

Kernel modules must not use ``from __future__ import annotations``: Triton reads parameter
annotations such as ``lr: tl.float64`` (a Python float passed at full precision) as objects.
"""

import inspect
import math
from dataclasses import dataclass, field

import torch
import triton
import triton.language as tl

# torch dtype -> the type string Triton's signatures use for a pointer to it
POINTER_TYPES = {torch.float32: "*fp32", torch.float64: "*fp64", torch.float16: "*fp16",
                 torch.int64: "*i64", torch.int32: "*i32", torch.bool: "*i1",
                 torch.uint8: "*u8", torch.int8: "*i8"}

# The precision tl.dot uses for float32 inputs: "ieee" (exact float32 products, torch's
# default for matmul and, with cudnn.allow_tf32 off, convolution) or "tf32" (when asked).
_DOT = {"float32": "ieee"}


def set_tf32(enabled: bool) -> None:
    _DOT["float32"] = "tf32" if enabled else "ieee"


def tf32_enabled() -> bool:
    return _DOT["float32"] == "tf32"


def dot_precision(dtype: torch.dtype) -> str:
    """The ``input_precision`` for tl.dot on inputs of ``dtype`` (a constexpr argument)."""
    return _DOT["float32"] if dtype == torch.float32 else "ieee"


# --- device helpers the kernel modules share -----------------------------------------------
@triton.jit
def div_rn(x, y):
    """x / y rounded to nearest in float32 (the GPU's default float32 division is
    approximate); x may be a Python number. Adding -0.0 broadcasts x to y's shape and dtype
    and changes no value (not even -0.0)."""
    if y.dtype == tl.float32:
        return tl.div_rn(tl.full(y.shape, -0.0, y.dtype) + x, y)
    else:
        return x / y


@triton.jit
def sqrt_rn(x):
    """sqrt rounded to nearest in float32 (the GPU's default is approximate)."""
    if x.dtype == tl.float32:
        return tl.sqrt_rn(x)
    else:
        return tl.sqrt(x)


@triton.jit
def tanh(x):
    """tanh from exp(-2|x|) (no libdevice); an odd Taylor polynomial below |x| = 0.1, where
    1 - exp(-2|x|) would cancel (error < 1e-16 relative there)."""
    ax = tl.abs(x)
    e = tl.exp(-2.0 * ax)
    big = div_rn(1.0 - e, 1.0 + e)
    x2 = ax * ax
    poly = 21844.0 / 6081075.0
    poly = poly * x2 - 1382.0 / 155925.0
    poly = poly * x2 + 62.0 / 2835.0
    poly = poly * x2 - 17.0 / 315.0
    poly = poly * x2 + 2.0 / 15.0
    poly = poly * x2 - 1.0 / 3.0
    small = ax + ax * x2 * poly
    t = tl.where(ax < 0.1, small, big)
    return tl.where(x < 0, -t, tl.where(x > 0, t, x))


# The activations a kernel can apply to its result before storing it (conv2d's epilogue,
# channel_affine), chosen by a runtime code ``act`` (an i32: 0 none, then ACTIVATIONS' order,
# from 1) with ``slope`` (leaky_relu's negative slope, f64). A runtime argument rather than a
# constexpr: the branch is uniform across a launch (free on a GPU) and the kernels keep one
# compiled configuration each instead of five. The formulas are the elementwise kernels', so
# a fused result equals the unfused one bit for bit.
from minigan.kernels.shapes import ACTIVATIONS, act_args  # noqa: E402,F401  (shared)


@triton.jit
def activate(v, act, slope, SMOOTH: tl.constexpr):
    """``SMOOTH`` False compiles relu and leaky_relu only (the convolution epilogue: tanh and
    sigmoid there cost ~50% more compile time for layers that rarely end that way)."""
    if act == 1:  # relu, as clip(v, 0, None): NaN propagates
        v = tl.maximum(v, tl.zeros_like(v), propagate_nan=tl.PropagateNan.ALL)
    elif act == 2:  # leaky_relu, as LeakyRelu: v * (1 where v > 0 else slope)
        v = v * tl.where(v > 0, 1.0, tl.full([], slope, v.dtype))
    if SMOOTH:
        if act == 3:
            v = tanh(v)
        elif act == 4:  # sigmoid
            e = tl.exp(-tl.abs(v))
            v = tl.where(v >= 0, div_rn(1.0, 1.0 + e), div_rn(e, 1.0 + e)).to(v.dtype)
    return v




def next_pow2(n: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(n, 1))))


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def block_for(n: int, lo: int = 16, hi: int = 1024) -> int:
    """A power-of-two block length between lo and hi that covers n if it can."""
    return min(hi, max(lo, next_pow2(n)))


def scalar_type(value) -> str:
    if isinstance(value, bool):
        return "i1"
    if isinstance(value, int):
        return "i32" if -2**31 <= value < 2**31 else "i64"
    if isinstance(value, float):
        return "fp32"
    raise TypeError(f"no Triton type for {type(value).__name__}")


@dataclass(frozen=True)
class CompileCase:
    """One specialization of a kernel: what ``triton.compile`` needs, and the key a launch
    is recorded under."""

    kernel: object  # the @triton.jit function
    signature: dict  # argument name -> type string ("*fp32", "i32", "fp64", "constexpr")
    constexprs: dict = field(default_factory=dict)

    def key(self) -> tuple:
        return launch_key(self.kernel, self.signature, self.constexprs)


def launch_key(kernel, signature: dict, constexprs: dict) -> tuple:
    """Pointer element types and constexprs identify a configuration; runtime integer and
    float arguments only change values (their width, i32 or i64, is part of the key)."""
    name = getattr(kernel, "__name__", None) or kernel.fn.__name__
    return (name, tuple(sorted(signature.items())), tuple(sorted(constexprs.items())))


# When a set, every launch adds its key here (tests turn this on).
RECORD: set | None = None


def _annotations(kernel) -> dict:
    """Parameter name -> Triton type string for annotated scalars (``c: tl.float64``)."""
    fn = kernel.fn
    out = {}
    for name, param in inspect.signature(fn).parameters.items():
        ann = param.annotation
        if ann is inspect.Parameter.empty or ann is tl.constexpr or "constexpr" in str(ann):
            continue
        out[name] = str(ann)
    return out


def signature_of(kernel, args: tuple, constexprs: dict) -> dict:
    """The signature Triton specializes a launch on (pointer and scalar types)."""
    names = [n for n in kernel.arg_names if n not in constexprs]
    if len(names) != len(args):
        raise TypeError(f"{kernel.arg_names}: {len(args)} runtime arguments for {len(names)}")
    annotated = _annotations(kernel)
    sig = {}
    for name, value in zip(names, args):
        if name in annotated:
            sig[name] = annotated[name]
        elif isinstance(value, torch.Tensor):
            sig[name] = POINTER_TYPES[value.dtype]
        else:
            sig[name] = scalar_type(value)
    for name in constexprs:
        sig[name] = "constexpr"
    return sig


def launch(kernel, grid, *args, **constexprs) -> None:
    """``kernel[grid](*args, **constexprs)``, recording the configuration when asked."""
    if RECORD is not None:
        RECORD.add(launch_key(kernel, signature_of(kernel, args, constexprs), constexprs))
    kernel[grid](*args, **constexprs)
