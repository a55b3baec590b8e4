"""The primitive ops behind Tensor's methods, each beside its derivative.

Every backward is written with minigan ops on Tensors (never on raw arrays, except for
constant masks), so it can itself be differentiated: that is what makes gradient penalties
work. Constant masks (where a comparison decides the branch) carry no gradient, exactly as
in torch's derivative formulas.
"""

from __future__ import annotations

from minigan.autograd.function import Function
from minigan.autograd.tensor import Tensor, _promote


def _const(ctx, array) -> Tensor:
    return Tensor(array, ctx.backend)


def _unbroadcast(g: Tensor | None, shape: tuple) -> Tensor | None:
    return None if g is None else g.sum_to(shape)


# --- elementwise, binary ------------------------------------------------------------------
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return ctx.k.add(a.array, b.array)

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad
        return (_unbroadcast(g, ctx.shapes[0]) if need_a else None,
                _unbroadcast(g, ctx.shapes[1]) if need_b else None)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return ctx.k.sub(a.array, b.array)

    @staticmethod
    def backward(ctx, g):
        need_a, need_b = ctx.needs_input_grad
        return (_unbroadcast(g, ctx.shapes[0]) if need_a else None,
                _unbroadcast(-g, ctx.shapes[1]) if need_b else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.k.mul(a.array, b.array)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (_unbroadcast(g * b, a.shape) if need_a else None,
                _unbroadcast(g * a, b.shape) if need_b else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.k.div(a.array, b.array)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = _unbroadcast(g / b, a.shape) if need_a else None
        gb = _unbroadcast(-g * a / (b * b), b.shape) if need_b else None
        return ga, gb


class ScalarArith(Function):
    """``a op c`` (or ``c op a``, ``reverse``) for a Python number ``c`` and a float tensor:
    the number reaches the kernel as a number, taking a's dtype as in torch, instead of
    becoming a 0-d tensor (on a GPU, an allocation and a launch per use)."""

    @staticmethod
    def forward(ctx, a, c, op, reverse):
        ctx.c, ctx.op, ctx.reverse = c, op, reverse
        if op == "div" and reverse:
            ctx.save_outputs()  # d(c / a)/da = -(c / a) / a
            ctx.save_for_backward(a)
        kernel = getattr(ctx.k, op)
        return kernel(c, a.array) if reverse else kernel(a.array, c)

    @staticmethod
    def backward(ctx, g):
        c, op = ctx.c, ctx.op
        if op == "add" or (op == "sub" and not ctx.reverse):
            ga = g
        elif op == "sub":
            ga = -g
        elif op == "mul":
            ga = g * c
        elif not ctx.reverse:  # a / c
            ga = g / c
        else:
            (a,), (out,) = ctx.saved_tensors, ctx.saved_outputs
            ga = -g * out / a
        return ga, None, None, None


class Pow(Function):
    """a ** b for two tensors; d/db uses log(a), taken as 0 where a == 0 (torch's convention)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.k.pow(a.array, b.array)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = _unbroadcast(g * b * a ** (b - 1), a.shape) if need_a else None
        gb = None
        if need_b:
            k = ctx.k
            zero = k.eq(a.array, 0)
            safe_a = Where.apply(zero, a * 0 + 1, a)
            gb = _unbroadcast(Where.apply(zero, g * 0, g * a ** b * safe_a.log()), b.shape)
        return ga, gb


class Maximum(Function):
    """Elementwise max; on ties the gradient is split in half (torch's rule)."""

    select = "gt"

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.k.maximum(a.array, b.array) if cls.select == "gt" else \
            ctx.k.minimum(a.array, b.array)

    @classmethod
    def backward(cls, ctx, g):
        a, b = ctx.saved_tensors
        k = ctx.k
        wins = getattr(k, cls.select)
        ties = k.eq(a.array, b.array)
        half = k.mul(ties, 0.5)
        fa = _const(ctx, k.astype(k.add(wins(a.array, b.array), half), g.dtype))
        fb = _const(ctx, k.astype(k.add(wins(b.array, a.array), half), g.dtype))
        need_a, need_b = ctx.needs_input_grad
        return (_unbroadcast(g * fa, a.shape) if need_a else None,
                _unbroadcast(g * fb, b.shape) if need_b else None)


class Minimum(Maximum):
    select = "lt"


def maximum(a: Tensor, b: Tensor) -> Tensor:
    return Maximum.apply(*_promote(a, b, "maximum"))


def minimum(a: Tensor, b: Tensor) -> Tensor:
    return Minimum.apply(*_promote(a, b, "minimum"))


class Where(Function):
    """cond ? a : b with a constant boolean array ``cond``."""

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = cond
        ctx.shapes = (a.shape, b.shape)
        return ctx.k.where(cond, a.array, b.array)

    @staticmethod
    def backward(ctx, g):
        _, need_a, need_b = ctx.needs_input_grad
        zero = g * 0
        return (None,
                _unbroadcast(Where.apply(ctx.cond, g, zero), ctx.shapes[0]) if need_a else None,
                _unbroadcast(Where.apply(ctx.cond, zero, g), ctx.shapes[1]) if need_b else None)


# --- elementwise, unary -------------------------------------------------------------------
class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return ctx.k.neg(a.array)

    @staticmethod
    def backward(ctx, g):
        return -g


class PowScalar(Function):
    @staticmethod
    def forward(ctx, a, c):
        ctx.save_for_backward(a)
        ctx.c = c
        return ctx.k.pow_scalar(a.array, c)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        c = ctx.c
        if c == 0:
            return g * 0, None
        return (g * c * a if c == 2 else g * c * a ** (c - 1)), None


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_outputs()
        return ctx.k.exp(a.array)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved_outputs[0]


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.k.log(a.array)

    @staticmethod
    def backward(ctx, g):
        return g / ctx.saved_tensors[0]


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_outputs()
        return ctx.k.sqrt(a.array)

    @staticmethod
    def backward(ctx, g):
        return g / (2 * ctx.saved_outputs[0])


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.k.abs(a.array)

    @staticmethod
    def backward(ctx, g):
        return g * _const(ctx, ctx.k.sign(ctx.saved_tensors[0].array))


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_outputs()
        return ctx.k.tanh(a.array)

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved_outputs[0]
        return g * (1 - y * y)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_outputs()
        return ctx.k.sigmoid(a.array)

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved_outputs[0]
        return g * y * (1 - y)


class Softplus(Function):
    """log(1 + exp(beta x)) / beta, the identity where beta x > threshold (torch)."""

    @staticmethod
    def forward(ctx, a, beta, threshold):
        ctx.save_for_backward(a)
        ctx.beta, ctx.threshold = beta, threshold
        return ctx.k.softplus(a.array, beta, threshold)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        linear = ctx.k.gt(ctx.k.mul(a.array, ctx.beta), ctx.threshold)
        return Where.apply(linear, g, g * (a * ctx.beta).sigmoid()), None, None


class Relu(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_outputs()
        return ctx.k.clip(a.array, 0, None)

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved_outputs[0]
        return g * _const(ctx, ctx.k.astype(ctx.k.gt(y.array, 0), g.dtype))


class LeakyRelu(Function):
    """a * factor, factor = 1 where a > 0 and slope elsewhere (torch: the gradient at 0 is
    the slope). The factor is built arithmetically from the mask: a select (numpy's where)
    on an unpredictable mask measured ten times slower than a multiply."""

    @staticmethod
    def forward(ctx, a, slope):
        k = ctx.k
        positive = k.astype(k.gt(a.array, 0), a.array.dtype)
        if 0.0 <= slope <= 1.0:  # every GAN's slope: max(mask, slope) is exactly 1 or slope
            ctx.factor = k.maximum(positive, slope)
        else:
            ctx.factor = k.add(positive, k.mul(k.astype(k.le(a.array, 0), a.array.dtype), slope))
        return k.mul(a.array, ctx.factor)

    @staticmethod
    def backward(ctx, g):
        return g * _const(ctx, ctx.factor), None


class Clamp(Function):
    @staticmethod
    def forward(ctx, a, lo, hi):
        k = ctx.k
        inside = k.ge(a.array, lo) if lo is not None else None
        if hi is not None:
            below = k.le(a.array, hi)
            inside = below if inside is None else k.logical_and(inside, below)
        ctx.inside = inside
        return k.clip(a.array, lo, hi)

    @staticmethod
    def backward(ctx, g):
        return g * _const(ctx, ctx.k.astype(ctx.inside, g.dtype)), None, None


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return ctx.k.astype(a.array, dtype)

    @staticmethod
    def backward(ctx, g):
        if ctx.dtype.kind != "f":
            return None, None
        return Cast.apply(g, ctx.dtype), None


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return ctx.backend.copy(a.array)

    @staticmethod
    def backward(ctx, g):
        return g


# --- reductions ---------------------------------------------------------------------------
class Sum(Function):
    @staticmethod
    def forward(ctx, a, dims, keepdim):
        ctx.shape, ctx.dims, ctx.keepdim = a.shape, dims, keepdim
        return ctx.k.sum(a.array, dims, keepdim)

    @staticmethod
    def backward(ctx, g):
        return _expand_reduced(g, ctx.shape, ctx.dims, ctx.keepdim), None, None


def _expand_reduced(g: Tensor, shape, dims, keepdim) -> Tensor:
    if not keepdim:
        g = g.reshape(tuple(1 if i in dims else s for i, s in enumerate(shape)))
    return g.expand(shape)


class Extreme(Function):
    """max/min over a set of dims; ties share the gradient evenly (torch's amax rule)."""

    @staticmethod
    def forward(ctx, a, which, dims=None, keepdim=False):
        dims = tuple(range(a.ndim)) if dims is None else dims
        ctx.save_for_backward(a)
        ctx.save_outputs()
        ctx.which, ctx.dims, ctx.keepdim = which, dims, keepdim
        kernel = ctx.k.amax if which == "max" else ctx.k.amin
        return kernel(a.array, dims, keepdim)

    @staticmethod
    def backward(ctx, g):
        (a,), (y,) = ctx.saved_tensors, ctx.saved_outputs
        k = ctx.k
        y_keep = y.array if ctx.keepdim else k.reshape(
            y.array, tuple(1 if i in ctx.dims else s for i, s in enumerate(a.shape)))
        mask = k.astype(k.eq(a.array, y_keep), g.dtype)
        count = k.sum(mask, ctx.dims, True)
        share = _const(ctx, k.div(mask, count))
        return _expand_reduced(g, a.shape, ctx.dims, ctx.keepdim) * share, None, None, None


class ExtremeDim(Function):
    """(values, indices) of max/min along one dim; the gradient goes to the index only."""

    differentiable_outputs = (0,)

    @staticmethod
    def forward(ctx, a, which, dim, keepdim):
        kernel = ctx.k.max_dim if which == "max" else ctx.k.min_dim
        values, indices = kernel(a.array, dim, keepdim)
        ctx.shape, ctx.dim, ctx.keepdim = a.shape, dim, keepdim
        ctx.indices = indices
        return values, indices

    @staticmethod
    def backward(ctx, g, _g_indices=None):
        k = ctx.k
        idx = ctx.indices
        if ctx.keepdim:
            idx = k.reshape(idx, tuple(s for i, s in enumerate(idx.shape) if i != ctx.dim))
        mask = _const(ctx, k.one_hot(idx, ctx.shape[ctx.dim], ctx.dim, g.dtype))
        return _expand_reduced(g, ctx.shape, (ctx.dim,), ctx.keepdim) * mask, None, None, None


class Norm2(Function):
    """Euclidean norm over dims; the gradient at a zero norm is 0, as in torch."""

    @staticmethod
    def forward(ctx, a, dims, keepdim):
        ctx.save_for_backward(a)
        ctx.save_outputs()
        ctx.dims, ctx.keepdim = dims, keepdim
        k = ctx.k
        return k.sqrt(k.sum(k.mul(a.array, a.array), dims, keepdim))

    @staticmethod
    def backward(ctx, g):
        (a,), (y,) = ctx.saved_tensors, ctx.saved_outputs
        zero = ctx.k.eq(y.array, 0)
        safe = Where.apply(zero, y * 0 + 1, y)  # the masked branch carries no gradient
        scale = Where.apply(zero, g * 0, g / safe)
        return a * _expand_reduced(scale, a.shape, ctx.dims, ctx.keepdim), None, None


# --- layout -------------------------------------------------------------------------------
class Reshape(Function):
    view_of = 0

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return ctx.k.reshape(a.array, shape)

    @staticmethod
    def backward(ctx, g):
        return Reshape.apply(g, ctx.shape), None


class Permute(Function):
    view_of = 0

    @staticmethod
    def forward(ctx, a, dims):
        ctx.dims = dims
        return ctx.k.permute(a.array, dims)

    @staticmethod
    def backward(ctx, g):
        inverse = tuple(sorted(range(len(ctx.dims)), key=ctx.dims.__getitem__))
        return Permute.apply(g, inverse), None


class Expand(Function):
    view_of = 0

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return ctx.k.broadcast_to(a.array, shape)

    @staticmethod
    def backward(ctx, g):
        return g.sum_to(ctx.shape), None


class GetItem(Function):
    view_of = 0

    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.index = a.shape, index
        return ctx.k.getitem(a.array, index)

    @staticmethod
    def backward(ctx, g):
        return SliceBackward.apply(g, ctx.index, ctx.shape), None


class SliceBackward(Function):
    """Zeros of ``shape`` with g written at a basic index: the adjoint of GetItem."""

    @staticmethod
    def forward(ctx, g, index, shape):
        ctx.index = index
        return ctx.k.slice_backward(g.array, index, shape)

    @staticmethod
    def backward(ctx, gg):
        return GetItem.apply(gg, ctx.index), None, None


class IndexSelect(Function):
    """Take entries along ``axis`` at an integer index array (any shape)."""

    @staticmethod
    def forward(ctx, a, axis, index):
        ctx.axis, ctx.index, ctx.size = axis, index, a.shape[axis]
        return ctx.k.index_select(a.array, axis, index)

    @staticmethod
    def backward(ctx, g):
        return IndexAdd.apply(g, ctx.axis, ctx.index, ctx.size), None, None


class IndexAdd(Function):
    """The adjoint of IndexSelect: scatter-add g back along ``axis``."""

    @staticmethod
    def forward(ctx, g, axis, index, size):
        ctx.axis, ctx.index = axis, index
        return ctx.k.index_add(g.array, axis, index, size)

    @staticmethod
    def backward(ctx, gg):
        return IndexSelect.apply(gg, ctx.axis, ctx.index), None, None, None


class Cat(Function):
    @staticmethod
    def forward(ctx, *tensors, dim):
        ctx.dim = dim
        ctx.sizes = [t.shape[dim] for t in tensors]
        return ctx.k.concat([t.array for t in tensors], dim)

    @staticmethod
    def backward(ctx, g):
        grads, start = [], 0
        for size, need in zip(ctx.sizes, ctx.needs_input_grad):
            index = (slice(None),) * ctx.dim + (slice(start, start + size),)
            grads.append(GetItem.apply(g, index) if need else None)
            start += size
        return tuple(grads)


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.k.matmul(a.array, b.array)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (_unbroadcast(MatMul.apply(g, b.mT), a.shape) if need_a else None,
                _unbroadcast(MatMul.apply(a.mT, g), b.shape) if need_b else None)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both arguments need at least 1 dim, got shapes "
                         f"{a.shape} and {b.shape}")
    a2 = a.unsqueeze(0) if a.ndim == 1 else a
    b2 = b.unsqueeze(-1) if b.ndim == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                         f"({a2.shape[-1]} != {b2.shape[-2]})")
    a2, b2 = _promote(a2, b2, "matmul", broadcast=False)
    out = MatMul.apply(a2, b2)
    if b.ndim == 1:
        out = out.squeeze(-1)
    if a.ndim == 1:
        out = out.squeeze(-2 if b.ndim > 1 else -1)
    return out
