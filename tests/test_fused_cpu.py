"""The fused kernels of the compiled CPU extension (minigan.kernels._C) against torch.

These kernels run the per-element and per-row math of the shared host/device headers
(kernels/include/minigan/*.h) that the CUDA extension and the NVRTC kernels also call, so this
file is where that math is checked on a machine without a GPU:

- norm_forward / norm_backward (csrc/cpu/fused_norm.cpp): batch, instance and group norm with
  training statistics, the affine map and each activation, against torch's functional norms
  and autograd;
- adam_step / sgd_step / rmsprop_step (csrc/cpu/multi_tensor.cpp): several tensors of different
  sizes (one past a chunk boundary) over several steps, against torch.optim's single-tensor
  path, with per-tensor step counts (a parameter without a gradient skips a step, as torch
  skips it);
- penalty_forward / penalty_backward (csrc/cpu/penalty.cpp): the four penalty kinds on rows of
  a gradient, zero rows included, against torch's norm and autograd.

Tolerances: float64 to the helper's ~1e-10 (sums in double on both sides, different order).
float32 at a tenth of the helper's float32 tolerance (rtol 2e-5, atol 2e-6 of the largest
value): both sides round each element operation to float32 but in a different order (torch's
batch norm folds the statistics into one scale and shift, its vectorized loops fuse
multiply-adds), which leaves a few ulps, and torch sums its statistics in float32.
The optimizers' float32 trajectories are held to the helper's float32 tolerance, as
tests/test_optim.py explains (an ulp per operation per step, compounded over the steps).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st
from minigan.kernels import compiled
from minigan.kernels.numpy import optim

from tests.test_cpu_extension import assert_same_with_threads
from tests.torch_ref import assert_close

EXT = compiled.CPU
pytestmark = pytest.mark.skipif(EXT is None, reason="the compiled extension is not built here")

ACTS = {0: lambda t, s: t, 1: lambda t, s: torch.relu(t),
        2: lambda t, s: TF.leaky_relu(t, s), 3: lambda t, s: torch.tanh(t),
        4: lambda t, s: torch.sigmoid(t)}


def _scale(dtype: str) -> float:
    """float32 compared at a tenth of the helper's tolerance (see the module docstring)."""
    return 0.1 if dtype == "float32" else 1.0


# --- fused normalization --------------------------------------------------------------------
@st.composite
def norm_cases(draw):
    kind = draw(st.sampled_from(["batch", "instance", "group"]))
    groups = draw(st.integers(1, 3)) if kind == "group" else None
    c = groups * draw(st.integers(1, 3)) if kind == "group" else draw(st.integers(1, 4))
    # w >= 2: torch refuses one value per statistics group in training mode
    shape = (draw(st.integers(1, 3)), c, draw(st.integers(1, 3)), draw(st.integers(2, 4)))
    return dict(kind=kind, shape=shape, groups=groups, weight=draw(st.booleans()),
                bias=draw(st.booleans()), act=draw(st.integers(0, 4)),
                slope=draw(st.sampled_from([0.0, 0.2, 1.0]) | st.floats(0.0, 1.0)),
                eps=draw(st.sampled_from([1e-5, 1e-3, 0.5])), seed=draw(st.integers(0, 2**31)))


def _layout(case) -> tuple:
    n, c, h, w = case["shape"]
    hw = h * w
    if case["kind"] == "batch":
        return n, c, hw, c, 1, hw
    if case["kind"] == "instance":
        return 1, n * c, hw, c, 1, hw
    g = case["groups"]
    return 1, n * g, c // g * hw, g, c // g, hw


def _torch_norm(case, x, w, b):
    eps = case["eps"]
    if case["kind"] == "batch":
        return TF.batch_norm(x, None, None, w, b, training=True, eps=eps)
    if case["kind"] == "instance":
        return TF.instance_norm(x, weight=w, bias=b, eps=eps)
    return TF.group_norm(x, case["groups"], w, b, eps)


def _norm_arrays(case, dtype):
    rng = np.random.default_rng(case["seed"])
    shape, c = case["shape"], case["shape"][1]
    x = (rng.standard_normal(shape) * 3 + 5).astype(dtype)  # |mean| > std: the two passes
    g = rng.standard_normal(shape).astype(dtype)
    w = rng.uniform(-2, 2, c).astype(dtype) if case["weight"] else None
    b = rng.uniform(-2, 2, c).astype(dtype) if case["bias"] else None
    return x, g, w, b


