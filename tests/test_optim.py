"""minigan.optim against torch.optim: the same initial parameters and the same gradient
sequence (drawn with numpy, fed to both) give the same trajectory step after step; state_dicts
move both ways mid-run; learning-rate schedulers match torch's step by step.

The reference is torch's single-tensor CPU path (foreach=False), whose operation order the
numpy kernels follow. float64 agrees to rounding (the helper's ~1e-10). float32 is held to the
helper's float32 tolerance: torch's vectorized loops fuse multiply-adds and its float32 sqrt
is not correctly rounded, so each step differs by about an ulp.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minigan
import minigan.functional as F
from minigan.optim import lr_scheduler as sched
from tests.torch_ref import assert_close

SHAPES = [(3, 4), (5,), (2, 3, 2, 2)]
STEPS = 50


# --- side-by-side runs --------------------------------------------------------------------
def _initial(shapes, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


def _gradients(shapes, steps: int, seed: int) -> list[list]:
    """Per step, one gradient per parameter: normal draws at a scale that changes from step
    to step, an all-zero gradient now and then, and None (no update, as torch skips it) for
    parameter 1 every fifth step."""
    rng = np.random.default_rng(seed + 1)
    sequence = []
    for step in range(steps):
        scale = 10.0 ** rng.uniform(-1, 1)
        grads = [rng.standard_normal(s) * scale for s in shapes]
        if step % 7 == 3:
            grads[0] = np.zeros(shapes[0])
        if step % 5 == 2 and len(grads) > 1:
            grads[1] = None
        sequence.append(grads)
    return sequence


def _tensors(arrays, dtype: str, backend: str):
    ours = [minigan.tensor(a.astype(dtype), requires_grad=True, backend=backend) for a in arrays]
    theirs = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    return ours, theirs


def _set_minigan_grads(params, grads, dtype: str, backend: str) -> None:
    for p, g in zip(params, grads):
        p.grad = None if g is None else minigan.tensor(g.astype(dtype), backend=backend)


def _set_torch_grads(params, grads, dtype: str) -> None:
    for p, g in zip(params, grads):
        p.grad = None if g is None else torch.tensor(g.astype(dtype))


def _set_grads(ours, theirs, grads, dtype: str, backend: str) -> None:
    _set_minigan_grads(ours, grads, dtype, backend)
    _set_torch_grads(theirs, grads, dtype)


def _optimizers(name: str, ours, theirs, **hyper):
    """The same optimizer in both libraries; torch on its single-tensor path."""
    return (getattr(minigan.optim, name)(ours, **hyper),
            getattr(torch.optim, name)(theirs, foreach=False, **hyper))


def _run(opts, ours, theirs, grad_sequence, dtype: str, backend: str, what: str) -> None:
    """Step both optimizers through the gradient sequence, comparing every parameter after
    every step."""
    for step, grads in enumerate(grad_sequence, 1):
        _set_grads(ours, theirs, grads, dtype, backend)
        opts[0].step()
        opts[1].step()
        for i, (p, q) in enumerate(zip(ours, theirs)):
            assert_close(p, q, dtype, f"{what}: parameter {i} after step {step}")


def _check_trajectory(name: str, hyper: dict, dtype: str, backend: str, seed: int = 0) -> None:
    ours, theirs = _tensors(_initial(SHAPES, seed), dtype, backend)
    opts = _optimizers(name, ours, theirs, **hyper)
    _run(opts, ours, theirs, _gradients(SHAPES, STEPS, seed), dtype, backend, f"{name}{hyper}")
    _check_state(opts[0].state_dict(), opts[1].state_dict(), dtype, name)


def _check_state(ours: dict, theirs: dict, dtype: str, what: str) -> None:
    assert sorted(ours["state"]) == sorted(theirs["state"]), f"{what}: state indices"
    for i, expected in theirs["state"].items():
        assert list(ours["state"][i]) == list(expected), f"{what}: state keys of parameter {i}"
        for key, value in expected.items():
            assert_close(ours["state"][i][key], value, dtype, f"{what}: state {i} {key}")


# --- hyper-parameters drawn by hypothesis ---------------------------------------------------
def _maybe_zero(strategy):
    return st.just(0.0) | strategy


@st.composite
def sgd_hyper(draw) -> dict:
    nesterov = draw(st.booleans())
    momentum = draw(st.floats(0.1, 0.95) if nesterov else _maybe_zero(st.floats(0.0, 0.95)))
    return dict(lr=draw(st.floats(1e-4, 0.1)), momentum=momentum,
                dampening=0.0 if nesterov else draw(_maybe_zero(st.floats(0.0, 0.9))),
                weight_decay=draw(_maybe_zero(st.floats(0.0, 0.1))), nesterov=nesterov,
                maximize=draw(st.booleans()))


@st.composite
def adam_hyper(draw) -> dict:
    return dict(lr=draw(st.floats(1e-4, 0.1)),
                betas=(draw(st.sampled_from([0.0, 0.5, 0.9]) | st.floats(0.0, 0.99)),
                       draw(st.sampled_from([0.9, 0.999]) | st.floats(0.5, 0.9999))),
                eps=draw(st.sampled_from([1e-8, 1e-3]) | st.floats(1e-10, 1e-2)),
                weight_decay=draw(_maybe_zero(st.floats(0.0, 0.1))),
                amsgrad=draw(st.booleans()), maximize=draw(st.booleans()))


@st.composite
def rmsprop_hyper(draw) -> dict:
    return dict(lr=draw(st.floats(1e-4, 0.05)), alpha=draw(st.floats(0.5, 0.999)),
                eps=draw(st.sampled_from([1e-8, 1e-3]) | st.floats(1e-10, 1e-2)),
                weight_decay=draw(_maybe_zero(st.floats(0.0, 0.1))),
                momentum=draw(_maybe_zero(st.floats(0.0, 0.9))),
                centered=draw(st.booleans()), maximize=draw(st.booleans()))


@given(hyper=sgd_hyper(), seed=st.integers(0, 2**16))
def test_sgd_trajectory_matches_torch(hyper, seed, backend, dtype):
    _check_trajectory("SGD", hyper, dtype, backend, seed)


@given(hyper=adam_hyper(), name=st.sampled_from(["Adam", "AdamW"]), seed=st.integers(0, 2**16))
def test_adam_trajectory_matches_torch(hyper, name, seed, backend, dtype):
    _check_trajectory(name, hyper, dtype, backend, seed)


@given(hyper=rmsprop_hyper(), seed=st.integers(0, 2**16))
def test_rmsprop_trajectory_matches_torch(hyper, seed, backend, dtype):
    _check_trajectory("RMSprop", hyper, dtype, backend, seed)


def test_defaults_match_torch(backend):
    """Same defaults: no hyper-parameters given on either side."""
    for name in ("SGD", "Adam", "AdamW", "RMSprop"):
        _check_trajectory(name, {}, "float64", backend)


def test_adam_with_decoupled_weight_decay_is_adamw(backend):
    hyper = dict(lr=0.05, weight_decay=0.3, decoupled_weight_decay=True)
    _check_trajectory("Adam", hyper, "float64", backend)


# --- parameter groups ----------------------------------------------------------------------
def test_param_groups_with_their_own_hyper_parameters(backend, dtype):
    """Two groups with different lrs, betas and amsgrad; a third group added mid-run."""
    arrays = _initial(SHAPES, 3)
    ours, theirs = _tensors(arrays, dtype, backend)

    def groups(params):
        return [{"params": params[:1]},
                {"params": params[1:2], "lr": 0.05, "betas": (0.5, 0.9), "amsgrad": True}]
    opts = (minigan.optim.Adam(groups(ours), lr=1e-2),
            torch.optim.Adam(groups(theirs), lr=1e-2, foreach=False))
    grads = _gradients(SHAPES, 30, 3)
    _run(opts, ours[:2], theirs[:2], [g[:2] for g in grads[:10]], dtype, backend, "groups")
    opts[0].add_param_group({"params": ours[2], "lr": 0.2, "weight_decay": 0.1})
    opts[1].add_param_group({"params": theirs[2], "lr": 0.2, "weight_decay": 0.1})
    _run(opts, ours, theirs, grads[10:], dtype, backend, "groups after add_param_group")
    _check_state(opts[0].state_dict(), opts[1].state_dict(), dtype, "groups")


# --- state_dict ----------------------------------------------------------------------------
CONFIGS = [("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
           ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
           ("Adam", dict(lr=0.02, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.05)),
           ("AdamW", dict(lr=0.02, weight_decay=0.1)),
           ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01))]
# torch's implementation switches, absent from minigan's groups
TORCH_ONLY_GROUP_KEYS = {"foreach", "fused", "capturable", "differentiable"}


def _torch_state_to_numpy(state_dict: dict) -> dict:
    """A torch optimizer state_dict with its tensors as numpy arrays (step: a 0-d array)."""
    return {"state": {i: {k: v.detach().numpy().copy() for k, v in s.items()}
                      for i, s in state_dict["state"].items()},
            "param_groups": copy.deepcopy(state_dict["param_groups"])}


def _minigan_state_to_torch(state_dict: dict) -> dict:
    return {"state": {i: {k: torch.from_numpy(v.numpy().copy()) for k, v in s.items()}
                      for i, s in state_dict["state"].items()},
            "param_groups": copy.deepcopy(state_dict["param_groups"])}


@pytest.mark.parametrize("name,hyper", CONFIGS)
def test_torch_state_loads_mid_run_and_continues_identically(name, hyper, backend, dtype):
    """torch runs 20 steps alone; its state (as numpy) and parameters go into a fresh minigan
    optimizer built with other hyper-parameters, and both continue for 30 steps."""
    grads = _gradients(SHAPES, 50, 5)
    _, theirs = _tensors(_initial(SHAPES, 5), dtype, backend)
    torch_opt = getattr(torch.optim, name)(theirs, foreach=False, **hyper)
    for g in grads[:20]:
        _set_torch_grads(theirs, g, dtype)
        torch_opt.step()
    ours = [minigan.tensor(q.detach().numpy(), requires_grad=True, backend=backend)
            for q in theirs]
    ours_opt = getattr(minigan.optim, name)(ours, lr=0.5)
    ours_opt.load_state_dict(_torch_state_to_numpy(torch_opt.state_dict()))
    assert ours_opt.param_groups[0]["lr"] == hyper["lr"]
    _run((ours_opt, torch_opt), ours, theirs, grads[20:], dtype, backend, f"{name} resumed")


@pytest.mark.parametrize("name,hyper", CONFIGS)
def test_minigan_state_loads_into_torch(name, hyper, backend):
    """The reverse direction: minigan's state_dict (as torch tensors) continues in torch."""
    grads = _gradients(SHAPES, 30, 6)
    ours, _ = _tensors(_initial(SHAPES, 6), "float64", backend)
    ours_opt = getattr(minigan.optim, name)(ours, **hyper)
    for g in grads[:15]:
        _set_minigan_grads(ours, g, "float64", backend)
        ours_opt.step()
    theirs = [torch.tensor(p.detach().numpy(), requires_grad=True) for p in ours]
    torch_opt = getattr(torch.optim, name)(theirs, foreach=False, lr=0.5)
    torch_opt.load_state_dict(_minigan_state_to_torch(ours_opt.state_dict()))
    _run((ours_opt, torch_opt), ours, theirs, grads[15:], "float64", backend, f"{name} in torch")


