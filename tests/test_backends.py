"""The kernel registry: every backend implements every kernel, and each kernel, called
directly on backend arrays, matches its torch equivalent (values and dtype)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch.optim.adam import adam as torch_adam
from torch.optim.rmsprop import rmsprop as torch_rmsprop
from torch.optim.sgd import sgd as torch_sgd

import minigan
from minigan.backends import KERNELS, KernelTable, MissingKernelError
from tests.torch_ref import assert_close

R = np.random.default_rng(0)
A = R.uniform(-2, 2, (3, 4))
A_TIES = np.where(R.random((3, 4)) < 0.4, A, np.round(A))  # ties with round(A) and zeros
ROUND = np.round(A)
B = R.uniform(-2, 2, 4)
POS = R.uniform(0.2, 2, (3, 4))
X3 = R.standard_normal((2, 3, 4))
X4 = R.standard_normal((2, 4, 8, 6))
W4 = R.standard_normal((6, 2, 3, 2))
CONV = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
G4 = R.standard_normal((2, 6, 4, 8))  # conv2d(X4, W4, **CONV)'s output shape
IDX = np.array([[2, 0], [1, 2], [2, 2]])  # repeated indices: adjoints must accumulate
HW_IDX = R.integers(0, 48, (2, 4, 3, 3))
POOL_X = R.standard_normal((2, 3, 5, 7))


def _grad(fn, x, g):
    """torch's vector-Jacobian product: the reference for adjoint kernels."""
    x = x.detach().requires_grad_()
    return torch.autograd.grad(fn(x), x, g)[0]


def _bn(x, eps=1e-3):
    return TF.batch_norm(x, None, None, training=True, eps=eps)


def _normalize_backward(k, m, t):
    x, g = t(X4 * 3 + 5), t(R.standard_normal(X4.shape))
    y, var = _bn(x), torch.var_mean(x, (0, 2, 3), correction=0, keepdim=True)[0]
    ours = k.normalize_backward(m(g.numpy()), m(y.numpy()), m(var.numpy()), (0, 2, 3), 1e-3)
    return ours, _grad(_bn, x, g)


def _running_stats_update(k, m, t):
    """Against torch's own update inside F.batch_norm(training=True)."""
    x = t(X4 * 3 + 5)
    var, mean = torch.var_mean(x, (0, 2, 3), correction=0)
    count = X4.size // X4.shape[1]
    pairs = []
    for which in ("both", "mean", "var"):
        start_m, start_v = R.standard_normal(4), R.uniform(0.5, 2, 4)
        ours_m = m(start_m) if which != "var" else None
        ours_v = m(start_v) if which != "mean" else None
        k.running_stats_update(ours_m, ours_v, m(mean.numpy()), m(var.numpy()), 0.3,
                               count / (count - 1))
        rm, rv = t(start_m), t(start_v)
        TF.batch_norm(x, rm, rv, training=True, momentum=0.3)
        pairs += [(ours_m, rm)] if ours_m is not None else []
        pairs += [(ours_v, rv)] if ours_v is not None else []
    return pairs


def _channel_affine(k, m, t):
    w, b = R.uniform(-2, 2, 4), R.uniform(-2, 2, 4)
    view = (1, -1, 1, 1)
    affine = t(X4) * t(w).reshape(view) + t(b).reshape(view)
    return [(k.channel_affine(m(X4), m(w), m(b)), affine),
            (k.channel_affine(m(X4), None, m(b)), t(X4) + t(b).reshape(view)),
            (k.channel_affine(m(X4[:, :, 0]), m(w), None), t(X4[:, :, 0]) * t(w).reshape(1, -1, 1)),
            *[(k.channel_affine(m(X4), m(w), m(b), act), _torch_act(affine, act)) for act in ACTS],
            (k.channel_affine(m(X4), None, None, ACTS[0]), _torch_act(t(X4), ACTS[0]))]


# the fused activations (conv2d_forward's epilogue, channel_affine), as the kernels take them
ACTS = (("leaky_relu", 0.2), ("relu", 0.0), ("tanh", 0.0), ("sigmoid", 0.0), ("leaky_relu", 0.0))


def _torch_act(x, act):
    name, slope = act
    return TF.leaky_relu(x, slope) if name == "leaky_relu" else getattr(torch, name)(x)


