"""Layer + activation fusion (minigan/nn/fusion.py): nn.Sequential runs Conv2d followed by
ReLU / LeakyReLU, or BatchNorm followed by those, Tanh or Sigmoid, as one kernel call
(``activation=``), with the
same values and gradients of every order as the unfused pair, bit for bit, on every backend;
and it fuses only when nothing could tell the difference."""

from __future__ import annotations

import numpy as np
import pytest

import minigan
import minigan.functional as F
from minigan import nn
from minigan.autograd import nn_ops
from minigan.models.dcgan import Discriminator, Generator

ACTIVATIONS = [nn.ReLU(), nn.LeakyReLU(0.2, inplace=True), nn.Tanh(), nn.Sigmoid(),
               nn.LeakyReLU(0.0)]


def _data(backend, *shape, seed=0, dtype="float64"):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return minigan.tensor(x, requires_grad=True, backend=backend)


def _run(model, x, second_order=True):
    """Output, input gradient and parameter gradients of sum(y) + |dy/dx|^2 (a gradient
    penalty's double backward)."""
    x.grad = None
    for p in model.parameters():
        p.grad = None
    y = model(x)
    loss = y.sum()
    if second_order:
        (gx,) = minigan.autograd.grad(y.sum(), x, create_graph=True)
        loss = loss + (gx * gx).sum()
    loss.backward()
    return [y.detach().numpy(), x.grad.numpy()] + [p.grad.numpy() for p in model.parameters()]


def _same(a, b):
    assert len(a) == len(b)
    for i, (u, v) in enumerate(zip(a, b)):
        np.testing.assert_array_equal(u, v, err_msg=f"output {i}")


def _fused_and_not(model, x, second_order=True):
    with nn.fusion(True):
        fused = _run(model, x, second_order)
    with nn.fusion(False):
        plain = _run(model, x, second_order)
    return fused, plain


@pytest.mark.parametrize("act", ACTIVATIONS, ids=lambda m: repr(m))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_conv_and_batch_norm_pairs_are_bit_identical(backend, act, dtype):
    minigan.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, 2, 1), act, nn.Conv2d(4, 4, 3, 1, 1, bias=False),
                          nn.BatchNorm2d(4), act).to(backend=backend)
    if dtype == "float64":
        model = model.double()
    x = _data(backend, 2, 2, 6, 6, dtype=dtype)
    _same(*_fused_and_not(model, x))
    model.eval()  # batch norm with the running statistics
    _same(*_fused_and_not(model, x, second_order=False))


def test_batch_norm_1d_and_a_whole_dcgan(backend):
    minigan.manual_seed(1)
    mlp = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.LeakyReLU(0.2), nn.Linear(5, 1),
                        nn.Sigmoid()).to(backend=backend).double()
    _same(*_fused_and_not(mlp, _data(backend, 4, 3)))
    minigan.manual_seed(2)
    D = Discriminator(ndf=2, channels=1, img_size=32).to(backend=backend)
    _same(*_fused_and_not(D, _data(backend, 2, 1, 32, 32, dtype="float32")))
    G = Generator(latent_dim=3, ngf=2, channels=1, img_size=32).to(backend=backend)
    _same(*_fused_and_not(G, _data(backend, 2, 3, dtype="float32"), second_order=False))


def test_the_fused_path_is_taken():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.LeakyReLU(0.2), nn.BatchNorm2d(2), nn.ReLU())
    y = model(_data("numpy", 1, 1, 5, 5, dtype="float32"))
    assert isinstance(y.grad_fn, nn_ops.NormAffineAct)
    first = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    assert isinstance(first(_data("numpy", 1, 1, 5, 5, dtype="float32")).grad_fn,
                      nn_ops.Conv2dAct)
    # tanh and sigmoid are not in the convolution's epilogue (a batch norm's pass has them)
    smooth = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh())
    assert not isinstance(smooth(_data("numpy", 1, 1, 5, 5, dtype="float32")).grad_fn,
                          nn_ops.Conv2dAct)
    with nn.fusion(False):
        assert not nn.fusion_enabled()
        assert not isinstance(first(_data("numpy", 1, 1, 5, 5, dtype="float32")).grad_fn,
                              nn_ops.Conv2dAct)
    assert nn.fusion_enabled()


def test_fusion_steps_aside_when_it_could_be_observed():
    x = _data("numpy", 1, 1, 5, 5, dtype="float32")
    conv, act = nn.Conv2d(1, 2, 3), nn.ReLU()
    seen = []
    handle = conv.register_forward_hook(lambda m, args, out: seen.append(out))
    y = nn.Sequential(conv, act)(x)
    # the hook saw the convolution's output, before the activation
    assert (seen[0].detach().numpy() < 0).any() and (y.detach().numpy() >= 0).all()
    handle.remove()
    seen.clear()
    act.register_forward_hook(lambda m, args, out: seen.append(out))
    nn.Sequential(conv, act)(x)
    assert len(seen) == 1

    class MyConv(nn.Conv2d):  # a subclass may override forward: never fused
        def forward(self, input, activation=None):
            assert activation is None
            return super().forward(input) * 2

    nn.Sequential(MyConv(1, 2, 3), nn.ReLU())(x)
    steep = nn.Sequential(nn.Conv2d(1, 2, 3), nn.LeakyReLU(1.5))
    assert not isinstance(steep(x).grad_fn, nn_ops.Conv2dAct)  # slope > 1: unfused


def test_functional_activation_argument():
    x = _data("numpy", 1, 1, 4, 4)
    w = _data("numpy", 2, 1, 3, 3, seed=1)
    fused = F.conv2d(x, w, activation=("leaky_relu", 0.1))
    np.testing.assert_array_equal(fused.detach().numpy(),
                                  F.leaky_relu(F.conv2d(x, w), 0.1).detach().numpy())
    with pytest.raises(ValueError, match="conv2d: activation must be one of relu, leaky_relu, "
                                         "tanh, sigmoid .*got 'gelu'"):
        F.conv2d(x, w, activation="gelu")
    with pytest.raises(ValueError, match="batch_norm: a fused leaky_relu needs 0 <= slope <= 1, "
                                         "got -0.5"):
        F.batch_norm(x, None, None, training=True, activation=("leaky_relu", -0.5))