def test_state_values_load_as_numpy_minigan_or_torch_tensors(backend):
    """The state's tensors may come as numpy arrays, minigan Tensors or torch tensors."""
    _, theirs = _tensors(_initial(SHAPES, 13), "float64", backend)
    torch_opt = torch.optim.RMSprop(theirs, foreach=False, momentum=0.5, centered=True)
    for g in _gradients(SHAPES, 4, 13):
        _set_torch_grads(theirs, g, "float64")
        torch_opt.step()
    as_numpy = _torch_state_to_numpy(torch_opt.state_dict())
    as_minigan = {"state": {i: {k: minigan.tensor(v, backend=backend) for k, v in s.items()}
                            for i, s in as_numpy["state"].items()},
                  "param_groups": as_numpy["param_groups"]}
    for state_dict in (as_numpy, as_minigan, torch_opt.state_dict()):
        ours = minigan.optim.RMSprop(_tensors(_initial(SHAPES, 13), "float64", backend)[0])
        ours.load_state_dict(state_dict)
        _check_state(ours.state_dict(), torch_opt.state_dict(), "float64", "loaded state")


def test_state_dict_layout_matches_torch(backend):
    ours, theirs = _tensors(_initial(SHAPES, 7), "float64", backend)
    groups = ([{"params": ours[:2]}, {"params": ours[2:], "lr": 0.1}],
              [{"params": theirs[:2]}, {"params": theirs[2:], "lr": 0.1}])
    opts = (minigan.optim.Adam(groups[0], amsgrad=True),
            torch.optim.Adam(groups[1], amsgrad=True, foreach=False))
    _run(opts, ours, theirs, _gradients(SHAPES, 3, 7), "float64", backend, "layout")
    mine, torchs = opts[0].state_dict(), opts[1].state_dict()
    for g_ours, g_torch in zip(mine["param_groups"], torchs["param_groups"]):
        assert set(g_ours) == set(g_torch) - TORCH_ONLY_GROUP_KEYS
        assert all(g_ours[k] == g_torch[k] for k in g_ours)
    step = mine["state"][0]["step"]
    assert isinstance(step, minigan.Tensor) and step.dtype == np.float32 and step.item() == 3
    _check_state(mine, torchs, "float64", "layout")