def _forward(case, x, w, b, plain=False):
    a, s, _, _, _, _ = layout = _layout(case)
    y = np.empty_like(x)
    out = None if plain else np.empty_like(x)
    mean, var = np.empty(s, x.dtype), np.empty(s, x.dtype)
    EXT.norm_forward(x, out, y, mean, var, None if plain else w, None if plain else b, layout,
                     case["eps"], 0 if plain else case["act"], case["slope"])
    return out, y, mean, var


def _torch_forward(case, x, w, b):
    """torch's out with w, b as leaves (ones and zeros where the kernel has None)."""
    c = x.shape[1]
    tx = torch.from_numpy(x).requires_grad_()
    tw = (torch.from_numpy(w) if w is not None else torch.ones(c, dtype=tx.dtype)).requires_grad_()
    tb = (torch.from_numpy(b) if b is not None else torch.zeros(c, dtype=tx.dtype)).requires_grad_()
    out = ACTS[case["act"]](_torch_norm(case, tx, tw, tb), case["slope"])
    return out, (tx, tw, tb)


@given(case=norm_cases(), plain=st.booleans())
def test_norm_forward_matches_torch(dtype, case, plain):
    x, _, w, b = _norm_arrays(case, dtype)
    out, y, mean, var = _forward(case, x, w, b, plain)
    what = f"norm_forward {case} plain={plain}"
    a, s, bl = _layout(case)[:3]
    var_ref, mean_ref = torch.var_mean(torch.from_numpy(x).reshape(a, s, bl), (0, 2),
                                       correction=0)
    scale = _scale(dtype)
    assert_close(mean, mean_ref, dtype, f"{what}: mean", scale)
    assert_close(var, var_ref, dtype, f"{what}: var", scale)
    assert_close(y, _torch_norm(case, torch.from_numpy(x), None, None), dtype, f"{what}: y",
                 scale)
    if plain:
        assert out is None
    else:
        assert_close(out, _torch_forward(case, x, w, b)[0], dtype, f"{what}: out", scale)


WANTED = list(itertools.product([True, False], repeat=3))  # (dx, dweight, dbias)


def _check_backward(case, dtype, wanted, pass_out=True):
    x, g, w, b = _norm_arrays(case, dtype)
    out, y, _, var = _forward(case, x, w, b)
    ref_out, leaves = _torch_forward(case, x, w, b)
    expected = torch.autograd.grad(ref_out, leaves, torch.from_numpy(g))
    c = x.shape[1]
    grads = [np.full(x.shape, np.nan, x.dtype) if wanted[0] else None,
             *(np.full(c, np.nan, x.dtype) if want else None for want in wanted[1:])]
    EXT.norm_backward(g, out if pass_out else None, y, var, w, *grads, _layout(case),
                      case["eps"], case["act"], case["slope"])
    what = f"norm_backward {case} wanted {wanted}"
    for name, ours, ref in zip(("dx", "dweight", "dbias"), grads, expected):
        if ours is not None:
            assert_close(ours, ref, dtype, f"{what}: {name}", _scale(dtype))


@given(case=norm_cases(), wanted=st.sampled_from(WANTED))
def test_norm_backward_matches_torch(dtype, case, wanted):
    """dweight, dbias without weight, bias are the gradients at weight 1, bias 0."""
    _check_backward(case, dtype, wanted, pass_out=case["act"] != 0 or case["seed"] % 2 == 0)


@pytest.mark.parametrize("wanted", WANTED)
@pytest.mark.parametrize("kind, act", [("batch", 1), ("instance", 2), ("group", 4)])
def test_norm_backward_each_output_alone(wanted, kind, act):
    case = dict(kind=kind, shape=(2, 6, 2, 3), groups=3 if kind == "group" else None,
                weight=True, bias=True, act=act, slope=0.1, eps=1e-5, seed=11)
    _check_backward(case, "float64", wanted)