def _conv_act(k, m, t):
    """conv2d_forward with each activation of its epilogue: stride/dilation/groups with a
    bias, and a 1x1-output ("dense") layer."""
    b = B[:3].repeat(2)
    out = TF.conv2d(t(X4), t(W4), t(b), **CONV)
    dense = TF.conv2d(t(X4), t(X4[:3, :, :, :]), None)
    conv_acts = [a for a in ACTS if a[0] in ("relu", "leaky_relu")]  # the epilogue's
    return [*[(k.conv2d_forward(m(X4), m(W4), m(b), *CONV.values(), act), _torch_act(out, act))
              for act in conv_acts],
            (k.conv2d_forward(m(X4), m(X4[:3]), None, (1, 1), (0, 0), (1, 1), 1, ACTS[0]),
             _torch_act(dense, ACTS[0]))]


def _channel_affine_backward(k, m, t):
    w, b, g = R.uniform(-2, 2, 4), R.uniform(-2, 2, 4), R.standard_normal(X4.shape)
    y, tw, tb = t(X4).requires_grad_(), t(w).requires_grad_(), t(b).requires_grad_()
    out = y * tw.reshape(1, -1, 1, 1) + tb.reshape(1, -1, 1, 1)
    expected = torch.autograd.grad(out, (y, tw, tb), t(g))
    full = k.channel_affine_backward(m(g), m(X4), m(w), True, True, True)
    only_w = k.channel_affine_backward(m(g), m(X4), None, False, True, False)
    assert only_w[0] is None and only_w[2] is None
    return [(full, expected), (only_w[1], expected[1])]


# the fused normalization's layouts (kernels/include/minigan/norm.h) for X4 (2, 4, 8, 6):
# (A, S, B, G, Cg, HW)
NORM_LAYOUTS = {"batch": (2, 4, 48, 4, 1, 48), "instance": (1, 8, 48, 4, 1, 48),
                "group": (1, 4, 96, 2, 2, 48)}


def _torch_norm(x, kind, w=None, b=None, eps=1e-3):
    """(out before the activation, y, mean, var) of a torch batch/instance/group norm."""
    if kind == "batch":
        out = TF.batch_norm(x, None, None, w, b, training=True, eps=eps)
        y = TF.batch_norm(x, None, None, training=True, eps=eps)
        var, mean = torch.var_mean(x, (0, 2, 3), correction=0)
    elif kind == "instance":
        out, y = TF.instance_norm(x, weight=w, bias=b, eps=eps), TF.instance_norm(x, eps=eps)
        var, mean = torch.var_mean(x, (2, 3), correction=0)
    else:
        out, y = TF.group_norm(x, 2, w, b, eps), TF.group_norm(x, 2, eps=eps)
        var, mean = torch.var_mean(x.reshape(2, 2, -1), 2, correction=0)
    return out, y, mean.reshape(-1), var.reshape(-1)


def _norm_forward(k, m, t):
    w, b = R.uniform(-2, 2, 4), R.uniform(-2, 2, 4)
    x = X4 * 3 + 5
    pairs = []
    for (kind, layout), act in zip(NORM_LAYOUTS.items(), (ACTS[0], ACTS[2], ACTS[3])):
        out, y, mean, var = _torch_norm(t(x), kind, t(w), t(b))
        pairs.append((k.norm_forward(m(x), layout, m(w), m(b), 1e-3, act),
                      (_torch_act(out, act), y, mean, var)))
    out, y, mean, var = _torch_norm(t(x), "group", t(w))
    pairs.append((k.norm_forward(m(x), NORM_LAYOUTS["group"], m(w), None, 1e-3, ACTS[1]),
                  (_torch_act(out, ACTS[1]), y, mean, var)))
    _, y, mean, var = _torch_norm(t(x), "instance")
    pairs.append((k.norm_forward(m(x), NORM_LAYOUTS["instance"], None, None, 1e-3, None),
                  (y, y, mean, var)))
    return pairs