@pytest.mark.parametrize("name,hyper", CONFIGS)
def test_state_dict_round_trip_through_numpy_and_json(name, hyper, backend):
    """As a checkpoint stores it (arrays as numpy, groups as JSON): a new optimizer on copies
    of the parameters continues exactly like the original."""
    grads = _gradients(SHAPES, 20, 8)
    ours, _ = _tensors(_initial(SHAPES, 8), "float64", backend)
    first = getattr(minigan.optim, name)(ours, **hyper)
    for g in grads[:10]:
        _set_minigan_grads(ours, g, "float64", backend)
        first.step()
    saved = first.state_dict()
    state = {str(i): {k: v.numpy() for k, v in s.items()} for i, s in saved["state"].items()}
    copies = [minigan.tensor(p.detach().numpy(), requires_grad=True, backend=backend)
              for p in ours]
    second = getattr(minigan.optim, name)(copies)
    second.load_state_dict({"state": state,
                            "param_groups": json.loads(json.dumps(saved["param_groups"]))})
    for g in grads[10:]:
        _set_minigan_grads(ours, g, "float64", backend)
        _set_minigan_grads(copies, g, "float64", backend)
        first.step()
        second.step()
        for p, q in zip(ours, copies):
            np.testing.assert_array_equal(q.detach().numpy(), p.detach().numpy())