def test_norm_threads_do_not_change_results():
    """Threads split whole statistics groups, and the parameter gradients add the groups'
    sums in group order: results are the same bit for bit. (Large enough to split.)"""
    case = dict(kind="instance", shape=(8, 16, 16, 16), groups=None, weight=True, bias=True,
                act=2, slope=0.2, eps=1e-5, seed=3)
    x, g, w, b = _norm_arrays(case, "float32")

    def run():
        out, y, mean, var = _forward(case, x, w, b)
        grads = [np.empty_like(x), np.empty(16, x.dtype), np.empty(16, x.dtype)]
        EXT.norm_backward(g, out, y, var, w, *grads, _layout(case), 1e-5, 2, 0.2)
        return out, y, mean, var, *grads
    assert_same_with_threads(run)


# --- multi-tensor optimizers ----------------------------------------------------------------
SHAPES = [(3, 4), (5,), (2, 3, 2, 2), (40,)]
CHUNKED = SHAPES + [(66_000,)]  # the last spans two of the kernel's chunks of 65536
STEPS = 6


def _grad_sequence(shapes, dtype, seed):
    """Per step, a gradient per tensor (an all-zero one now and then) or None: tensor 1 has
    none every third step, so the tensors' step counts differ."""
    rng = np.random.default_rng(seed)
    sequence = []
    for step in range(STEPS):
        scale = 10.0 ** rng.uniform(-1, 1)
        grads = [(rng.standard_normal(s) * scale).astype(dtype) for s in shapes]
        if step % 4 == 1:
            grads[0][...] = 0
        if step % 3 == 2:
            grads[1] = None
        sequence.append(grads)
    return sequence


def _side_by_side(opt, tparams, params, dtype, seed, step_fn, state_names):
    shapes = [p.shape for p in params]
    """Steps torch's optimizer and ``step_fn(active, grads)`` through one gradient sequence;
    after each step compares every parameter and every state array (``state_names``: our
    list of arrays per torch state key)."""
    for step, grads in enumerate(_grad_sequence(shapes, dtype, seed), 1):
        for t, gr in zip(tparams, grads):
            t.grad = None if gr is None else torch.from_numpy(gr.copy())
        opt.step()
        active = [i for i, gr in enumerate(grads) if gr is not None]
        step_fn(active, [grads[i] for i in active])
        for i, (p, t) in enumerate(zip(params, tparams)):
            assert_close(p, t, dtype, f"parameter {i} after step {step}")
            for key, arrays in state_names.items():
                if arrays is not None and t in opt.state:
                    assert_close(arrays[i], opt.state[t][key], dtype,
                                 f"state {key} of parameter {i} after step {step}")


def _start(shapes, dtype, seed):
    rng = np.random.default_rng(seed + 1)
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    return params, [torch.from_numpy(p.copy()).requires_grad_() for p in params]


def _zeros(params):
    return [np.zeros_like(p) for p in params]


@given(lr=st.floats(1e-4, 0.1), beta1=st.sampled_from([0.0, 0.9]) | st.floats(0.0, 0.99),
       beta2=st.sampled_from([0.999]) | st.floats(0.5, 0.9999),
       eps=st.sampled_from([1e-8, 1e-3]), weight_decay=st.just(0.0) | st.floats(0.0, 0.1),
       amsgrad=st.booleans(), maximize=st.booleans(), decoupled=st.booleans(),
       seed=st.integers(0, 2**16))
def test_adam_step_matches_torch(dtype, lr, beta1, beta2, eps, weight_decay, amsgrad,
                                 maximize, decoupled, seed):
    _check_adam(SHAPES, dtype, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize,
                decoupled, seed)


def _check_adam(shapes, dtype, lr, beta1, beta2, eps, weight_decay, amsgrad, maximize,
                decoupled, seed):
    params, tparams = _start(shapes, dtype, seed)
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    opt = cls(tparams, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay,
              amsgrad=amsgrad, maximize=maximize, foreach=False)
    m, v, vmax, count = _zeros(params), _zeros(params), _zeros(params), [0] * len(params)

    def step(active, grads):
        for i in active:
            count[i] += 1
        EXT.adam_step([params[i] for i in active], grads, [m[i] for i in active],
                      [v[i] for i in active], [vmax[i] if amsgrad else None for i in active],
                      [count[i] for i in active], lr, beta1, beta2, eps, weight_decay, amsgrad,
                      maximize, decoupled)
    _side_by_side(opt, tparams, params, dtype, seed, step,
                  {"exp_avg": m, "exp_avg_sq": v, "max_exp_avg_sq": vmax if amsgrad else None})


