"""The neural-network primitives: convolution, normalization, softmax, pooling, padding.

Linear ops come in adjoint pairs that differentiate into each other (conv2d and its two
backward ops, avg_pool2d and its backward, take and scatter, pad and slice), so gradients of
any order stay inside the pair. Nonlinear ones (normalize, softmax) write their backward with
their saved outputs, which are graph-connected, so they too differentiate again.
"""

from __future__ import annotations

from minigan.autograd.function import Function
from minigan.autograd.grad_mode import is_grad_enabled
from minigan.autograd.ops import GetItem
from minigan.autograd.tensor import Tensor


def _crop_to(t: Tensor, hw: tuple) -> Tensor:
    """conv2d's output can have one row/col more than the adjoint's input when
    output_padding >= stride (allowed if < dilation); the adjoint ignores it."""
    if t.shape[2:] == tuple(hw):
        return t
    return t[:, :, :hw[0], :hw[1]]


class Conv2d(Function):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups):
        ctx.save_for_backward(x, w)
        ctx.geom = (stride, padding, dilation, groups)
        return ctx.k.conv2d_forward(x.array, w.array, None if b is None else b.array, *ctx.geom)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = Conv2dBackwardInput.apply(g, w, x.shape[2:], *ctx.geom) if need_x else None
        gw = Conv2dBackwardWeight.apply(x, g, w.shape[2:], *ctx.geom) if need_w else None
        gb = g.sum((0, 2, 3)) if need_b else None
        return gx, gw, gb, None, None, None, None


def activation_grad(ctx, g: Tensor, y: Tensor, act) -> Tensor:
    """The gradient through a fused activation ``act`` = (name, slope) from its output ``y``
    (graph-connected, so it differentiates again): the same products the unfused Relu,
    LeakyRelu (0 <= slope <= 1, where y > 0 exactly when the input is), Tanh and Sigmoid
    backwards compute, so fused and unfused gradients agree bit for bit."""
    name, slope = act
    k = ctx.k
    if name == "relu":
        return g * Tensor(k.astype(k.gt(y.array, 0), g.dtype), ctx.backend)
    if name == "leaky_relu":
        return g * Tensor(k.maximum(k.astype(k.gt(y.array, 0), g.dtype), slope), ctx.backend)
    if name == "tanh":
        return g * (1 - y * y)
    return g * y * (1 - y)  # sigmoid