def test_state_dict_is_a_snapshot(backend):
    ours, _ = _tensors(_initial(SHAPES[:1], 9), "float64", backend)
    opt = minigan.optim.Adam(ours, lr=0.1)
    ours[0].grad = minigan.ones(*SHAPES[0], dtype="float64", backend=backend)
    opt.step()
    saved = opt.state_dict()
    before = saved["state"][0]["exp_avg"].numpy().copy()
    opt.step()
    np.testing.assert_array_equal(saved["state"][0]["exp_avg"].numpy(), before)
    assert saved["state"][0]["step"].item() == 1


def test_load_state_dict_errors(backend):
    ours, _ = _tensors(_initial(SHAPES, 10), "float64", backend)
    opt = minigan.optim.SGD([{"params": ours[:1]}, {"params": ours[1:]}], lr=0.1, momentum=0.9)
    good = opt.state_dict()
    with pytest.raises(ValueError, match="the state has 1 parameter groups but the optimizer "
                                         "has 2"):
        opt.load_state_dict({"state": {}, "param_groups": good["param_groups"][:1]})
    bad = copy.deepcopy(good)
    bad["param_groups"][1]["params"] = [1]
    with pytest.raises(ValueError, match="parameter group 1 has 1 parameters in the state but "
                                         "2 in the optimizer"):
        opt.load_state_dict(bad)
    wrong_shape = {"state": {0: {"momentum_buffer": np.zeros((4, 3))}},
                   "param_groups": good["param_groups"]}
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: state 'momentum_buffer' of "
                                         r"parameter 0 has shape \(4, 3\) but the parameter "
                                         r"has shape \(3, 4\)"):
        opt.load_state_dict(wrong_shape)
    with pytest.raises(ValueError, match="state for parameter 7, which no parameter group"):
        opt.load_state_dict({"state": {7: {}}, "param_groups": good["param_groups"]})
    bad_lr = copy.deepcopy(good)
    bad_lr["param_groups"][0]["lr"] = -1.0
    with pytest.raises(ValueError, match="SGD: invalid learning rate lr=-1.0"):
        opt.load_state_dict(bad_lr)