@st.composite
def sgd_hyper(draw):
    nesterov = draw(st.booleans())
    momentum = draw(st.floats(0.1, 0.95) if nesterov else st.just(0.0) | st.floats(0.0, 0.95))
    return dict(lr=draw(st.floats(1e-4, 0.1)), momentum=momentum,
                dampening=0.0 if nesterov else draw(st.just(0.0) | st.floats(0.0, 0.9)),
                weight_decay=draw(st.just(0.0) | st.floats(0.0, 0.1)), nesterov=nesterov,
                maximize=draw(st.booleans()))


@given(hyper=sgd_hyper(), seed=st.integers(0, 2**16))
def test_sgd_step_matches_torch(dtype, hyper, seed):
    _check_sgd(SHAPES, dtype, hyper, seed)


def _check_sgd(shapes, dtype, hyper, seed):
    params, tparams = _start(shapes, dtype, seed)
    opt = torch.optim.SGD(tparams, foreach=False, **hyper)
    momentum = hyper["momentum"]
    bufs, count = _zeros(params), [0] * len(params)

    def step(active, grads):
        fresh = [count[i] == 0 for i in active]
        for i in active:
            count[i] += 1
        EXT.sgd_step([params[i] for i in active], grads,
                     [bufs[i] if momentum != 0 else None for i in active], fresh, hyper["lr"],
                     momentum, hyper["dampening"], hyper["weight_decay"], hyper["nesterov"],
                     hyper["maximize"])
    _side_by_side(opt, tparams, params, dtype, seed, step,
                  {"momentum_buffer": bufs if momentum != 0 else None})


@given(lr=st.floats(1e-4, 0.05), alpha=st.floats(0.5, 0.999),
       eps=st.sampled_from([1e-8, 1e-3]) | st.floats(1e-10, 1e-2),
       weight_decay=st.just(0.0) | st.floats(0.0, 0.1),
       momentum=st.just(0.0) | st.floats(0.0, 0.9), centered=st.booleans(),
       maximize=st.booleans(), seed=st.integers(0, 2**16))
def test_rmsprop_step_matches_torch(dtype, lr, alpha, eps, weight_decay, momentum, centered,
                                    maximize, seed):
    _check_rmsprop(SHAPES, dtype, lr, alpha, eps, weight_decay, momentum, centered, maximize,
                   seed)


def _check_rmsprop(shapes, dtype, lr, alpha, eps, weight_decay, momentum, centered, maximize,
                   seed):
    params, tparams = _start(shapes, dtype, seed)
    opt = torch.optim.RMSprop(tparams, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                              momentum=momentum, centered=centered, maximize=maximize,
                              foreach=False)
    sq, avg, bufs = _zeros(params), _zeros(params), _zeros(params)

    def step(active, grads):
        EXT.rmsprop_step([params[i] for i in active], grads, [sq[i] for i in active],
                         [avg[i] if centered else None for i in active],
                         [bufs[i] if momentum > 0 else None for i in active], lr, alpha, eps,
                         weight_decay, momentum, centered, maximize)
    _side_by_side(opt, tparams, params, dtype, seed, step,
                  {"square_avg": sq, "grad_avg": avg if centered else None,
                   "momentum_buffer": bufs if momentum > 0 else None})


def test_tensors_of_several_chunks_match_torch(dtype):
    """A tensor longer than the kernel's chunk (its chunks are cut per tensor, the list of
    chunks split across threads), beside small ones, for each optimizer."""
    _check_adam(CHUNKED, dtype, 1e-3, 0.9, 0.999, 1e-8, 0.01, True, False, True, 1)
    _check_sgd(CHUNKED, dtype, dict(lr=0.01, momentum=0.9, dampening=0.0, weight_decay=1e-3,
                                    nesterov=True, maximize=True), 2)
    _check_rmsprop(CHUNKED, dtype, 1e-3, 0.9, 1e-8, 0.01, 0.5, True, False, 3)


def _numpy_module_adam(params, grads, states, steps):
    optim.adam_step(params, grads, *states, steps, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
                    weight_decay=0.01, amsgrad=True, maximize=False,
                    decoupled_weight_decay=False)


