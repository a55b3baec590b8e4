"""spectral_norm against torch.nn.utils.spectral_norm, step by step from the same u, v and W."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import minigan
from minigan import nn
from minigan.interop import load_torch_state_dict
from minigan.nn.utils import remove_spectral_norm, spectral_norm
from tests.torch_ref import assert_close, check_module

CASES = {
    "linear": (lambda nn: nn.Linear(5, 4), (3, 5), {}),
    "conv_two_iterations": (lambda nn: nn.Conv2d(3, 4, 3, padding=1), (2, 3, 5, 5),
                            {"n_power_iterations": 2}),
    "conv_transpose": (lambda nn: nn.ConvTranspose2d(4, 3, 4, 2, 1), (2, 4, 3, 3), {}),
    "conv_dim1_eps": (lambda nn: nn.Conv2d(2, 3, 2, bias=False), (2, 2, 3, 3),
                      {"dim": 1, "eps": 1e-4}),
}


def _pair(name, backend):
    """The same spectrally normalized layer in torch and minigan, with torch's W, u and v."""
    build, shape, kwargs = CASES[name]
    torch.manual_seed(0)
    theirs = torch.nn.utils.spectral_norm(build(torch.nn).double(), **kwargs)
    ours = spectral_norm(build(nn), **kwargs).to(minigan.float64, backend=backend)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        assert ours.state_dict()[key].shape == tuple(value.shape), key
    load_torch_state_dict(ours, theirs.state_dict())
    return ours, theirs, shape


def _step(ours, theirs, x, cot, backend, what):
    """One forward/backward on both; compares outputs, W/sigma, u, v and gradients."""
    out = ours(minigan.tensor(x, backend=backend))
    t_out = theirs(torch.tensor(x))
    assert_close(out, t_out, "float64", f"{what}: output")
    (out * minigan.tensor(cot, backend=backend)).sum().backward()
    (t_out * torch.tensor(cot)).sum().backward()
    assert_close(ours.weight, theirs.weight, "float64", f"{what}: W / sigma")
    for name in ("weight_u", "weight_v"):
        assert_close(getattr(ours, name), getattr(theirs, name), "float64", f"{what}: {name}")
    mine = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        assert_close(mine[name].grad, p.grad, "float64", f"{what}: gradient of {name}")


def _sgd(module, lib, lr=0.5):
    """Move the weights so the next power iteration starts from a changed W."""
    with (torch.no_grad() if lib is torch else minigan.no_grad()):
        for p in module.parameters():
            p.data = p.detach() - lr * p.grad
            p.grad = None


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch_step_by_step(name, backend):
    ours, theirs, shape = _pair(name, backend)
    rng = np.random.default_rng(1)
    out_shape = copy.deepcopy(theirs)(torch.zeros(shape, dtype=torch.float64)).shape
    for mode, steps in (("train", 3), ("eval", 2), ("train", 2)):
        ours.train(mode == "train")
        theirs.train(mode == "train")
        u_before = ours.weight_u.numpy().copy()
        for step in range(steps):
            x, cot = rng.standard_normal(shape), rng.standard_normal(tuple(out_shape))
            _step(ours, theirs, x, cot, backend, f"{name} {mode} step {step}")
            _sgd(ours, minigan)
            _sgd(theirs, torch)
        if mode == "eval":  # no power iteration in eval
            np.testing.assert_array_equal(ours.weight_u.numpy(), u_before)


@pytest.mark.parametrize("name", ["conv_two_iterations", "conv_transpose"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_second_order_under_gradient_penalty(name, mode, backend):
    """Input, weight_orig and bias gradients and the gradient-penalty second order."""
    ours, theirs, shape = _pair(name, backend)
    ours.train(mode == "train")
    theirs.train(mode == "train")
    x = np.random.default_rng(2).standard_normal(shape)
    check_module(ours, theirs, [x], backend=backend, what=f"spectral_norm {name} {mode}")


def test_remove_spectral_norm_matches_torch(backend):
    ours, theirs, shape = _pair("conv_transpose", backend)
    x = np.random.default_rng(3).standard_normal(shape)
    ours(minigan.tensor(x, backend=backend))
    theirs(torch.tensor(x))
    remove_spectral_norm(ours)
    torch.nn.utils.remove_spectral_norm(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "weight"]
    assert isinstance(ours.weight, nn.Parameter) and not ours._forward_pre_hooks
    assert_close(ours.weight, theirs.weight, "float64", "weight after removal")
    assert_close(ours(minigan.tensor(x, backend=backend)), theirs(torch.tensor(x)), "float64",
                 "output after removal")
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found in "
                                         "ConvTranspose2d"):
        remove_spectral_norm(ours)


def test_power_iteration_reaches_the_spectral_norm(backend):
    """With many iterations W / sigma has largest singular value 1 (numpy's SVD)."""
    minigan.manual_seed(0)
    layer = spectral_norm(nn.Conv2d(4, 6, 3), n_power_iterations=60).to(minigan.float64,
                                                                         backend=backend)
    layer(minigan.zeros(1, 4, 3, 3, dtype=minigan.float64, backend=backend))
    w = layer.weight.detach().numpy().reshape(6, -1)
    assert np.linalg.svd(w, compute_uv=False)[0] == pytest.approx(1.0, abs=1e-8)
    u, v = layer.weight_u.numpy(), layer.weight_v.numpy()
    assert u.shape == (6,) and v.shape == (36,)
    assert np.linalg.norm(u) == pytest.approx(1.0) and np.linalg.norm(v) == pytest.approx(1.0)


def test_spectral_norm_errors():
    layer = spectral_norm(nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="two spectral_norm hooks on the same parameter"):
        spectral_norm(layer)
    with pytest.raises(ValueError, match="Linear has no parameter 'kernel'"):
        spectral_norm(nn.Linear(2, 2), name="kernel")
    with pytest.raises(ValueError, match="n_power_iterations to be positive, got 0"):
        spectral_norm(nn.Linear(2, 2), n_power_iterations=0)