# --- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize("name,hyper,error,match", [
    ("SGD", dict(lr=-1), ValueError, r"SGD: invalid learning rate lr=-1 \(must be >= 0\)"),
    ("SGD", dict(momentum=-0.5), ValueError, "SGD: invalid momentum momentum=-0.5"),
    ("SGD", dict(weight_decay=-1e-4), ValueError, "SGD: invalid weight decay weight_decay"),
    ("SGD", dict(nesterov=True), ValueError, "SGD: nesterov=True requires momentum > 0 and "
                                             "dampening = 0, got momentum=0.0"),
    ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True), ValueError, "dampening=0.1"),
    ("SGD", dict(lr="0.1"), TypeError, "SGD: learning rate lr must be a real number, got str"),
    ("Adam", dict(lr=float("nan")), ValueError, "Adam: invalid learning rate lr=nan"),
    ("Adam", dict(betas=(1.0, 0.999)), ValueError,
     r"Adam: invalid beta parameter betas\[0\]=1.0 \(must be in \[0, 1\)\)"),
    ("Adam", dict(betas=(0.9, -0.1)), ValueError, r"Adam: invalid beta parameter betas\[1\]"),
    ("Adam", dict(betas=0.9), ValueError, r"Adam: betas must be a pair \(beta1, beta2\)"),
    ("Adam", dict(eps=-1e-8), ValueError, "Adam: invalid epsilon eps=-1e-08"),
    ("AdamW", dict(weight_decay=-0.01), ValueError, "AdamW: invalid weight decay"),
    ("RMSprop", dict(alpha=-0.1), ValueError, "RMSprop: invalid smoothing constant alpha=-0.1"),
    ("RMSprop", dict(momentum=-1), ValueError, "RMSprop: invalid momentum momentum=-1"),
    ("RMSprop", dict(eps=-1), ValueError, "RMSprop: invalid epsilon eps=-1"),
])
def test_bad_hyper_parameters_name_the_optimizer_and_argument(name, hyper, error, match,
                                                              backend):
    p = minigan.zeros(3, requires_grad=True, backend=backend)
    with pytest.raises(error, match=match):
        getattr(minigan.optim, name)([p], **hyper)
    opt = getattr(minigan.optim, name)([p])
    with pytest.raises(error, match=match):  # a group's own values are checked too
        opt.add_param_group({"params": [minigan.zeros(2, requires_grad=True, backend=backend)],
                             **hyper})


def test_bad_parameters(backend):
    p = minigan.zeros(3, requires_grad=True, backend=backend)
    q = minigan.zeros(2, requires_grad=True, backend=backend)
    with pytest.raises(ValueError, match="Adam: got an empty parameter list"):
        minigan.optim.Adam([])
    with pytest.raises(TypeError, match="got a single Tensor; wrap it in a list"):
        minigan.optim.Adam(p)
    with pytest.raises(TypeError, match="SGD: can only optimize minigan Tensors, but one of "
                                        "the params is ndarray"):
        minigan.optim.SGD([np.zeros(3)])
    with pytest.raises(TypeError, match="ordered collection"):
        minigan.optim.SGD([{"params": {p}}])
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        minigan.optim.SGD([p * 2])
    with pytest.raises(TypeError, match="can only optimize floating tensors, got int64"):
        minigan.optim.SGD([minigan.zeros(3, dtype="int64", backend=backend)])
    with pytest.raises(ValueError, match="a parameter appears twice in one parameter group"):
        minigan.optim.SGD([p, q, p])
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter "
                                         "group"):
        minigan.optim.SGD([{"params": [p]}, {"params": [q, p]}])


