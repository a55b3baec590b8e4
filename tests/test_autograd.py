"""The autograd engine's semantics against torch.autograd: accumulation, retain_graph,
create_graph and higher orders, grad()'s options, grad mode, leaves, and tensor creation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import minigan
import minigan.functional as F
from tests.torch_ref import assert_close, check

RNG = np.random.default_rng(0)
X = RNG.uniform(-1.5, 1.5, (2, 3))
V = RNG.standard_normal((2, 3))


@pytest.fixture(autouse=True)
def _grad_mode_restored():
    """A failing grad-mode test must not leave grad mode off for the tests after it."""
    yield
    minigan.set_grad_enabled(True)


def pair(array, backend, requires_grad=True, dtype="float64"):
    """The same values as a minigan leaf and a torch leaf."""
    a = np.asarray(array, dtype=dtype)
    return (minigan.tensor(a, requires_grad=requires_grad, backend=backend),
            torch.tensor(a, requires_grad=requires_grad))


# --- .grad accumulation and backward() --------------------------------------------------------
def test_grad_accumulates_across_backward_calls(backend):
    m, t = pair(X, backend)
    for x in (m, t):
        (x * x).sum().backward()
        (x.tanh() * 3).sum().backward()
    assert_close(m.grad, t.grad, "float64", "accumulated .grad")
    assert m.grad.grad_fn is None and not m.grad.requires_grad


def test_backward_with_gradient_on_non_scalar(backend):
    m, t = pair(X, backend)
    (m * m.exp()).backward(minigan.tensor(V, backend=backend))
    (t * t.exp()).backward(torch.tensor(V))
    assert_close(m.grad, t.grad, "float64", "backward(gradient=...)")


def test_backward_implicit_gradient_needs_a_scalar(backend):
    m, _ = pair(X, backend)
    with pytest.raises(RuntimeError, match=r"implicitly created only for scalar.*\(2, 3\)"):
        (m * 2).backward()
    with pytest.raises(RuntimeError, match=r"gradient 0 has shape \(3,\) but output has shape"):
        (m * 2).backward(minigan.ones(3, dtype="float64", backend=backend))
    assert m.grad is None


def test_backward_of_a_tensor_without_graph_raises(backend):
    with pytest.raises(RuntimeError, match="does not require grad"):
        minigan.tensor(X, backend=backend).sum().backward()


def test_backward_inputs_only_accumulates_into_those(backend):
    (ma, ta), (mb, tb) = pair(X, backend), pair(V, backend)
    (ma * mb).sum().backward(inputs=[ma])
    (ta * tb).sum().backward(inputs=[ta])
    assert_close(ma.grad, ta.grad, "float64", "backward(inputs=[a])")
    assert mb.grad is None and tb.grad is None


# --- retain_graph -----------------------------------------------------------------------------
def test_second_backward_without_retain_graph_raises(backend):
    m, _ = pair(X, backend)
    y = (m.tanh() * m).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*"
                                           "retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward_that_accumulates(backend):
    m, t = pair(X, backend)
    ym, yt = (m.tanh() * m).sum(), (t.tanh() * t).sum()
    ym.backward(retain_graph=True)
    ym.backward()
    yt.backward(retain_graph=True)
    yt.backward()
    assert_close(m.grad, t.grad, "float64", "twice-accumulated .grad")
    assert_close(m.grad, 2 * (t.tanh() + t * (1 - t.tanh() ** 2)), "float64", "2 * dy/dx")


def test_grad_twice_on_the_same_graph_needs_retain_graph(backend):
    m, _ = pair(X, backend)
    y = (m.exp() * m).sum()
    (g1,) = minigan.grad(y, m, retain_graph=True)
    (g2,) = minigan.grad(y, m)
    assert_close(g1, g2, "float64", "grad with retain_graph")
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        minigan.grad(y, m)


# --- create_graph and higher orders -------------------------------------------------------------
def _poly_tanh(x):
    return (x ** 3 * 0.5 + (x * 2).tanh() * x - x.exp() * 0.25).sum()


def test_third_order_gradients_of_a_polynomial_tanh_chain(backend):
    m, t = pair(X, backend)
    gm, gt = _poly_tanh(m), _poly_tanh(t)
    for order in (1, 2, 3):
        (gm,) = minigan.grad(gm, m, create_graph=order < 3)
        (gt,) = torch.autograd.grad(gt, t, create_graph=order < 3)
        assert_close(gm, gt, "float64", f"order {order}")
        assert gm.requires_grad == (order < 3)
        gm, gt = gm.sum(), gt.sum()


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_backward_create_graph_leaves_differentiable_grads(backend):
    m, t = pair(X, backend)
    _poly_tanh(m).backward(create_graph=True)
    _poly_tanh(t).backward(create_graph=True)
    assert m.grad.requires_grad and m.grad.grad_fn is not None
    assert_close(m.grad, t.grad, "float64", "first order")
    (gm,) = minigan.grad((m.grad * m.grad).sum(), m)
    (gt,) = torch.autograd.grad((t.grad * t.grad).sum(), t)
    assert_close(gm, gt, "float64", "gradient of ||grad||^2")


def test_grad_without_create_graph_returns_constants(backend):
    m, _ = pair(X, backend)
    (g,) = minigan.grad((m ** 3).sum(), m)
    assert not g.requires_grad and g.grad_fn is None


# --- minigan.grad's options ---------------------------------------------------------------------
def test_grad_several_outputs_inputs_and_grad_outputs(backend):
    (ma, ta), (mb, tb) = pair(X, backend), pair(V, backend)
    w = RNG.standard_normal((2, 3)), RNG.standard_normal(3)
    outs_m = [ma * mb.tanh(), (ma.exp() - mb).sum(0)]
    outs_t = [ta * tb.tanh(), (ta.exp() - tb).sum(0)]
    gm = minigan.grad(outs_m, [ma, mb], [minigan.tensor(v, backend=backend) for v in w])
    gt = torch.autograd.grad(outs_t, [ta, tb], [torch.tensor(v) for v in w])
    for i, (a, b) in enumerate(zip(gm, gt)):
        assert_close(a, b, "float64", f"grad of input {i}")


def test_grad_outputs_count_must_match(backend):
    m, _ = pair(X, backend)
    with pytest.raises(ValueError, match="got 1 gradients for 2 outputs"):
        minigan.grad([m * 2, m * 3], m, [minigan.ones(2, 3, dtype="float64", backend=backend)])


def test_grad_allow_unused_and_materialize_grads(backend):
    (ma, ta), (mb, tb) = pair(X, backend), pair(V, backend)
    with pytest.raises(RuntimeError, match=r"input 1 \(shape \(2, 3\)\) was not used.*"
                                           "allow_unused=True"):
        minigan.grad((ma * 2).sum(), [ma, mb])
    ga, gb = minigan.grad((ma * 2).sum(), [ma, mb], allow_unused=True)
    assert gb is None and torch.autograd.grad((ta * 2).sum(), [ta, tb], allow_unused=True)[1] \
        is None
    assert_close(ga, np.full((2, 3), 2.0), "float64", "used input")
    ga, gb = minigan.grad((ma * 2).sum(), [ma, mb], materialize_grads=True)
    tga, tgb = torch.autograd.grad((ta * 2).sum(), [ta, tb], materialize_grads=True)
    assert_close(gb, tgb, "float64", "materialized unused gradient")
    assert gb.dtype == mb.dtype


def test_grad_with_respect_to_non_leaf_tensors(backend):
    (ma, ta), (mb, tb) = pair(X, backend), pair(V, backend)
    hm, ht = ma * mb, ta * tb
    ym, yt = (hm.tanh() * ma).sum(), (ht.tanh() * ta).sum()
    (gh,) = minigan.grad(ym, hm, retain_graph=True)
    assert_close(gh, torch.autograd.grad(yt, ht, retain_graph=True)[0], "float64", "d/dh alone")
    gm = minigan.grad(ym, [hm, ma, mb])
    gt = torch.autograd.grad(yt, [ht, ta, tb])
    for i, (a, b) in enumerate(zip(gm, gt)):
        assert_close(a, b, "float64", f"d/d input {i} (h, a, b)")


def test_grad_of_an_output_that_is_the_input(backend):
    m, _ = pair(X, backend)
    (g,) = minigan.grad(m, m, minigan.tensor(V, backend=backend))
    assert_close(g, V, "float64", "d x / d x")


def test_grad_does_not_touch_dot_grad_of_leaves(backend):
    (ma, _), (mb, _) = pair(X, backend), pair(V, backend)
    minigan.grad((ma * mb).sum(), [ma], create_graph=True)
    assert ma.grad is None and mb.grad is None
    ma.grad = minigan.ones(2, 3, dtype="float64", backend=backend)
    h = ma * mb
    h.retain_grad()
    minigan.grad((h * h).sum(), [ma, mb])
    assert_close(ma.grad, np.ones((2, 3)), "float64", "pre-existing .grad")
    assert mb.grad is None and h.grad is None


def test_grad_of_inputs_without_requires_grad_raises(backend):
    m, _ = pair(X, backend)
    with pytest.raises(RuntimeError, match="input 1 does not require grad"):
        minigan.grad((m * 2).sum(), [m, minigan.tensor(X, backend=backend)])


# --- only the needed part of the graph runs -----------------------------------------------------
@pytest.fixture
def kernel_calls(backend, monkeypatch):
    """Count calls of every kernel of the backend (patched on its table)."""
    be = minigan.get_backend(backend)
    counts: dict[str, int] = {}

    def counted(name, fn):
        def kernel(*args, **kwargs):
            counts[name] = counts.get(name, 0) + 1
            return fn(*args, **kwargs)
        return kernel

    for name in be.k.implemented():
        monkeypatch.setattr(be.k, name, counted(name, getattr(be.k, name)))
    return counts


def _conv_graph(backend):
    rng = np.random.default_rng(1)
    x = minigan.tensor(rng.standard_normal((2, 3, 5, 5)), requires_grad=True, backend=backend)
    w = minigan.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True, backend=backend)
    b = minigan.tensor(rng.standard_normal(4), requires_grad=True, backend=backend)
    return x, w, b, F.leaky_relu(F.conv2d(x, w, b, padding=1), 0.2).sum()


def test_grad_runs_only_the_part_of_the_graph_it_needs(backend, kernel_calls):
    x, w, b, y = _conv_graph(backend)
    minigan.grad(y, [x], retain_graph=True)
    assert kernel_calls.get("conv2d_backward_input") == 1
    assert "conv2d_backward_weight" not in kernel_calls
    minigan.grad(y, [w], retain_graph=True)
    assert kernel_calls.get("conv2d_backward_weight") == 1
    assert kernel_calls.get("conv2d_backward_input") == 1
    y.backward()  # the control: backward() computes all of them
    assert kernel_calls.get("conv2d_backward_input") == 2
    assert kernel_calls.get("conv2d_backward_weight") == 2


def test_gradient_penalty_grad_skips_weight_gradients(backend, kernel_calls):
    x, w, b, y = _conv_graph(backend)
    (g,) = minigan.grad(y, [x], create_graph=True)
    assert "conv2d_backward_weight" not in kernel_calls
    (g * g).sum().backward()  # the penalty's own backward does need them
    assert w.grad is not None
    assert kernel_calls.get("conv2d_backward_weight", 0) >= 1


# --- grad mode ----------------------------------------------------------------------------------
def _modes(lib):
    """is_grad_enabled along nested contexts and decorators, for minigan or torch."""
    seen = []

    @lib.no_grad()
    def off():
        seen.append(lib.is_grad_enabled())
        return on()

    @lib.enable_grad()
    def on():
        seen.append(lib.is_grad_enabled())

    @lib.set_grad_enabled(False)
    def set_off():
        seen.append(lib.is_grad_enabled())
        with lib.set_grad_enabled(True):
            seen.append(lib.is_grad_enabled())
        seen.append(lib.is_grad_enabled())

    seen.append(lib.is_grad_enabled())  # decorating does not change the mode
    with lib.no_grad():
        seen.append(lib.is_grad_enabled())
        with lib.enable_grad():
            seen.append(lib.is_grad_enabled())
            with lib.no_grad():
                seen.append(lib.is_grad_enabled())
            seen.append(lib.is_grad_enabled())
        seen.append(lib.is_grad_enabled())
        on()
        set_off()
    off()
    set_off()
    seen.append(lib.is_grad_enabled())
    return seen


def test_grad_mode_contexts_and_decorators_nest_like_torch():
    assert _modes(minigan) == _modes(torch)


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(KeyError):
        with minigan.no_grad():
            raise KeyError("x")
    assert minigan.is_grad_enabled()
    minigan.set_grad_enabled(False)  # a plain call sets the mode, as in torch
    assert not minigan.is_grad_enabled()
    minigan.set_grad_enabled(True)
    assert minigan.is_grad_enabled()


def test_no_grad_records_no_graph(backend):
    m, _ = pair(X, backend)
    with minigan.no_grad():
        y = m * 2
        with minigan.enable_grad():
            z = m * 2
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    assert z.requires_grad and z.grad_fn is not None


# --- leaves, detach, requires_grad_, retain_grad ------------------------------------------------
def _leaf_flags(lib, backend):
    kw = {"backend": backend} if lib is minigan else {}
    a = lib.tensor(X, requires_grad=True, **kw)
    c = lib.tensor(X, **kw)
    cases = [a, c, a * 2, c * 2, a.detach(), (a * 2).detach(), a.sum(), c + a]
    d = lib.tensor(X, **kw).requires_grad_()
    cases += [d, d.exp()]
    return [(t.is_leaf, t.requires_grad) for t in cases]


def test_is_leaf_and_requires_grad_match_torch(backend):
    assert _leaf_flags(minigan, backend) == _leaf_flags(torch, None)


def test_detach_shares_values_and_stops_gradients(backend):
    m, t = pair(X, backend)
    d = m.detach()
    assert not d.requires_grad and d.is_leaf
    assert_close(d, X, "float64", "detached values")
    (m * m.detach() * m.tanh().detach()).sum().backward()
    (t * t.detach() * t.tanh().detach()).sum().backward()
    assert_close(m.grad, t.grad, "float64", "gradient through a detached factor")


def test_requires_grad_(backend):
    m = minigan.tensor(X, backend=backend)
    assert m.requires_grad_() is m and m.requires_grad
    (m * 3).sum().backward()
    assert_close(m.grad, np.full((2, 3), 3.0), "float64", "grad of a requires_grad_() leaf")
    m.requires_grad_(False)
    assert not (m * 3).requires_grad
    with pytest.raises(RuntimeError, match="non-leaf"):
        (minigan.tensor(X, requires_grad=True, backend=backend) * 2).requires_grad_(False)


def test_retain_grad_on_non_leaf(backend):
    m, t = pair(X, backend)
    hm, ht = m.tanh(), t.tanh()
    km, kt = hm * 3, ht * 3
    hm.retain_grad()
    ht.retain_grad()
    m.retain_grad()  # a no-op on leaves
    (km * km).sum().backward()
    (kt * kt).sum().backward()
    assert_close(hm.grad, ht.grad, "float64", "retained non-leaf .grad")
    assert_close(m.grad, t.grad, "float64", "leaf .grad")
    assert km.grad is None and not hm.is_leaf


# --- graph shapes -------------------------------------------------------------------------------
def test_diamond_graph(backend, dtype):
    def diamond(lib):
        def f(a):
            b, c = a * 2, a.exp()
            d = b * c + b.tanh()
            return d * c
        return f
    check(diamond(minigan), diamond(torch), [X], backend=backend, dtype=dtype, what="diamond")


def test_tensor_used_many_times(backend, dtype):
    def many(x, y):
        out = x
        for i in range(6):
            out = out * x + y * (i + 1) - x.tanh()
        return out * x
    check(many, many, [X, V], backend=backend, dtype=dtype, what="reused tensor")


# --- a WGAN-GP step: double backward through conv2d + leaky_relu + linear -----------------------
def _critic_gp_step(lib, fn, params, real, fake, alpha):
    w1, b1, w2, b2 = params

    def critic(x):
        h = fn.leaky_relu(fn.conv2d(x, w1, b1, stride=2, padding=1), 0.2)
        return fn.linear(h.flatten(1), w2, b2)

    x_hat = (alpha * real + (1 - alpha) * fake).detach().requires_grad_()
    kw = {"create_graph": True}
    out = critic(x_hat)
    (g,) = (minigan.grad if lib is minigan else torch.autograd.grad)(out.sum(), x_hat, **kw)
    gp = ((g.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
    loss = critic(fake).mean() - critic(real).mean() + 10 * gp
    loss.backward()
    return [loss, g] + [p.grad for p in params]


def test_wgan_gp_double_backward_matches_torch(backend, dtype):
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal(s) * 0.3 for s in [(4, 3, 3, 3), (4,), (2, 36), (2,)]]
    real, fake = rng.standard_normal((3, 3, 6, 6)), rng.standard_normal((3, 3, 6, 6))
    alpha = rng.random((3, 1, 1, 1))
    m_params = [minigan.tensor(a.astype(dtype), requires_grad=True, backend=backend)
                for a in arrays]
    t_params = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]

    def m(a):
        return minigan.tensor(a.astype(dtype), backend=backend)

    def t(a):
        return torch.tensor(a.astype(dtype))

    ours = _critic_gp_step(minigan, F, m_params, m(real), m(fake), m(alpha))
    theirs = _critic_gp_step(torch, torch.nn.functional, t_params, t(real), t(fake), t(alpha))
    names = ["loss", "gradient w.r.t. x_hat", "w1.grad", "b1.grad", "w2.grad", "b2.grad"]
    for name, a, b in zip(names, ours, theirs):
        assert_close(a, b, dtype, f"WGAN-GP {name}")


# --- creation functions and dtype inference -----------------------------------------------------
CREATION_DATA = {
    "python float": 1.5, "python int": 3, "python bool": True, "mixed list": [1, 2.5],
    "int list": [[1, 2], [3, 4]], "float list": [[1.0], [2.0]], "bool list": [True, False],
    "float64 array": np.arange(3, dtype=np.float64),
    "float32 array": np.arange(3, dtype=np.float32),
    "float16 array": np.arange(3, dtype=np.float16),
    "int32 array": np.arange(3, dtype=np.int32), "int64 array": np.arange(3),
    "bool array": np.array([True, False]),
    "numpy float64 scalar": np.float64(2.5), "numpy int32 scalar": np.int32(3),
}


def _same_dtype(m, t) -> None:
    assert str(m.dtype) == str(t.dtype).removeprefix("torch."), f"{m.dtype} vs {t.dtype}"


def _same(m, t, what) -> None:
    _same_dtype(m, t)
    assert m.shape == tuple(t.shape), f"{what}: shape {m.shape} vs {tuple(t.shape)}"
    np.testing.assert_array_equal(m.numpy(), t.numpy(), err_msg=what)


@pytest.mark.parametrize("name", sorted(CREATION_DATA))
def test_tensor_infers_dtype_like_torch(name, backend):
    data = CREATION_DATA[name]
    _same(minigan.tensor(data, backend=backend), torch.tensor(data), name)


def test_tensor_copies_its_data(backend):
    a = np.ones(3)
    m = minigan.tensor(a, backend=backend)
    a[0] = 5
    assert m.tolist() == [1.0, 1.0, 1.0]


FACTORIES = {
    "zeros": (lambda lib, kw: lib.zeros(2, 3, **kw)),
    "zeros tuple": (lambda lib, kw: lib.zeros((2, 3), **kw)),
    "zeros float64": (lambda lib, kw: lib.zeros(4, dtype=lib.float64, **kw)),
    "ones": (lambda lib, kw: lib.ones(3, 1, **kw)),
    "ones int64": (lambda lib, kw: lib.ones(2, dtype=lib.int64, **kw)),
    "full float": (lambda lib, kw: lib.full((2, 2), 1.5, **kw)),
    "full int": (lambda lib, kw: lib.full((2,), 7, **kw)),
    "full bool": (lambda lib, kw: lib.full((2,), True, **kw)),
    "full dtype": (lambda lib, kw: lib.full((3,), 2, dtype=lib.float64, **kw)),
    "arange int": (lambda lib, kw: lib.arange(5, **kw)),
    "arange start step": (lambda lib, kw: lib.arange(1, 8, 3, **kw)),
    "arange float": (lambda lib, kw: lib.arange(0, 1, 0.25, **kw)),
    "arange float start": (lambda lib, kw: lib.arange(2.0, 5, **kw)),
    "arange dtype": (lambda lib, kw: lib.arange(4, dtype=lib.float64, **kw)),
    "zeros empty size": (lambda lib, kw: lib.zeros(0, 3, **kw)),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_factories_match_torch(name, backend):
    make = FACTORIES[name]
    _same(make(minigan, {"backend": backend}), make(torch, {}), name)


@pytest.mark.parametrize("like", ["zeros_like", "ones_like", "full_like", "randn_like",
                                  "rand_like"])
@pytest.mark.parametrize("dtype_", ["float64", "float32"])
def test_like_functions_keep_shape_and_dtype(like, dtype_, backend):
    args = (2.5,) if like == "full_like" else ()
    src = minigan.zeros(3, 2, dtype=dtype_, backend=backend)
    m = getattr(minigan, like)(src, *args)
    t = getattr(torch, like)(torch.zeros(3, 2, dtype=getattr(torch, dtype_)), *args)
    _same_dtype(m, t)
    assert m.shape == (3, 2) and m.backend == backend and not m.requires_grad
    if like in ("zeros_like", "ones_like", "full_like"):
        np.testing.assert_array_equal(m.numpy(), t.numpy())
    explicit = getattr(minigan, like)(src, *args, dtype=minigan.float64)
    assert explicit.dtype == np.float64


@pytest.mark.parametrize("fn", ["randn", "rand", "empty", "zeros", "ones"])
def test_shape_dtype_and_requires_grad_arguments(fn, backend):
    t = getattr(minigan, fn)(2, 3, dtype=minigan.float64, requires_grad=True, backend=backend)
    assert t.shape == (2, 3) and t.dtype == np.float64 and t.requires_grad and t.is_leaf
    assert getattr(minigan, fn)(4, backend=backend).dtype == np.float32


def test_random_values_have_the_right_distribution(backend):
    minigan.manual_seed(0)
    n = minigan.randn(20000, backend=backend).numpy()
    u = minigan.rand(20000, backend=backend).numpy()
    i = minigan.randint(3, 7, (20000,), backend=backend)
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1) < 0.05
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.02
    _same_dtype(i, torch.randint(3, 7, (2,)))
    assert set(np.unique(i.numpy())) == {3, 4, 5, 6}
    assert set(np.unique(minigan.randint(2, size=(100,), backend=backend).numpy())) == {0, 1}


def test_set_default_dtype_changes_float_inference(backend):
    try:
        minigan.set_default_dtype(minigan.float64)
        assert minigan.tensor(1.5, backend=backend).dtype == np.float64
        assert minigan.zeros(2, backend=backend).dtype == np.float64
        assert minigan.tensor(3, backend=backend).dtype == np.int64
    finally:
        minigan.set_default_dtype(minigan.float32)
    assert minigan.get_default_dtype() == np.float32


def _draws(backend):
    x = minigan.ones(50, backend=backend)
    return [minigan.randn(4, 3, backend=backend).numpy(), minigan.rand(5, backend=backend).numpy(),
            minigan.randint(0, 100, (6,), backend=backend).numpy(),
            F.dropout(x, 0.5).numpy()]


def test_manual_seed_reproduces_every_random_op(backend):
    minigan.manual_seed(1234)
    first = _draws(backend)
    minigan.manual_seed(1234)
    again = _draws(backend)
    minigan.manual_seed(4321)
    other = _draws(backend)
    for a, b, c in zip(first, again, other):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


# --- conversions --------------------------------------------------------------------------------
def test_item_numpy_tolist(backend):
    nested = [[1.5, -2.0], [3.25, 4.0]]
    m, t = minigan.tensor(nested, backend=backend), torch.tensor(nested)
    assert m.tolist() == t.tolist()
    assert minigan.tensor([[7]], backend=backend).item() == 7
    assert type(minigan.tensor(7, backend=backend).item()) is int
    assert type(m[1, 0].item()) is float and m[1, 0].item() == 3.25
    assert float(m[0, 1]) == -2.0 and int(minigan.tensor(3, backend=backend)) == 3
    np.testing.assert_array_equal(m.numpy(), t.numpy())
    assert m.numpy().dtype == np.float32
    with pytest.raises(ValueError, match=r"item\(\): tensor of shape \(2, 2\) has 4 elements"):
        m.item()
    r = minigan.tensor(nested, requires_grad=True, backend=backend)
    with pytest.raises(RuntimeError, match=r"requires grad.*detach\(\)\.numpy\(\)"):
        r.numpy()
    assert r.detach().numpy().tolist() == nested


@pytest.mark.parametrize("cast", ["float", "double", "to32", "to64"])
@pytest.mark.parametrize("src", ["float32", "float64"])
def test_casts_carry_gradients_back(cast, src, backend):
    def run(lib, x):
        if cast in ("float", "double"):
            y = getattr(x, cast)()
        else:
            y = x.to(getattr(lib, "float32" if cast == "to32" else "float64"))
        (y * y.tanh() * 3).sum().backward()
        return y

    m, t = pair(X, backend, dtype=src)
    ym, yt = run(minigan, m), run(torch, t)
    _same_dtype(ym, yt)
    _same_dtype(m.grad, t.grad)
    loose = "float32" if "float32" in (src, str(ym.dtype)) else "float64"
    assert_close(m.grad, t.grad, loose, f"{src} -> {cast} gradient")


def test_integer_casts_do_not_require_grad(backend):
    m, t = pair(X, backend)
    assert not t.long().requires_grad and not m.long().requires_grad
    assert m.long().is_leaf and t.long().is_leaf
    assert not (m > 0).requires_grad
    assert m.long().dtype == np.int64
    y = (m.long() * m).sum()  # the integer factor is a constant
    y.backward()
    assert_close(m.grad, np.trunc(X), "float64", "gradient past an integer cast")