def _norm_backward(k, m, t):
    w, b, g = R.uniform(-2, 2, 4), R.uniform(-2, 2, 4), R.standard_normal(X4.shape)
    x = X4 * 3 + 5
    pairs = []
    for (kind, layout), act in zip(NORM_LAYOUTS.items(), (ACTS[0], ACTS[2], ACTS[3])):
        tx, tw, tb = (t(v).requires_grad_() for v in (x, w, b))
        out, y, _, var = _torch_norm(tx, kind, tw, tb)
        out = _torch_act(out, act)
        expected = torch.autograd.grad(out, (tx, tw, tb), t(g))
        arrays = [m(v.detach().numpy()) for v in (out, y, var)]
        full = k.norm_backward(m(g), *arrays, m(w), layout, 1e-3, act, True, True, True)
        pairs.append((full, expected))
        only_w = k.norm_backward(m(g), *arrays, m(w), layout, 1e-3, act, False, True, False)
        assert only_w[0] is None and only_w[2] is None
        pairs.append((only_w[1], expected[1]))
    tx = t(x).requires_grad_()
    out, y, _, var = _torch_norm(tx, "batch")
    out = _torch_act(out, ACTS[1])
    expected = torch.autograd.grad(out, tx, t(g))[0]
    arrays = [m(v.detach().numpy()) for v in (out, y, var)]
    dx = k.norm_backward(m(g), *arrays, None, NORM_LAYOUTS["batch"], 1e-3, ACTS[1], True, False,
                         False)
    assert dx[1] is None and dx[2] is None
    pairs.append((dx[0], expected))
    return pairs


# per-sample gradient penalties: rows of norm 0, below and above center 1
PEN_G = np.concatenate([np.zeros((1, 5)), R.standard_normal((3, 5)) * [[0.1], [0.5], [1.0]]])
PEN_KINDS = {"two-sided": lambda n, sq: (n - 1.0) ** 2,
             "one-sided": lambda n, sq: torch.relu(n - 1.0) ** 2,
             "squared": lambda n, sq: sq, "power": lambda n, sq: sq ** 3.0}


def _torch_penalty(g, kind):
    return PEN_KINDS[kind](g.norm(2, dim=1), (g * g).sum(1))


def _penalty_forward(k, m, t):
    return [(k.penalty_forward(m(PEN_G), kind, 1.0, 6.0),
             ((t(PEN_G) * t(PEN_G)).sum(1), _torch_penalty(t(PEN_G), kind)))
            for kind in PEN_KINDS]


def _penalty_backward(k, m, t):
    up = R.standard_normal(len(PEN_G))
    pairs = []
    for kind in PEN_KINDS:
        g = t(PEN_G).requires_grad_()
        expected = torch.autograd.grad(_torch_penalty(g, kind), g, t(up))[0]
        sq = m((PEN_G * PEN_G).sum(1))
        pairs.append((k.penalty_backward(m(PEN_G), sq, m(up), kind, 1.0, 6.0), expected))
    return pairs


def _avg_pool_cases(k, m, t):
    pairs = []
    for args in [((3, 2), (2, 2), (1, 1), True, False, None), ((2, 3), (1, 2), (0, 1), False,
                                                                True, 5)]:
        kernel, stride, padding, ceil, include, div = args
        pairs.append((k.avg_pool2d_forward(m(POOL_X), *args),
                      TF.avg_pool2d(t(POOL_X), kernel, stride, padding, ceil, include, div)))
    return pairs


def _avg_pool_backward(k, m, t):
    args = ((3, 2), (2, 2), (1, 1), True, False, None)
    x = t(POOL_X)
    y = TF.avg_pool2d(x, *args[:5])
    g = torch.randn(y.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(0))
    return k.avg_pool2d_backward(m(g.numpy()), (5, 7), *args), \
        _grad(lambda v: TF.avg_pool2d(v, *args[:5]), x, g)


def _index_add(k, m, t):
    g = R.standard_normal((2,) + IDX.shape + (3,))
    expected = torch.zeros(2, 4, 3, dtype=t(g).dtype).index_add_(
        1, torch.from_numpy(IDX.ravel()), t(g).reshape(2, -1, 3))
    return k.index_add(m(g), 1, m(IDX), 4), expected