class Conv2dAct(Function):
    """conv2d, bias and an activation in one kernel (its epilogue): y = act(conv2d(x, w) + b).
    The backward is the activation's, from y, then Conv2d's."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups, act):
        ctx.save_for_backward(x, w)
        ctx.save_outputs()
        ctx.geom, ctx.act = (stride, padding, dilation, groups), act
        return ctx.k.conv2d_forward(x.array, w.array, None if b is None else b.array, *ctx.geom,
                                    act)

    @staticmethod
    def backward(ctx, g):
        g = activation_grad(ctx, g, ctx.saved_outputs[0], ctx.act)
        return Conv2d.backward(ctx, g) + (None,)


class Conv2dBackwardInput(Function):
    """B(g, w): the adjoint of conv2d in its input; conv_transpose2d is exactly this op."""

    @staticmethod
    def forward(ctx, g, w, input_hw, stride, padding, dilation, groups):
        ctx.save_for_backward(g, w)
        ctx.geom = (stride, padding, dilation, groups)
        return ctx.k.conv2d_backward_input(g.array, w.array, tuple(input_hw), *ctx.geom)

    @staticmethod
    def backward(ctx, gx):
        g, w = ctx.saved_tensors
        need_g, need_w = ctx.needs_input_grad[:2]
        # <gx, B(g, w)> = <conv2d(gx, w), g>: bilinear, so each gradient is the other factor.
        dg = _crop_to(Conv2d.apply(gx, w, None, *ctx.geom), g.shape[2:]) if need_g else None
        dw = Conv2dBackwardWeight.apply(gx, g, w.shape[2:], *ctx.geom) if need_w else None
        return dg, dw, None, None, None, None, None


class Conv2dBackwardWeight(Function):
    """W(x, g): the adjoint of conv2d in its weight."""

    @staticmethod
    def forward(ctx, x, g, kernel_hw, stride, padding, dilation, groups):
        ctx.save_for_backward(x, g)
        ctx.geom = (stride, padding, dilation, groups)
        return ctx.k.conv2d_backward_weight(x.array, g.array, tuple(kernel_hw), *ctx.geom)

    @staticmethod
    def backward(ctx, gw):
        x, g = ctx.saved_tensors
        need_x, need_g = ctx.needs_input_grad[:2]
        # <gw, W(x, g)> = <conv2d(x, gw), g>
        dx = Conv2dBackwardInput.apply(g, gw, x.shape[2:], *ctx.geom) if need_x else None
        dg = _crop_to(Conv2d.apply(x, gw, None, *ctx.geom), g.shape[2:]) if need_g else None
        return dx, dg, None, None, None, None, None


class Normalize(Function):
    """(y, mean, var) with y = (x - mean) / sqrt(var + eps) over ``axes`` (biased var).

    The batch/instance/layer/group norms are this op plus reshapes and an affine map.
    """

    @staticmethod
    def forward(ctx, x, axes, eps):
        ctx.save_outputs()
        ctx.axes, ctx.eps, ctx.shape = axes, eps, x.shape
        ctx.count = 1
        for a in axes:
            ctx.count *= x.shape[a]
        return ctx.k.normalize_forward(x.array, axes, eps)

    @staticmethod
    def backward(ctx, gy, gmean, gvar):
        y, _, var = ctx.saved_outputs
        axes, n = ctx.axes, ctx.count
        if gmean is None and gvar is None and not is_grad_enabled():
            # fused fast path: no graph is being built
            dx = ctx.k.normalize_backward(gy.array, y.array, var.array, axes, ctx.eps)
            return Tensor(dx, ctx.backend), None, None
        return _normalize_grad(gy, gmean, gvar, y, var, ctx.eps, axes, n), None, None


class ChannelAffine(Function):
    """y * weight[c] + bias[c] along axis 1: the affine map after batch/instance/group norm
    (weight or bias may be None). One fused kernel each way when no graph is being built;
    the composite formulas when one is, so a gradient penalty differentiates through it."""

    @staticmethod
    def forward(ctx, y, weight, bias):
        ctx.save_for_backward(y, weight)
        return ctx.k.channel_affine(y.array, None if weight is None else weight.array,
                                    None if bias is None else bias.array)

    @staticmethod
    def backward(ctx, g):
        y, weight = ctx.saved_tensors
        need_y, need_w, need_b = ctx.needs_input_grad[:3]
        if not is_grad_enabled():
            grads = ctx.k.channel_affine_backward(
                g.array, y.array, None if weight is None else weight.array,
                need_y, need_w, need_b)
            return tuple(None if a is None else Tensor(a, ctx.backend) for a in grads)
        axes = (0,) + tuple(range(2, y.ndim))
        view = (1, -1) + (1,) * (y.ndim - 2)
        gy = (g if weight is None else g * weight.reshape(view)) if need_y else None
        gw = (g * y).sum(axes) if need_w else None
        gb = g.sum(axes) if need_b else None
        return gy, gw, gb


class ChannelAffineAct(Function):
    """act(y * weight[c] + bias[c]) in one pass: a normalization's affine map and the
    activation after it (batch norm -> ReLU/LeakyReLU in a DCGAN). The backward is the
    activation's, from the output, then ChannelAffine's."""

    @staticmethod
    def forward(ctx, y, weight, bias, act):
        ctx.save_for_backward(y, weight)
        ctx.save_outputs()
        ctx.act = act
        return ctx.k.channel_affine(y.array, None if weight is None else weight.array,
                                    None if bias is None else bias.array, act)

    @staticmethod
    def backward(ctx, g):
        g = activation_grad(ctx, g, ctx.saved_outputs[0], ctx.act)
        return ChannelAffine.backward(ctx, g) + (None,)


class NormAffineAct(Function):
    """The fused batch, instance and group norm: statistics, normalize, affine map and
    activation in one kernel each way. Outputs (out, y, mean, var): out = act(y * w[p] +
    b[p]) the result, y = (x - mean) / sqrt(var + eps) the normalized input (an output so
    that the composite backward, which reads it, differentiates again), mean and biased var
    per group ((S,)). ``layout`` = (A, S, B, G, Cg, HW) views x as (A, S, B) with statistics
    per s and affine parameter p = (s % G) Cg + b // HW (kernels/include/minigan/norm.h).

    The backward is the fused ``norm_backward`` kernel when no graph is being built and only
    out has a gradient; otherwise the composite formulas of ChannelAffineAct (activation_grad
    and ChannelAffine's) and Normalize, on the (N, C, HW) and (A, S, B) views, so gradient
    penalties differentiate through a normalized discriminator."""

    @staticmethod
    def forward(ctx, x, weight, bias, layout, eps, act):
        if weight is None and bias is None and act is None:
            raise ValueError("NormAffineAct: nothing to apply after the normalization (out "
                             "would alias y); use Normalize")
        ctx.save_for_backward(weight)
        ctx.save_outputs()
        ctx.layout, ctx.eps, ctx.act, ctx.shape = tuple(layout), float(eps), act, x.shape
        return ctx.k.norm_forward(x.array, ctx.layout, None if weight is None else weight.array,
                                  None if bias is None else bias.array, ctx.eps, act)

    @staticmethod
    def backward(ctx, gout, gy, gmean, gvar):
        (weight,) = ctx.saved_tensors
        out, y, _, var = ctx.saved_outputs
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if gy is None and gmean is None and gvar is None and not is_grad_enabled():
            if gout is None:
                return None, None, None, None, None, None
            grads = ctx.k.norm_backward(gout.array, out.array, y.array, var.array,
                                        None if weight is None else weight.array, ctx.layout,
                                        ctx.eps, ctx.act, need_x, need_w, need_b)
            return tuple(None if a is None else Tensor(a, ctx.backend) for a in grads) + \
                (None, None, None)
        a, s, b, g, cg, hw = ctx.layout
        numel = 1
        for d in ctx.shape:
            numel *= d
        rows = (numel // (g * cg * hw), g * cg, hw)
        dy = gw = gb = None
        if gout is not None:
            dz = gout if ctx.act is None else activation_grad(ctx, gout, out, ctx.act)
            dz3 = dz.reshape(rows)
            if need_x:
                dy = dz3 if weight is None else dz3 * weight.reshape(1, -1, 1)
            gw = (dz3 * y.reshape(rows)).sum((0, 2)) if need_w else None
            gb = dz3.sum((0, 2)) if need_b else None
        dx = None
        if need_x:
            if gy is not None:
                dy = gy.reshape(rows) if dy is None else dy + gy.reshape(rows)
            dx = _normalize_grad(dy, gmean, gvar, y.reshape(a, s, b), var.reshape(1, s, 1),
                                 ctx.eps, (0, 2), a * b)
            dx = None if dx is None else dx.reshape(ctx.shape)
        return dx, gw, gb, None, None, None


def _normalize_grad(dy, gmean, gvar, y, var, eps, axes, n):
    """dx of y = normalize(x) over ``axes`` (n values per statistic) from the gradients of y,
    mean and var (each may be None): Normalize's composite formulas."""
    invstd = (var + eps) ** -0.5
    dx = None
    if dy is not None:
        dy = dy if dy.shape == y.shape else dy.reshape(y.shape)
        dx = invstd * (dy - dy.mean(axes, keepdim=True) - y * (dy * y).mean(axes, keepdim=True))
    if gmean is not None:
        gmean = gmean if gmean.shape == var.shape else gmean.reshape(var.shape)
        term = (gmean / n).expand(y.shape)
        dx = term if dx is None else dx + term
    if gvar is not None:
        gvar = gvar if gvar.shape == var.shape else gvar.reshape(var.shape)
        term = gvar * (2.0 / n) * y / invstd  # dvar/dx = 2 (x - mean) / n
        dx = term if dx is None else dx + term
    return dx


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        ctx.save_outputs()
        ctx.axis = axis
        return ctx.k.softmax(x.array, axis)

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved_outputs[0]
        return y * (g - (g * y).sum(ctx.axis, keepdim=True)), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, axis):
        ctx.save_outputs()
        ctx.axis = axis
        return ctx.k.log_softmax(x.array, axis)

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved_outputs[0]
        return g - y.exp() * g.sum(ctx.axis, keepdim=True), None