def test_bad_gradients(backend):
    p = minigan.zeros(3, 4, requires_grad=True, backend=backend)
    ok = minigan.zeros(2, requires_grad=True, backend=backend)
    opt = minigan.optim.Adam([{"params": [ok]}, {"params": [p]}])
    ok.grad = minigan.ones(2, backend=backend)
    p.grad = minigan.zeros(4, 3, backend=backend)
    with pytest.raises(ValueError, match=r"Adam: a parameter of shape \(3, 4\) in group 1 has "
                                         r"a grad of shape \(4, 3\)"):
        opt.step()
    p.grad = minigan.zeros(3, 4, dtype="float64", backend=backend)
    with pytest.raises(TypeError, match="has dtype float32 but its grad has float64"):
        opt.step()
    assert not opt.state, "a rejected step must leave no state behind"
    assert_close(ok, np.zeros(2), "float32", "a parameter of a group before the bad one")


# --- step, zero_grad -----------------------------------------------------------------------
def test_step_updates_in_place_without_recording_a_graph(backend):
    p = minigan.tensor(np.arange(3.0), requires_grad=True, backend=backend)
    storage, alias = p.array, p.detach()
    opt = minigan.optim.SGD([p], lr=0.5)
    (p * p).sum().backward()
    opt.step()
    assert p.array is storage and p.is_leaf and p.requires_grad
    assert_close(alias, np.arange(3.0) * (1 - 2 * 0.5), "float64", "alias of the parameter")


def test_step_skips_parameters_without_gradients(backend):
    p, q = (minigan.ones(2, requires_grad=True, backend=backend) for _ in range(2))
    opt = minigan.optim.Adam([p, q], lr=0.1)
    p.grad = minigan.ones(2, backend=backend)
    opt.step()
    assert list(opt.state_dict()["state"]) == [0]
    assert_close(q, np.ones(2), "float32", "the parameter without a gradient")


def test_step_with_closure_matches_torch(backend):
    """The closure runs with grad mode on (even under no_grad) and its loss is returned."""
    x = np.linspace(-1, 1, 6)
    ours, theirs = _tensors([np.array([0.3, -0.2])], "float64", backend)
    opts = _optimizers("SGD", ours, theirs, lr=0.1, momentum=0.9)

    def closure(params, data, opt):
        def run():
            opt.zero_grad()
            w = params[0]
            loss = ((w[0] * data + w[1]) ** 2).sum()
            loss.backward()
            return loss
        return run
    for _ in range(5):
        with minigan.no_grad():
            loss = opts[0].step(closure(ours, minigan.tensor(x, backend=backend), opts[0]))
        expected = opts[1].step(closure(theirs, torch.tensor(x), opts[1]))
        assert_close(loss, expected, "float64", "closure loss")
        assert_close(ours[0], theirs[0], "float64", "parameter after a closure step")


def test_zero_grad(backend):
    p, q = (minigan.ones(2, 3, requires_grad=True, backend=backend) for _ in range(2))
    opt = minigan.optim.SGD([p, q], lr=0.1)
    p.grad = minigan.ones(2, 3, backend=backend)
    shared = p.grad
    opt.zero_grad(set_to_none=False)
    assert q.grad is None
    assert_close(p.grad, np.zeros((2, 3)), "float32", "zeroed gradient")
    assert_close(shared, np.ones((2, 3)), "float32", "the old gradient's storage is untouched")
    opt.zero_grad()
    assert p.grad is None


# --- learning-rate schedulers --------------------------------------------------------------
def _cyclegan_rule(n_epochs: int, n_epochs_decay: int, epoch_count: int):
    """CycleGAN/pix2pix's lambda_rule, verbatim (networks.get_scheduler)."""
    def lambda_rule(epoch):
        return 1.0 - max(0, epoch + epoch_count - n_epochs) / float(n_epochs_decay + 1)
    return lambda_rule


def _decay(epoch):
    return 0.9 ** epoch


def _halving(epoch):
    return 1.0 / (1 + epoch // 3)


class Warmup:
    """A callable object: LambdaLR saves its attributes in state_dict."""

    def __init__(self, length: int):
        self.length = length

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.length)