def _scatter_add_hw(k, m, t):
    g = R.standard_normal(HW_IDX.shape)
    expected = torch.zeros(2, 4, 48, dtype=t(g).dtype).scatter_add_(
        2, torch.from_numpy(HW_IDX).flatten(2), t(g).flatten(2)).reshape(2, 4, 8, 6)
    return k.scatter_add_hw(m(g), m(HW_IDX), (8, 6)), expected


def _slice_backward(k, m, t):
    index = (slice(1, None), None, slice(None, None, 2), 3)
    g = R.standard_normal((1, 1, 2))
    expected = torch.zeros(2, 3, 4, dtype=t(g).dtype)
    expected[index[0], index[2], index[3]] = t(g)[:, 0]
    return k.slice_backward(m(g), index, (2, 3, 4)), expected


# Optimizer kernels update in place: a case returns the updated arrays, against torch's
# functional optimizers (torch.optim's sgd, adam, rmsprop) run on the same values. Each call
# updates two tensors from non-zero state; each case row is one hyper-parameter setting.
OPT_PARAM, OPT_GRADS = A, (X3[0], X3[1])
OPT_STATE = (X3[1] * 0.1, POS * 0.01, POS * 0.02)  # SGD: buffer; Adam: the three moments


def _opt_lists(make, state):
    """[params, grads, *state] for the two tensors, as the per-field lists kernels take."""
    rows = [[make(x) for x in (OPT_PARAM, g, *state)] for g in OPT_GRADS]
    return [list(field) for field in zip(*rows)]


def _updated(fields):
    """The arrays a kernel updates, per tensor: every field but the gradients."""
    return [tuple(f[i] for j, f in enumerate(fields) if j != 1) for i in range(len(fields[0]))]


def _sgd_step(k, m, t):
    pairs = []
    for hyper in (dict(momentum=0.9, dampening=0.2, nesterov=False, maximize=True),
                  dict(momentum=0.5, dampening=0.0, nesterov=True, maximize=False),
                  dict(momentum=0.0, dampening=0.0, nesterov=False, maximize=False)):
        ours, theirs = _opt_lists(m, OPT_STATE[:1]), _opt_lists(t, OPT_STATE[:1])
        ours[2][1], theirs[2][1] = m(np.zeros_like(A)), None  # tensor 1's buffer is new
        k.sgd_step(*ours, [False, True], lr=0.1, weight_decay=0.01, **hyper)
        torch_sgd(*theirs, foreach=False, lr=0.1, weight_decay=0.01, **hyper)
        if hyper["momentum"] == 0:  # no buffers: compare the parameters
            ours, theirs = ours[:2], theirs[:2]
        pairs += list(zip(_updated(ours), _updated(theirs)))
    return pairs


def _adam_step(k, m, t):
    pairs = []
    for amsgrad, decoupled, maximize in ((False, False, False), (True, True, True)):
        hyper = dict(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1,
                     amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=decoupled)
        ours, theirs = _opt_lists(m, OPT_STATE), _opt_lists(t, OPT_STATE)
        k.adam_step(*ours, [3.0, 1.0], **hyper)
        # torch counts this step itself: 2 -> 3 and 0 -> 1
        torch_adam(*theirs, [torch.tensor(2.0), torch.tensor(0.0)], foreach=False, **hyper)
        pairs += list(zip(_updated(ours), _updated(theirs)))
    return pairs


def _rmsprop_step(k, m, t):
    pairs = []
    state = (POS, X3[1] * 0.1, X3[0] * 0.1)  # square_avg > grad_avg^2: positive variance
    for centered, momentum in ((False, 0.0), (True, 0.9)):
        hyper = dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=momentum,
                     centered=centered, maximize=centered)
        ours, theirs = _opt_lists(m, state), _opt_lists(t, state)
        k.rmsprop_step(*ours, **hyper)
        torch_rmsprop(*theirs, [torch.tensor(0.0), torch.tensor(0.0)], foreach=False, **hyper)
        pairs += list(zip(_updated(ours), _updated(theirs)))
    return pairs