class AvgPool2d(Function):
    @staticmethod
    def forward(ctx, x, *params):
        ctx.hw, ctx.params = x.shape[2:], params
        return ctx.k.avg_pool2d_forward(x.array, *params)

    @staticmethod
    def backward(ctx, g):
        return (AvgPool2dBackward.apply(g, ctx.hw, *ctx.params),) + (None,) * len(ctx.params)


class AvgPool2dBackward(Function):
    """The adjoint of AvgPool2d (it is linear, so the pair closes under differentiation)."""

    @staticmethod
    def forward(ctx, g, hw, *params):
        ctx.params = params
        return ctx.k.avg_pool2d_backward(g.array, tuple(hw), *params)

    @staticmethod
    def backward(ctx, gg):
        return (AvgPool2d.apply(gg, *ctx.params), None) + (None,) * len(ctx.params)


class MaxPool2d(Function):
    """(values, flat H*W indices); the gradient flows to the selected positions."""

    differentiable_outputs = (0,)

    @staticmethod
    def forward(ctx, x, *params):
        values, indices = ctx.k.max_pool2d_forward(x.array, *params)
        ctx.hw, ctx.indices = x.shape[2:], indices
        return values, indices

    @staticmethod
    def backward(ctx, g, _g_indices=None):
        return (ScatterAddHW.apply(g, ctx.indices, ctx.hw),) + (None,) * 5