# (minigan scheduler, torch scheduler): each takes an optimizer of its library
SCHEDULERS = {
    "StepLR": (lambda o: sched.StepLR(o, step_size=3, gamma=0.5),
               lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
    "LambdaLR": (lambda o: sched.LambdaLR(o, _decay),
                 lambda o: torch.optim.lr_scheduler.LambdaLR(o, _decay)),
    "LambdaLR per group": (lambda o: sched.LambdaLR(o, [_decay, _halving]),
                           lambda o: torch.optim.lr_scheduler.LambdaLR(o, [_decay, _halving])),
    "LinearLR warm-up": (lambda o: sched.LinearLR(o, start_factor=0.1, total_iters=7),
                         lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1,
                                                                     total_iters=7)),
    "LinearLR decay": (lambda o: sched.LinearLR(o, 1.0, 0.05, total_iters=9),
                       lambda o: torch.optim.lr_scheduler.LinearLR(o, 1.0, 0.05, 9)),
    # CycleGAN's rule turns negative after its last epoch, where LinearDecayLR holds 0: the
    # schedule outlasts the tests' 27 epochs (the end is checked in test_linear_decay_lr_values)
    "LinearDecayLR (CycleGAN)": (
        lambda o: sched.LinearDecayLR(o, constant_steps=10 - 1, decay_steps=20 + 1),
        lambda o: torch.optim.lr_scheduler.LambdaLR(o, _cyclegan_rule(10, 20, 1))),
}


def _two_group_optimizers(backend: str):
    p = minigan.zeros(2, requires_grad=True, backend=backend)
    q = minigan.zeros(3, requires_grad=True, backend=backend)
    ours = minigan.optim.SGD([{"params": [p]}, {"params": [q], "lr": 0.3}], lr=0.1,
                             momentum=0.9)
    theirs = torch.optim.SGD([{"params": [torch.zeros(2, requires_grad=True)]},
                              {"params": [torch.zeros(3, requires_grad=True)], "lr": 0.3}],
                             lr=0.1, momentum=0.9)
    return ours, theirs


def _scheduled_pair(name: str, backend: str):
    ours, theirs = _two_group_optimizers(backend)
    make_ours, make_theirs = SCHEDULERS[name]
    return ours, theirs, make_ours(ours), make_theirs(theirs)


def _advance(opts, schedulers, epochs: int, what: str) -> None:
    for epoch in range(epochs):
        for opt, scheduler in zip(opts, schedulers):
            opt.step()  # no gradients: only keeps torch's call-order check quiet
            scheduler.step()
        assert schedulers[0].get_last_lr() == schedulers[1].get_last_lr(), f"{what} {epoch}"
        assert [g["lr"] for g in opts[0].param_groups] == \
            [g["lr"] for g in opts[1].param_groups], f"{what}: group lrs at epoch {epoch}"


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_scheduler_matches_torch(name, backend):
    """The same float learning rates as torch's scheduler, epoch by epoch."""
    ours, theirs, s_ours, s_theirs = _scheduled_pair(name, backend)
    assert s_ours.get_last_lr() == s_theirs.get_last_lr()
    _advance((ours, theirs), (s_ours, s_theirs), 25, name)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_scheduler_state_loads_from_torch_mid_run(name, backend):
    """torch's optimizer and scheduler run 12 epochs; their state_dicts load into fresh
    minigan ones (scheduler built first, as torch prescribes), and both continue."""
    _, theirs, _, s_theirs = _scheduled_pair(name, backend)
    for _ in range(12):
        theirs.step()
        s_theirs.step()
    ours, _, s_ours, _ = _scheduled_pair(name, backend)
    ours.load_state_dict(_torch_state_to_numpy(theirs.state_dict()))
    s_ours.load_state_dict(s_theirs.state_dict())
    _advance((ours, theirs), (s_ours, s_theirs), 15, f"{name} resumed")


def test_scheduler_state_round_trip_with_a_callable_object(backend):
    ours, theirs = _two_group_optimizers(backend)
    first = sched.LambdaLR(ours, Warmup(5))
    for _ in range(3):
        first.step()
    saved = first.state_dict()
    assert saved["lr_lambdas"] == [{"length": 5}] * 2 and saved["last_epoch"] == 3
    second = sched.LambdaLR(ours, Warmup(99), last_epoch=3)
    second.load_state_dict(saved)
    assert [fn.length for fn in second.lr_lambdas] == [5, 5]
    reference = torch.optim.lr_scheduler.LambdaLR(theirs, Warmup(5))
    for _ in range(3):
        theirs.step()
        reference.step()
    _advance((ours, theirs), (second, reference), 6, "LambdaLR after load")