def test_numpy_optim_uses_the_extension_and_agrees_with_its_loop(monkeypatch):
    """kernels/numpy/optim.py takes the multi-tensor path for contiguous arrays of one dtype
    (a broadcast, read-only gradient included): the same operations as its numpy loop, so
    float64 agrees with it to the last bits; it keeps the loop for a non-contiguous parameter.
    (Adam takes it only where the extension's loops are vectorized; the spy says they are.)"""
    rng = np.random.default_rng(4)
    start = [rng.standard_normal(s) for s in SHAPES]
    grads = [rng.standard_normal(s) for s in SHAPES[:-1]] + [np.broadcast_to(0.5, SHAPES[-1])]
    calls = []
    monkeypatch.setattr(compiled, "CPU", type("Spy", (), {
        "OPTIMIZERS_VECTORIZED": True,
        "adam_step": staticmethod(lambda *a: (calls.append(1), EXT.adam_step(*a)))}))
    results = []
    for use in (True, False):
        if not use:
            monkeypatch.setattr(compiled, "CPU", None)
        params = [p.copy() for p in start]
        states = [_zeros(params), _zeros(params), _zeros(params)]
        for step in (1, 2, 3):
            _numpy_module_adam(params, grads, states, [float(step)] * len(params))
        results.append(params)
    assert len(calls) == 3
    for ours, loop in zip(*results):
        assert_close(ours, loop, "float64", "extension vs numpy loop", scale=1e-3)
    monkeypatch.setattr(compiled, "CPU", type("Spy", (), {"OPTIMIZERS_VECTORIZED": True,
                                                         "adam_step": None}))
    strided = np.zeros((4, 6))[:, ::2]
    _numpy_module_adam([strided], [np.ones((4, 3))], [[np.zeros((4, 3))] for _ in range(3)], [1.0])
    assert (strided != 0).all()  # the loop ran (the spy would have raised)


def test_sgd_takes_the_extension_and_adam_only_when_vectorized(monkeypatch):
    seen = []

    class Spy:
        OPTIMIZERS_VECTORIZED = False

        def sgd_step(self, *a):
            seen.append("sgd")
            EXT.sgd_step(*a)

        def adam_step(self, *a):
            seen.append("adam")
            EXT.adam_step(*a)
    monkeypatch.setattr(compiled, "CPU", Spy())
    p, g = [np.ones(3)], [np.ones(3)]
    optim.sgd_step(p, g, [None], [False], lr=0.1, momentum=0.0, dampening=0.0,
                   weight_decay=0.0, nesterov=False, maximize=False)
    _numpy_module_adam(p, g, [[np.zeros(3)] for _ in range(3)], [1.0])
    Spy.OPTIMIZERS_VECTORIZED = True
    _numpy_module_adam(p, g, [[np.zeros(3)] for _ in range(3)], [1.0])
    assert seen == ["sgd", "adam"]


def test_optimizer_threads_do_not_change_results():
    rng = np.random.default_rng(8)
    start = [rng.standard_normal(s).astype(np.float32) for s in [(300_000,), (7,), (70_000,)]]
    grads = [rng.standard_normal(p.shape).astype(np.float32) for p in start]

    def run():
        params = [p.copy() for p in start]
        states = [_zeros(params), _zeros(params)]
        EXT.adam_step(params, grads, *states, [None] * 3, [1, 2, 3], 1e-3, 0.9, 0.999, 1e-8,
                      0.0, False, False, False)
        return params + states[0] + states[1]
    assert_same_with_threads(run)


# --- gradient penalties ---------------------------------------------------------------------
@given(shape=st.tuples(st.integers(1, 5), st.integers(1, 3), st.integers(1, 4),
                       st.integers(1, 4)),
       kind=st.integers(0, 3), center=st.sampled_from([0.0, 1.0]) | st.floats(0.1, 3.0),
       power=st.sampled_from([2.0, 6.0]) | st.floats(1.1, 8.0), zero_rows=st.integers(0, 2),
       seed=st.integers(0, 2**31))