# kernel name -> f(k, m, t) returning (ours, torch's) or a list of such pairs, where k is the
# backend's kernel table, m(x) x as a backend array and t(x) x as a torch tensor (floating x
# cast to the dtype under test in both).
CASES = {
    "add": lambda k, m, t: (k.add(m(A), m(B)), t(A) + t(B)),
    "sub": lambda k, m, t: (k.sub(m(B), m(A)), t(B) - t(A)),
    "mul": lambda k, m, t: (k.mul(m(A), m(X3[:, :1, :])), t(A) * t(X3[:, :1, :])),
    "div": lambda k, m, t: (k.div(m(A), m(POS)), t(A) / t(POS)),
    "neg": lambda k, m, t: (k.neg(m(A)), -t(A)),
    "pow": lambda k, m, t: (k.pow(m(POS), m(A)), t(POS) ** t(A)),
    "pow_scalar": lambda k, m, t: [(k.pow_scalar(m(POS), 2.5), t(POS) ** 2.5),
                                   (k.pow_scalar(m(A), 3.0), t(A) ** 3.0),
                                   (k.pow_scalar(m(POS), -0.5), t(POS) ** -0.5)],
    "exp": lambda k, m, t: (k.exp(m(A)), t(A).exp()),
    "log": lambda k, m, t: (k.log(m(POS)), t(POS).log()),
    "sqrt": lambda k, m, t: (k.sqrt(m(POS)), t(POS).sqrt()),
    "abs": lambda k, m, t: (k.abs(m(A)), t(A).abs()),
    "sign": lambda k, m, t: (k.sign(m(A_TIES)), t(A_TIES).sign()),
    "tanh": lambda k, m, t: (k.tanh(m(A * 5)), t(A * 5).tanh()),
    "sigmoid": lambda k, m, t: (k.sigmoid(m(A * 500)), t(A * 500).sigmoid()),
    "softplus": lambda k, m, t: (k.softplus(m(A * 4), 2.0, 5.0), TF.softplus(t(A * 4), 2.0, 5.0)),
    "maximum": lambda k, m, t: (k.maximum(m(A_TIES), m(ROUND)), torch.maximum(t(A_TIES),
                                                                              t(ROUND))),
    "minimum": lambda k, m, t: (k.minimum(m(A_TIES), m(ROUND)), torch.minimum(t(A_TIES),
                                                                              t(ROUND))),
    "clip": lambda k, m, t: [(k.clip(m(A), -1.0, 0.5), t(A).clamp(-1.0, 0.5)),
                             (k.clip(m(A), None, 0.5), t(A).clamp(max=0.5)),
                             (k.clip(m(A), -0.25, None), t(A).clamp(min=-0.25))],
    "where": lambda k, m, t: (k.where(m(A > 0), m(A), m(B)), torch.where(t(A > 0), t(A), t(B))),
    "eq": lambda k, m, t: (k.eq(m(A_TIES), m(ROUND)), t(A_TIES) == t(ROUND)),
    "ne": lambda k, m, t: (k.ne(m(A_TIES), m(ROUND)), t(A_TIES) != t(ROUND)),
    "lt": lambda k, m, t: (k.lt(m(A_TIES), m(ROUND)), t(A_TIES) < t(ROUND)),
    "le": lambda k, m, t: (k.le(m(A_TIES), m(ROUND)), t(A_TIES) <= t(ROUND)),
    "gt": lambda k, m, t: (k.gt(m(A_TIES), 0), t(A_TIES) > 0),
    "ge": lambda k, m, t: (k.ge(m(A_TIES), m(ROUND)), t(A_TIES) >= t(ROUND)),
    "logical_and": lambda k, m, t: (k.logical_and(m(A > 0), m(B > 0)),
                                    torch.logical_and(t(A > 0), t(B > 0))),
    "sum": lambda k, m, t: [(k.sum(m(X3), (0, 2), True), t(X3).sum((0, 2), keepdim=True)),
                            (k.sum(m(X3), (0, 1, 2), False), t(X3).sum())],
    "amax": lambda k, m, t: (k.amax(m(X3), (1,), False), t(X3).amax(1)),
    "amin": lambda k, m, t: (k.amin(m(X3), (0, 2), True), t(X3).amin((0, 2), keepdim=True)),
    "max_dim": lambda k, m, t: [(k.max_dim(m(ROUND), 1, False), t(ROUND).max(1)),
                                (k.max_dim(m(X3), 0, True), t(X3).max(0, keepdim=True))],
    "min_dim": lambda k, m, t: [(k.min_dim(m(ROUND), 0, False), t(ROUND).min(0)),
                                (k.min_dim(m(X3), 2, True), t(X3).min(2, keepdim=True))],
    "reshape": lambda k, m, t: (k.reshape(m(A), (2, 6)), t(A).reshape(2, 6)),
    "permute": lambda k, m, t: (k.permute(m(X3), (2, 0, 1)), t(X3).permute(2, 0, 1)),
    "broadcast_to": lambda k, m, t: (k.broadcast_to(m(B), (2, 3, 4)),
                                     torch.broadcast_to(t(B), (2, 3, 4))),
    "getitem": lambda k, m, t: (k.getitem(m(X3), (slice(1, None), slice(None, None, 2), None, 3)),
                                t(X3)[1:, ::2, None, 3]),
    "slice_backward": _slice_backward,
    "index_select": lambda k, m, t: (k.index_select(m(X3), 2, m(IDX)),
                                     t(X3).index_select(2, torch.from_numpy(IDX.ravel()))
                                     .reshape(2, 3, 3, 2)),
    "index_add": _index_add,
    "pad_constant": lambda k, m, t: (k.pad_constant(m(X3), ((0, 0), (1, 2), (2, 0)), 0.5),
                                     TF.pad(t(X3), (2, 0, 1, 2), value=0.5)),
    "concat": lambda k, m, t: (k.concat([m(A), m(POS), m(A[:1])], 0),
                               torch.cat([t(A), t(POS), t(A[:1])], 0)),
    "astype": lambda k, m, t: [(k.astype(m(A), np.dtype(np.int64)), t(A).to(torch.int64)),
                               (k.astype(m(A > 0), m(A).dtype), t(A > 0).to(t(A).dtype)),
                               (k.astype(m(A), np.dtype(np.float64)), t(A).double())],
    "one_hot": lambda k, m, t: (k.one_hot(m(IDX), 3, 1, m(A).dtype),
                                TF.one_hot(t(IDX), 3).movedim(-1, 1).to(t(A).dtype)),
    "contiguous": lambda k, m, t: (k.contiguous(k.permute(m(X3), (2, 0, 1))),
                                   t(X3).permute(2, 0, 1).contiguous()),
    "matmul": lambda k, m, t: [(k.matmul(m(X4[:, :1, :3, :4]), m(X4[:3, 0, :4, :2])),
                                t(X4[:, :1, :3, :4]) @ t(X4[:3, 0, :4, :2])),
                               (k.matmul(m(A), m(A.T)), t(A) @ t(A.T))],
    "conv2d_forward": lambda k, m, t: [
        (k.conv2d_forward(m(X4), m(W4), m(B[:3].repeat(2)), *CONV.values()),
         TF.conv2d(t(X4), t(W4), t(B[:3].repeat(2)), **CONV)),
        (k.conv2d_forward(m(X4), m(W4[:, :, :2]), None, (1, 1), (0, 0), (2, 1), 2),
         TF.conv2d(t(X4), t(W4[:, :, :2]), None, 1, 0, (2, 1), 2)),
        *_conv_act(k, m, t)],
    "conv2d_backward_input": lambda k, m, t: (
        k.conv2d_backward_input(m(G4), m(W4), (8, 6), *CONV.values()),
        torch.nn.grad.conv2d_input(X4.shape, t(W4), t(G4), **CONV)),
    "conv2d_backward_weight": lambda k, m, t: (
        k.conv2d_backward_weight(m(X4), m(G4), (3, 2), *CONV.values()),
        torch.nn.grad.conv2d_weight(t(X4), W4.shape, t(G4), **CONV)),
    "normalize_forward": lambda k, m, t: (
        k.normalize_forward(m(X4 * 3 + 5), (0, 2, 3), 1e-3),
        (_bn(t(X4 * 3 + 5)),) + torch.var_mean(t(X4 * 3 + 5), (0, 2, 3), correction=0,
                                               keepdim=True)[::-1]),
    "normalize_backward": _normalize_backward,
    "channel_affine": _channel_affine, "channel_affine_backward": _channel_affine_backward,
    "norm_forward": _norm_forward, "norm_backward": _norm_backward,
    "penalty_forward": _penalty_forward, "penalty_backward": _penalty_backward,
    "softmax": lambda k, m, t: (k.softmax(m(X3 * 30), 1), torch.softmax(t(X3 * 30), 1)),
    "log_softmax": lambda k, m, t: (k.log_softmax(m(X3 * 30), 2),
                                    torch.log_softmax(t(X3 * 30), 2)),
    "avg_pool2d_forward": _avg_pool_cases,
    "avg_pool2d_backward": _avg_pool_backward,
    "max_pool2d_forward": lambda k, m, t: [
        (k.max_pool2d_forward(m(POOL_X), (3, 2), (2, 2), (1, 1), (1, 2), True),
         TF.max_pool2d(t(POOL_X), (3, 2), (2, 2), (1, 1), (1, 2), True, return_indices=True)),
        (k.max_pool2d_forward(m(np.round(POOL_X)), (2, 2), (1, 1), (0, 0), (1, 1), False),
         TF.max_pool2d(t(np.round(POOL_X)), 2, 1, return_indices=True))],
    "take_hw": lambda k, m, t: (k.take_hw(m(X4), m(HW_IDX)),
                                t(X4).flatten(2).gather(2, torch.from_numpy(HW_IDX).flatten(2))
                                .reshape(HW_IDX.shape)),
    "scatter_add_hw": _scatter_add_hw,
    "running_stats_update": _running_stats_update,
    "sgd_step": _sgd_step, "adam_step": _adam_step, "rmsprop_step": _rmsprop_step,
}