def test_linear_decay_lr_values(backend):
    """Constant for 3 epochs, then linearly to 0 over 4 more, then 0."""
    p = minigan.zeros(1, requires_grad=True, backend=backend)
    scheduler = sched.LinearDecayLR(minigan.optim.Adam([p], lr=2.0), 3, 4)
    lrs = [scheduler.get_last_lr()[0]]
    for _ in range(9):
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
    assert lrs == [2.0, 2.0, 2.0, 2.0, 1.5, 1.0, 0.5, 0.0, 0.0, 0.0]


def test_scheduler_drives_the_optimizer_like_torch(backend):
    """The scheduled learning rate is the one the update uses: SGD + StepLR vs torch."""
    ours, theirs = _tensors(_initial(SHAPES, 11), "float64", backend)
    opts = _optimizers("SGD", ours, theirs, lr=0.1, momentum=0.9)
    schedulers = (sched.StepLR(opts[0], 4, 0.5), torch.optim.lr_scheduler.StepLR(opts[1], 4, 0.5))
    for step, grads in enumerate(_gradients(SHAPES, 20, 11)):
        _run(opts, ours, theirs, [grads], "float64", backend, f"scheduled step {step}")
        schedulers[0].step()
        schedulers[1].step()


def test_scheduler_errors(backend):
    opt = minigan.optim.SGD([minigan.zeros(1, requires_grad=True, backend=backend)], lr=0.1)
    with pytest.raises(ValueError, match="StepLR: step_size must be an integer >= 1, got 0"):
        sched.StepLR(opt, 0)
    with pytest.raises(ValueError, match=r"LinearLR: start_factor must be in \(0, 1\], got 0"):
        sched.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match=r"LinearLR: end_factor must be in \[0, 1\], got 1.5"):
        sched.LinearLR(opt, end_factor=1.5)
    with pytest.raises(ValueError, match="LinearDecayLR: decay_steps must be an integer >= 1"):
        sched.LinearDecayLR(opt, 5, 0)
    with pytest.raises(ValueError, match="LambdaLR: expected 1 lr_lambdas"):
        sched.LambdaLR(opt, [_decay, _decay])
    with pytest.raises(TypeError, match="StepLR: SGD is not a minigan Optimizer"):
        sched.StepLR(torch.optim.SGD([torch.zeros(1, requires_grad=True)]), 2)
    with pytest.raises(KeyError, match="no 'initial_lr' to resume from"):
        sched.StepLR(opt, 2, last_epoch=4)


# --- end to end ----------------------------------------------------------------------------
def test_adam_trains_a_tiny_mlp_like_torch(backend):
    """A few Adam steps on an MLP regression loss, built from functional ops in both
    libraries: the same losses and weights at every step."""
    rng = np.random.default_rng(12)
    x, y = rng.standard_normal((32, 4)), rng.standard_normal((32, 1))
    shapes = [(16, 4), (16,), (1, 16), (1,)]
    ours, theirs = _tensors([rng.standard_normal(s) * 0.5 for s in shapes], "float64", backend)
    opts = _optimizers("Adam", ours, theirs, lr=0.01, weight_decay=1e-3)

    def loss(lib_f, params, xs, ys):
        w1, b1, w2, b2 = params
        return lib_f.mse_loss(lib_f.linear(lib_f.leaky_relu(lib_f.linear(xs, w1, b1), 0.2),
                                           w2, b2), ys)
    losses = []
    for step in range(8):
        for opt in opts:
            opt.zero_grad()
        ours_loss = loss(F, ours, minigan.tensor(x, backend=backend),
                         minigan.tensor(y, backend=backend))
        theirs_loss = loss(torch.nn.functional, theirs, torch.tensor(x), torch.tensor(y))
        ours_loss.backward()
        theirs_loss.backward()
        assert_close(ours_loss, theirs_loss, "float64", f"MLP loss at step {step}")
        losses.append(ours_loss.item())
        for opt in opts:
            opt.step()
        for i, (p, q) in enumerate(zip(ours, theirs)):
            assert_close(p, q, "float64", f"MLP parameter {i} after step {step + 1}")
    assert losses[-1] < losses[0], f"Adam did not reduce the loss: {losses}"