def test_penalty_matches_torch(dtype, shape, kind, center, power, zero_rows, seed):
    """Rows of zeros: the norm's gradient there is 0 (torch masks 0/0); power > 1 keeps
    WGAN-div's 0 ** (p - 1) finite, as it is used."""
    rng = np.random.default_rng(seed)
    g = (rng.standard_normal(shape) * rng.uniform(0.1, 2.0, (shape[0], 1, 1, 1))).astype(dtype)
    g[:zero_rows] = 0
    upstream = rng.standard_normal(shape[0]).astype(dtype)
    n = shape[0]
    sq, pen = np.empty(n, dtype), np.empty(n, dtype)
    EXT.penalty_forward(g, sq, pen, kind, center, power)
    dg = np.full_like(g, np.nan)
    EXT.penalty_backward(g, sq, upstream, dg, kind, center, power)

    tg = torch.from_numpy(g).requires_grad_()
    rows = tg.flatten(1)
    norm = rows.norm(2, dim=1)
    ref = [(norm - center) ** 2, torch.clamp(norm - center, min=0) ** 2, rows.pow(2).sum(1),
           norm ** power][kind]
    (dg_ref,) = torch.autograd.grad(ref, tg, torch.from_numpy(upstream))
    what = f"penalty kind {kind} center {center} power {power} shape {shape}"
    scale = _scale(dtype)
    assert_close(sq, rows.pow(2).sum(1), dtype, f"{what}: sq_norms", scale)
    assert_close(pen, ref, dtype, f"{what}: penalty", scale)
    assert_close(dg, dg_ref, dtype, f"{what}: dg", scale)
    if zero_rows:
        assert (dg[:zero_rows] == 0).all()


# --- argument checks ------------------------------------------------------------------------
F64, F32 = np.float64, np.float32
L = (2, 3, 4, 3, 1, 4)  # batch norm of (2, 3, 2, 2)


def z(*shape, dtype=F64):
    return np.zeros(shape, dtype)