class TakeHW(Function):
    @staticmethod
    def forward(ctx, x, indices):
        ctx.hw, ctx.indices = x.shape[2:], indices
        return ctx.k.take_hw(x.array, indices)

    @staticmethod
    def backward(ctx, g):
        return ScatterAddHW.apply(g, ctx.indices, ctx.hw), None


class ScatterAddHW(Function):
    @staticmethod
    def forward(ctx, g, indices, hw):
        ctx.indices = indices
        return ctx.k.scatter_add_hw(g.array, indices, tuple(hw))

    @staticmethod
    def backward(ctx, gg):
        return TakeHW.apply(gg, ctx.indices), None, None


class PadConstant(Function):
    @staticmethod
    def forward(ctx, x, widths, value):
        ctx.index = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, x.shape))
        return ctx.k.pad_constant(x.array, widths, value)

    @staticmethod
    def backward(ctx, g):
        return GetItem.apply(g, ctx.index), None, None


_BCE_EPSILON = 9.999999960041972e-13  # torch's EPSILON is the float 1e-12f, even in float64


class BinaryCrossEntropy(Function):
    """Elementwise -(t log p + (1 - t) log(1 - p)), each log clamped at -100 (torch).

    The derivatives are torch's, written with minigan ops so they differentiate again:
    d/dp = (p - t) / max(p (1 - p), 1e-12f) stays finite at p = 0 or 1 (a saturated float32
    sigmoid), where the chain rule through the clamped logs gives inf * 0 = nan;
    d/dt = log(1 - p) - log(p), each clamped as in the value.
    """

    @staticmethod
    def forward(ctx, p, t):
        ctx.save_for_backward(p, t)
        k = ctx.k
        log_p = k.clip(k.log(p.array), -100.0, None)
        log_q = k.clip(k.log(k.add(k.neg(p.array), 1.0)), -100.0, None)
        return k.neg(k.add(k.mul(t.array, log_p), k.mul(k.add(k.neg(t.array), 1.0), log_q)))

    @staticmethod
    def backward(ctx, g):
        p, t = ctx.saved_tensors
        need_p, need_t = ctx.needs_input_grad
        gp = g * (p - t) / (p * (1 - p)).clamp(min=_BCE_EPSILON) if need_p else None
        gt = g * ((1 - p).log().clamp(min=-100.0) - p.log().clamp(min=-100.0)) \
            if need_t else None
        return gp, gt