def test_every_kernel_has_a_torch_comparison():
    assert not sorted(set(KERNELS) - set(CASES)), "kernels without a case in CASES"
    assert not sorted(set(CASES) - set(KERNELS)), "CASES entries for kernels that do not exist"


def test_backend_implements_every_kernel(backend):
    be = minigan.get_backend(backend)
    missing = [name for name in KERNELS if name not in be.k.implemented()]
    assert not missing, f"backend {backend!r} lacks kernels {missing}"
    for name in KERNELS:
        assert callable(getattr(be.k, name))


def test_kernel_table_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"backend 'toy' registers unknown kernels "
                                         r"\['conv3d', 'fft'\]"):
        KernelTable("toy", {"add": np.add, "fft": np.fft.fft, "conv3d": np.add})
    table = KernelTable("toy", {"add": np.add})
    assert table.implemented() == ["add"]
    with pytest.raises(MissingKernelError, match="backend 'toy' has no kernel 'sub'"):
        table.sub  # noqa: B018
    with pytest.raises(AttributeError, match="'fft' is not a minigan kernel"):
        table.fft  # noqa: B018


def _pairs(result) -> list:
    return result if isinstance(result, list) else [result]


def _outputs(x) -> list:
    return list(x) if isinstance(x, tuple) else [x]


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_matches_torch(name, backend, dtype):
    assert name in CASES, f"kernel {name!r} has no torch comparison in tests/test_backends.py"
    be = minigan.get_backend(backend)

    def cast(x):
        x = np.asarray(x)
        return x.astype(dtype) if x.dtype.kind == "f" else x

    def m(x):
        return be.asarray(cast(x))

    def t(x):
        return torch.from_numpy(np.array(cast(x)))

    # The numpy kernels stay finite. Triton kernels compute both sides of a select in every
    # lane (SIMT), and the interpreter runs that arithmetic in numpy, so they are exempt.
    finite = np.errstate(over="raise", invalid="raise", divide="raise") \
        if backend == "numpy" else contextlib.nullcontext()
    with finite:
        results = _pairs(CASES[name](be.k, m, t))
    for i, (ours, theirs) in enumerate(results):
        ours, theirs = _outputs(ours), _outputs(theirs)
        assert len(ours) == len(theirs), f"{name} case {i}: {len(ours)} outputs vs {len(theirs)}"
        for j, (o, e) in enumerate(zip(ours, theirs)):
            what = f"{name} case {i} output {j}"
            o = be.to_numpy(be.wrap(o))
            assert str(o.dtype) == str(e.dtype).removeprefix("torch."), \
                f"{what}: dtype {o.dtype} vs torch's {e.dtype}"
            if e.is_floating_point():
                assert_close(o, e, dtype, what)
            else:
                np.testing.assert_array_equal(o, e.numpy(), err_msg=what)