@pytest.mark.parametrize("call, message", [
    (lambda: EXT.norm_forward(z(2, 3, 4), z(2, 3, 4), z(2, 3, 4), z(2), z(3), None, None, L,
                              1e-5, 0, 0.0),
     r"norm_forward: mean has shape \(2,\) \(2 elements\), expected 3 elements"),
    (lambda: EXT.norm_forward(z(2, 3, 4), z(2, 3, 4), z(2, 3, 4), z(3), z(3), z(3, dtype=F32),
                              None, L, 1e-5, 0, 0.0),
     r"norm_forward: weight has dtype float32, expected float64"),
    (lambda: EXT.norm_forward(z(24, dtype=np.int64), None, z(24), z(3), z(3), None, None, L,
                              1e-5, 0, 0.0),
     r"norm_forward: x must be float32 or float64, got int64"),
    (lambda: EXT.norm_forward(z(24), None, z(24), z(3), z(3), None, None, (2, 3, 4, 3, 2, 4),
                              1e-5, 0, 0.0),
     r"norm_forward: layout \(2, 3, 4, 3, 2, 4\): b must be cg \* hw"),
    (lambda: EXT.norm_forward(z(24), None, z(24), z(3), z(3), z(3), None, L, 1e-5, 0, 0.0),
     r"norm_forward: weight, bias and act apply to out"),
    (lambda: EXT.norm_forward(z(24), z(24), z(24), z(3), z(3), None, None, L, 1e-5, 7, 0.0),
     r"norm_forward: act must be 0 \(none\)"),
    (lambda: EXT.norm_forward(z(24), z(24), np.zeros(48)[::2], z(3), z(3), None, None, L, 1e-5,
                              0, 0.0),
     r"norm_forward: y must be C-contiguous"),
    (lambda: EXT.norm_backward(z(24), None, z(24), z(3), None, z(24), None, None, L, 1e-5, 1,
                               0.0),
     r"norm_backward: out is needed for the gradient of the activation \(act 1\)"),
    (lambda: EXT.norm_backward(z(24), None, z(24), z(3), None, None, None, z(4), L, 1e-5, 0,
                               0.0),
     r"norm_backward: dbias has shape \(4,\) \(4 elements\), expected 3 elements"),
    (lambda: EXT.norm_backward(z(24), None, z(24, dtype=F32), z(3), None, None, None, None, L,
                               1e-5, 0, 0.0),
     r"norm_backward: y has dtype float32, expected float64"),
    (lambda: EXT.adam_step([z(3), z(4)], [z(3), z(5)], [z(3), z(4)], [z(3), z(4)],
                           [None, None], [1, 1], 1e-3, 0.9, 0.999, 1e-8, 0.0, False, False,
                           False),
     r"adam_step: grads\[1\] has shape \(5,\) \(5 elements\), expected 4 elements"),
    (lambda: EXT.adam_step([z(3), z(4, dtype=F32)], [z(3), z(4)], [z(3), z(4)], [z(3), z(4)],
                           [None, None], [1, 1], 1e-3, 0.9, 0.999, 1e-8, 0.0, False, False,
                           False),
     r"adam_step: params\[1\] has dtype float32, expected float64"),
    (lambda: EXT.adam_step([z(3)], [z(3)], [z(3)], [z(3)], [None], [1], 1e-3, 0.9, 0.999, 1e-8,
                           0.0, True, False, False),
     r"adam_step: max_exp_avg_sqs\[0\] must be a numpy array"),
    (lambda: EXT.adam_step([z(3)], [z(3)], [z(3), z(3)], [z(3)], [None], [1], 1e-3, 0.9, 0.999,
                           1e-8, 0.0, False, False, False),
     r"adam_step: exp_avgs has 2 entries, params has 1"),
    (lambda: EXT.adam_step([z(3)], [z(3)], [z(3)], [z(3)], [None], [0], 1e-3, 0.9, 0.999, 1e-8,
                           0.0, False, False, False),
     r"adam_step: steps\[0\] must be >= 1, got 0"),
    (lambda: EXT.adam_step([z(3, dtype=np.int32)], [z(3)], [z(3)], [z(3)], [None], [1], 1e-3,
                           0.9, 0.999, 1e-8, 0.0, False, False, False),
     r"adam_step: params\[0\] must be float32 or float64, got int32"),
    (lambda: EXT.sgd_step([z(3)], [z(3)], [None], [True], 0.1, 0.9, 0.0, 0.0, False, False),
     r"sgd_step: momentum_buffers\[0\] must be a numpy array"),
    (lambda: EXT.sgd_step([z(3)], [z(3, dtype=F32)], [None], [False], 0.1, 0.0, 0.0, 0.0, False,
                          False),
     r"sgd_step: grads\[0\] has dtype float32, expected float64"),
    (lambda: EXT.rmsprop_step([z(3)], [z(3)], [z(3)], [None], [None], 0.01, 0.99, 1e-8, 0.0,
                              0.0, True, False),
     r"rmsprop_step: grad_avgs\[0\] must be a numpy array"),
    (lambda: EXT.rmsprop_step([z(3)], [z(3)], [z(2)], [None], [None], 0.01, 0.99, 1e-8, 0.0,
                              0.0, False, False),
     r"rmsprop_step: square_avgs\[0\] has shape \(2,\) \(2 elements\), expected 3 elements"),
    (lambda: EXT.penalty_forward(z(4, 5), z(4), z(3), 0, 1.0, 2.0),
     r"penalty_forward: penalty has shape \(3,\) \(3 elements\), expected 4 elements"),
    (lambda: EXT.penalty_forward(z(4, 5), z(4), z(4), 4, 1.0, 2.0),
     r"penalty_forward: kind must be 0 \(two-sided\)"),
    (lambda: EXT.penalty_forward(z(4, 5, dtype=F32), z(4), z(4), 0, 1.0, 2.0),
     r"penalty_forward: sq_norms has dtype float64, expected float32"),
    (lambda: EXT.penalty_backward(z(4, 5), z(4), z(4), z(5, 4).T, 0, 1.0, 2.0),
     r"penalty_backward: dg must be C-contiguous"),
    (lambda: EXT.penalty_backward(z(4, 5), z(4), z(2), z(4, 5), 2, 1.0, 2.0),
     r"penalty_backward: upstream has shape \(2,\) \(2 elements\), expected 4 elements"),
])
def test_fused_kernels_reject_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_read_only_outputs_are_rejected():
    p = z(3)
    p.flags.writeable = False
    with pytest.raises(ValueError, match=r"sgd_step: params\[0\] must be writeable"):
        EXT.sgd_step([p], [z(3)], [None], [False], 0.1, 0.0, 0.0, 0.0, False, False)
