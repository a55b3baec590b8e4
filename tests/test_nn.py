"""minigan.nn against torch.nn: layers, Module mechanics, state_dicts both ways, initializations.

Most layer cases are one constructor call written once and run with ``nn`` bound to
minigan.nn and to torch.nn, which also checks that the signatures and defaults agree.
"""

from __future__ import annotations

import copy
import math
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import minigan
from minigan import nn
from minigan.interop import from_torch_state_dict, load_torch_state_dict, to_torch_state_dict
from minigan.nn.utils import functional_call
from tests.torch_ref import assert_close, check_module

LAYERS = {
    "conv": (lambda nn: nn.Conv2d(3, 4, 3), (2, 3, 6, 6)),
    "conv_geometry": (lambda nn: nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0),
                                           dilation=(1, 2), groups=2), (2, 4, 7, 6)),
    "conv_same_reflect": (lambda nn: nn.Conv2d(2, 3, 4, padding="same", padding_mode="reflect",
                                               bias=False), (1, 2, 5, 5)),
    "conv_circular": (lambda nn: nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"),
                      (1, 2, 5, 4)),
    "conv_replicate": (lambda nn: nn.Conv2d(2, 3, 3, 2, (2, 1), padding_mode="replicate"),
                       (1, 2, 5, 5)),
    "conv_transpose": (lambda nn: nn.ConvTranspose2d(3, 4, 4, 2, 1), (2, 3, 3, 3)),
    "conv_transpose_geometry": (lambda nn: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1,
                                                              output_padding=1, groups=2,
                                                              dilation=1), (2, 4, 3, 3)),
    "linear": (lambda nn: nn.Linear(5, 3), (4, 5)),
    "linear_3d_no_bias": (lambda nn: nn.Linear(5, 3, bias=False), (2, 4, 5)),
    "batchnorm1d": (lambda nn: nn.BatchNorm1d(3), (5, 3)),
    "batchnorm1d_3d": (lambda nn: nn.BatchNorm1d(3, momentum=0.3, eps=1e-3), (4, 3, 5)),
    "batchnorm2d": (lambda nn: nn.BatchNorm2d(3), (4, 3, 3, 3)),
    "batchnorm2d_cumulative": (lambda nn: nn.BatchNorm2d(3, momentum=None), (4, 3, 3, 3)),
    "batchnorm2d_no_affine": (lambda nn: nn.BatchNorm2d(3, affine=False), (4, 3, 2, 2)),
    "batchnorm2d_no_bias": (lambda nn: nn.BatchNorm2d(3, bias=False), (4, 3, 2, 2)),
    "batchnorm2d_untracked": (lambda nn: nn.BatchNorm2d(3, track_running_stats=False),
                              (4, 3, 2, 2)),
    "instancenorm": (lambda nn: nn.InstanceNorm2d(3), (2, 3, 4, 4)),
    "instancenorm_affine_tracked": (lambda nn: nn.InstanceNorm2d(3, affine=True,
                                                                 track_running_stats=True),
                                    (2, 3, 4, 4)),
    "instancenorm_unbatched": (lambda nn: nn.InstanceNorm2d(3, affine=True), (3, 4, 4)),
    "layernorm": (lambda nn: nn.LayerNorm((3, 4)), (2, 5, 3, 4)),
    "layernorm_no_affine": (lambda nn: nn.LayerNorm(4, elementwise_affine=False), (3, 4)),
    "groupnorm": (lambda nn: nn.GroupNorm(2, 4), (2, 4, 3, 3)),
    "relu": (lambda nn: nn.ReLU(), (3, 4)),
    "leaky_relu": (lambda nn: nn.LeakyReLU(0.2), (3, 4)),
    "elu": (lambda nn: nn.ELU(0.5), (3, 4)),
    "tanh": (lambda nn: nn.Tanh(), (3, 4)),
    "sigmoid": (lambda nn: nn.Sigmoid(), (3, 4)),
    "flatten": (lambda nn: nn.Flatten(), (2, 3, 2, 2)),
    "flatten_range": (lambda nn: nn.Flatten(0, 2), (2, 3, 2, 2)),
    "upsample_nearest": (lambda nn: nn.Upsample(scale_factor=2), (1, 2, 3, 3)),
    "upsample_bilinear": (lambda nn: nn.Upsample(size=(5, 7), mode="bilinear",
                                                 align_corners=True), (1, 2, 3, 3)),
    "identity": (lambda nn: nn.Identity(3, unused=True), (2, 3)),
    "dropout_p0": (lambda nn: nn.Dropout(0.0), (2, 3)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_matches_torch(name, backend, dtype):
    """Train mode, then eval mode (running statistics in use), against torch."""
    build, shape = LAYERS[name]
    ours, theirs = build(nn), build(torch.nn)
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(0)
    # The second derivative through batch statistics is a sum of O(1) terms that cancel to
    # ~1e-3; in float32 both libraries then err by ~2e-5 against float64, over the default bound.
    scale = 5.0 if dtype == "float32" and "norm" in name else 1.0
    check_module(ours, theirs, [rng.standard_normal(shape)], backend=backend, dtype=dtype,
                 scale=scale, what=f"{name} (train)")
    ours.eval()
    theirs.eval()
    check_module(ours, theirs, [rng.standard_normal(shape)], backend=backend, dtype=dtype,
                 scale=scale, what=f"{name} (eval)")


def _pairs(lo: int, hi: int):
    return st.tuples(st.integers(lo, hi), st.integers(lo, hi))


@given(data=st.data())
def test_conv_modules_random_geometry(backend, data):
    """Conv2d (every padding_mode) and ConvTranspose2d over drawn hyper-parameters."""
    groups = data.draw(st.integers(1, 2))
    cin, cout = groups * data.draw(st.integers(1, 2)), groups * data.draw(st.integers(1, 2))
    kernel, stride, dilation = (data.draw(_pairs(lo, hi)) for lo, hi in ((1, 3), (1, 2), (1, 2)))
    padding, size = data.draw(_pairs(0, 2)), data.draw(_pairs(3, 6))
    bias = data.draw(st.booleans())
    if data.draw(st.booleans()):
        output_padding = tuple(data.draw(st.integers(0, max(s, d) - 1))
                               for s, d in zip(stride, dilation))
        out = [(n - 1) * s - 2 * p + d * (k - 1) + o + 1 for n, s, p, d, k, o in
               zip(size, stride, padding, dilation, kernel, output_padding)]
        assume(min(out) > 0)

        def build(nn):
            return nn.ConvTranspose2d(cin, cout, kernel, stride, padding, output_padding, groups,
                                      bias, dilation)
    else:
        mode = data.draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
        assume(all(n + 2 * p >= d * (k - 1) + 1 for n, p, d, k in
                   zip(size, padding, dilation, kernel)))

        def build(nn):
            return nn.Conv2d(cin, cout, kernel, stride, padding, dilation, groups, bias, mode)
    x = np.random.default_rng(data.draw(st.integers(0, 2**16))).standard_normal((2, cin) + size)
    theirs = build(torch.nn)
    check_module(build(nn), theirs, [x], backend=backend, what=repr(theirs))


def test_conv_transpose_output_size(backend):
    ours, theirs = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1), \
        torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    load_torch_state_dict(ours.to(backend=backend), theirs.state_dict())
    x = np.random.default_rng(1).standard_normal((1, 2, 3, 3)).astype(np.float32)
    for size in ([5, 5], [6, 5], (1, 3, 6, 6)):
        out = ours(minigan.tensor(x, backend=backend), output_size=size)
        assert_close(out, theirs(torch.tensor(x), output_size=size), "float32", f"size {size}")
    with pytest.raises(ValueError, match=r"output size of \(7, 5\).*\(5, 5\) to \(6, 6\)"):
        ours(minigan.tensor(x, backend=backend), output_size=(7, 5))


@pytest.mark.parametrize("momentum", [None, 0.3])
def test_batchnorm_running_statistics_over_steps(momentum, backend):
    """Several training batches (cumulative average when momentum=None), then eval."""
    ours, theirs = nn.BatchNorm2d(3, momentum=momentum), torch.nn.BatchNorm2d(3, momentum=momentum)
    ours.to(minigan.float64, backend=backend)
    theirs.double()
    rng = np.random.default_rng(2)
    for step in range(4):
        x = rng.standard_normal((4, 3, 2, 2)) * (step + 1) + step
        ours(minigan.tensor(x, backend=backend))
        theirs(torch.tensor(x))
    for key, value in theirs.state_dict().items():
        assert_close(ours.state_dict()[key], value, "float64", f"buffer {key}")
    assert ours.num_batches_tracked.dtype == np.int64 and ours.num_batches_tracked.item() == 4
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((2, 3, 2, 2))
    assert_close(ours(minigan.tensor(x, backend=backend)), theirs(torch.tensor(x)), "float64",
                 "eval output")


def test_embedding_matches_torch(backend):
    idx = np.array([[0, 1, 5], [2, 1, 5]])
    for kwargs in ({}, {"padding_idx": 1, "scale_grad_by_freq": True}):
        ours, theirs = nn.Embedding(6, 3, **kwargs), torch.nn.Embedding(6, 3, **kwargs)
        assert repr(ours) == repr(theirs)
        check_module(ours, theirs, [idx], backend=backend, what=f"embedding {kwargs}")


def test_embedding_init_and_from_pretrained(backend):
    minigan.manual_seed(0)
    emb = nn.Embedding(2000, 16, padding_idx=-1, backend=backend)
    w = emb.weight.detach().numpy()
    assert emb.padding_idx == 1999 and not w[1999].any()
    assert abs(w[:1999].std() - 1) < 0.02 and abs(w[:1999].mean()) < 0.02
    table = minigan.randn(4, 2, backend=backend)
    frozen = nn.Embedding.from_pretrained(table)
    assert not frozen.weight.requires_grad
    np.testing.assert_array_equal(frozen(minigan.tensor([3, 0], backend=backend)).numpy(),
                                  table.numpy()[[3, 0]])


def test_dropout_statistics(backend):
    minigan.manual_seed(0)
    drop = nn.Dropout(0.25)
    x = minigan.ones(200, 200, backend=backend)
    y = drop(x).numpy()
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.01
    np.testing.assert_array_equal(drop.eval()(x).numpy(), x.numpy())
    with pytest.raises(ValueError, match="Dropout: probability has to be between 0 and 1"):
        nn.Dropout(1.5)


# --- default initializations ------------------------------------------------------------------
@pytest.mark.parametrize("build", [
    lambda nn: nn.Conv2d(16, 64, 3),
    lambda nn: nn.Conv2d(16, 64, (3, 2), groups=4),
    lambda nn: nn.ConvTranspose2d(64, 32, 4, groups=2),
    lambda nn: nn.Linear(48, 512),
], ids=["conv", "conv_groups", "conv_transpose_groups", "linear"])
def test_default_init_is_torchs_distribution(build, backend):
    """Weight and bias ~ U(-b, b), b = 1/sqrt(fan_in) with fan_in from torch's own rule."""
    minigan.manual_seed(0)
    ours, theirs = build(nn).to(backend=backend), build(torch.nn)
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(theirs.weight)
    bound = 1 / math.sqrt(fan_in)
    for name in ("weight", "bias"):
        w = getattr(ours, name).detach().numpy()
        assert w.shape == tuple(getattr(theirs, name).shape) and w.dtype == np.float32
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() > bound * (1 - 20 / w.size), f"{name} does not fill its range"
        assert abs(w.std() / (bound / math.sqrt(3)) - 1) < 0.1, name
        assert abs(w.mean()) < 0.1 * bound, name


@pytest.mark.parametrize("build", [
    lambda nn: nn.BatchNorm2d(5), lambda nn: nn.BatchNorm1d(4, affine=False),
    lambda nn: nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
    lambda nn: nn.LayerNorm((2, 3)), lambda nn: nn.GroupNorm(2, 6),
], ids=["bn2d", "bn1d", "instancenorm", "layernorm", "groupnorm"])
def test_norm_state_dict_equals_torchs(build, backend):
    ours, theirs = build(nn).to(backend=backend), build(torch.nn)
    sd = ours.state_dict()
    assert list(sd) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        assert sd[key].dtype == value.numpy().dtype, key
        np.testing.assert_array_equal(sd[key].numpy(), value.numpy(), err_msg=key)


INITS = {
    "uniform_": (lambda t: (t, -0.3, 0.7),),
    "normal_": (lambda t: (t, 0.5, 2.0),),
    "xavier_uniform_": (lambda t: (t, 1.5),),
    "xavier_normal_": (lambda t: (t,),),
    "kaiming_uniform_": (lambda t: (t, 0.2, "fan_out", "leaky_relu"),),
    "kaiming_normal_": (lambda t: (t, 0, "fan_in", "relu"),),
}


@pytest.mark.parametrize("name", sorted(INITS))
def test_init_functions_follow_torch(name, backend):
    """Same distribution as torch's (moments and range of large samples), in place."""
    minigan.manual_seed(1)
    torch.manual_seed(1)
    (args,) = INITS[name]
    ours = nn.Parameter(minigan.zeros(64, 32, 3, 3, backend=backend))
    theirs = torch.nn.Parameter(torch.zeros(64, 32, 3, 3))
    result = getattr(nn.init, name)(*args(ours))
    getattr(torch.nn.init, name)(*args(theirs))
    assert result is ours and ours.requires_grad and ours.dtype == np.float32
    a, b = ours.detach().numpy(), theirs.detach().numpy()
    assert abs(a.std() / b.std() - 1) < 0.03
    assert abs(a.mean() - b.mean()) < 0.03 * b.std()
    if "uniform" in name:
        assert abs(a.min() - b.min()) < 0.01 * b.std() and abs(a.max() - b.max()) < 0.01 * b.std()


def test_constant_inits_and_gain(backend):
    t = nn.Parameter(minigan.zeros(3, 2, backend=backend))
    nn.init.constant_(t, 0.25)
    assert (t.detach().numpy() == 0.25).all()
    nn.init.ones_(t)
    assert (t.detach().numpy() == 1).all()
    nn.init.zeros_(t)
    assert not t.detach().numpy().any()
    for args in [("linear",), ("conv2d",), ("sigmoid",), ("tanh",), ("relu",), ("selu",),
                 ("leaky_relu",), ("leaky_relu", 0.2), ("conv_transpose2d",)]:
        assert nn.init.calculate_gain(*args) == pytest.approx(torch.nn.init.calculate_gain(*args))
    with pytest.raises(ValueError, match="fewer than 2 dims"):
        nn.init.xavier_uniform_(minigan.zeros(3, backend=backend))


@pytest.mark.parametrize("shape", [(3, 8), (8, 3), (4, 2, 3, 3)])
def test_orthogonal_init(shape, backend):
    t = nn.Parameter(minigan.zeros(*shape, backend=backend))
    nn.init.orthogonal_(t, gain=2.0)
    flat = t.detach().numpy().reshape(shape[0], -1).astype(np.float64)
    small = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(small, 4 * np.eye(len(small)), atol=1e-5)


# --- Parameter and Module mechanics ------------------------------------------------------------
def test_parameter(backend):
    data = minigan.randn(2, 3, backend=backend)
    p = nn.Parameter(data)
    assert isinstance(p, minigan.Tensor) and p.requires_grad and p.is_leaf
    assert p.array is data.array and p.backend == backend
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert type(p * 2) is minigan.Tensor
    assert not nn.Parameter(data, requires_grad=False).requires_grad
    with pytest.raises(TypeError, match="only floating tensors can require grad"):
        nn.Parameter(minigan.arange(3, backend=backend))


def _net(nn):
    """One architecture exercising every way to register things, built with either library."""

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1)
            self.register_buffer("scale", torch.ones(2) if nn is torch.nn else
                                 minigan.ones(2))
            self.register_buffer("cache", torch.zeros(1) if nn is torch.nn else
                                 minigan.zeros(1), persistent=False)

        def forward(self, x):
            return self.conv(x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            shared = nn.Linear(3, 3)
            self.head = nn.Sequential(OrderedDict([("fc", shared), ("act", nn.ReLU())]))
            self.blocks = nn.ModuleList([Block(), Block()])
            self.extra = nn.ModuleDict({"b": nn.BatchNorm1d(3), "a": shared})
            self.alpha = nn.Parameter(torch.zeros(2) if nn is torch.nn else minigan.zeros(2))
            self.register_parameter("missing", None)

    return Net()


def test_traversal_and_state_dict_match_torch():
    ours, theirs = _net(nn), _net(torch.nn)
    for method in ("named_parameters", "named_buffers", "named_modules", "named_children"):
        assert [n for n, _ in getattr(ours, method)()] == \
            [n for n, _ in getattr(theirs, method)()], method
    assert [n for n, _ in ours.named_parameters(remove_duplicate=False)] == \
        [n for n, _ in theirs.named_parameters(remove_duplicate=False)]
    assert [n for n, _ in ours.named_parameters(prefix="m", recurse=False)] == ["m.alpha"]
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))
    assert len(list(ours.modules())) == len(list(theirs.modules()))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)
    assert ours.get_submodule("blocks.1.conv") is ours.blocks[1].conv


def test_setattr_registration_rules(backend):
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'weight'"):
        m.weight = minigan.zeros(2, 2)
    m.bias = None
    assert m.bias is None and "bias" not in m.state_dict()
    m.scale = minigan.ones(1)  # a plain attribute, not registered
    assert "scale" not in m.state_dict()
    m.register_buffer("count", minigan.zeros(1))
    m.count = minigan.ones(1)
    assert m.state_dict()["count"].item() == 1
    with pytest.raises(TypeError, match="cannot assign 'int' as buffer 'count'"):
        m.count = 3
    with pytest.raises(KeyError, match="attribute 'scale' already exists"):
        m.register_buffer("scale", minigan.ones(1))
    with pytest.raises(KeyError, match="must be non-empty and contain no '.'"):
        m.register_parameter("a.b", None)
    del m.count
    assert "count" not in m.state_dict() and not hasattr(m, "count")
    seq = nn.Sequential(nn.ReLU(), nn.Tanh())
    seq[0] = nn.Sigmoid()
    assert [type(c).__name__ for c in seq] == ["Sigmoid", "Tanh"]

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(minigan.zeros(1))

    with pytest.raises(AttributeError, match=r"before Module.__init__\(\) call"):
        Early()


def test_modes_grads_and_apply(backend):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout()).to(backend=backend)
    assert model.eval() is model and not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model(minigan.randn(5, 3, backend=backend)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(not p.grad.numpy().any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "BatchNorm1d", "Dropout", "Sequential"]


def test_to_dtype_keeps_objects_and_integer_buffers(backend):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    weight = model[0].weight
    model(minigan.randn(5, 3)).sum().backward()
    model.to(backend=backend).double()
    assert model[0].weight is weight and weight.backend == backend
    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float64)}
    assert weight.grad.dtype == np.float64
    assert model[1].running_var.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64
    assert model(minigan.randn(5, 3, dtype=minigan.float64, backend=backend)).dtype == np.float64
    assert model.float()[0].weight.dtype == np.float32
    with pytest.raises(TypeError, match="only floating dtypes"):
        model.to(minigan.int64)


def test_deepcopy_and_pickle(backend):
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3)).to(backend=backend)
    x = minigan.randn(2, 2, 4, 4, backend=backend)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert clone[0].weight is not model[0].weight
        assert isinstance(clone[0].weight, nn.Parameter) and clone[0].weight.requires_grad
        np.testing.assert_array_equal(clone(x).detach().numpy(), model(x).detach().numpy())


def test_forward_hooks():
    lin = nn.Linear(2, 2)
    calls = []
    pre = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    post = lin.register_forward_hook(lambda m, args, out: calls.append(out.shape))
    out = lin(minigan.ones(1, 2))
    np.testing.assert_allclose(out.detach().numpy(), lin.bias.detach().numpy()[None])
    assert calls == [(1, 2)]
    pre.remove()
    post.remove()
    lin(minigan.ones(1, 2))
    assert calls == [(1, 2)]


def test_functional_call_routes_gradients_to_the_given_tensors(backend):
    lin = nn.Linear(3, 2).to(backend=backend)
    w = minigan.randn(2, 3, requires_grad=True, backend=backend)
    x = minigan.randn(4, 3, backend=backend)
    out = functional_call(lin, {"weight": w}, x)
    out.sum().backward()
    assert w.grad is not None and lin.weight.grad is None and lin.bias.grad is not None
    assert lin._parameters["weight"] is not w
    with pytest.raises(KeyError, match="no parameter or buffer 'nope'"):
        functional_call(lin, {"nope": w}, x)


def test_containers_match_torch():
    def build(nn):
        seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
        seq.append(nn.Tanh())
        del seq[1]
        items = nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.ReLU()])
        items.insert(1, nn.Tanh())
        items += [nn.Sigmoid()]
        table = nn.ModuleDict({"x": nn.Tanh()})
        table["y"] = nn.ReLU()
        table.update([("z", nn.Identity())])
        return nn.ModuleList([seq, seq[1:], items, table])

    ours, theirs = build(nn), build(torch.nn)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert len(ours[0]) == 3 and len(ours[2]) == 5 and "y" in ours[3]
    assert list(ours[3].keys()) == ["x", "y", "z"] and ours[3].pop("x") is not None
    with pytest.raises(IndexError, match="index 7 is out of range for 5 modules"):
        ours[2][7]


# --- state_dicts and weights moving between torch and minigan ---------------------------------
def _generator(nn):
    """A small DCGAN generator: (N, 8, 1, 1) -> (N, 3, 8, 8)."""
    return nn.Sequential(nn.ConvTranspose2d(8, 16, 4, 1, 0, bias=False), nn.BatchNorm2d(16),
                         nn.ReLU(True), nn.ConvTranspose2d(16, 8, 4, 2, 1, bias=False),
                         nn.BatchNorm2d(8), nn.ReLU(True), nn.ConvTranspose2d(8, 3, 3, 1, 1),
                         nn.Tanh())


def _discriminator(nn):
    """A small DCGAN discriminator: (N, 3, 8, 8) -> (N, 1, 1, 1)."""
    return nn.Sequential(nn.Conv2d(3, 8, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
                         nn.Conv2d(8, 16, 4, 2, 1, bias=False), nn.BatchNorm2d(16),
                         nn.LeakyReLU(0.2, True), nn.Conv2d(16, 1, 2, 1, 0))


def test_dcgan_state_dict_keys_shapes_dtypes_match_torch():
    for build in (_generator, _discriminator):
        ours, theirs = build(nn).state_dict(), build(torch.nn).state_dict()
        assert list(ours) == list(theirs)
        assert "1.num_batches_tracked" in ours or "3.num_batches_tracked" in ours
        for key, value in theirs.items():
            assert ours[key].shape == tuple(value.shape), key
            assert ours[key].dtype == value.numpy().dtype, key
        assert repr(build(nn)) == repr(build(torch.nn))


def _gan_step(G, D, z):
    """D(G(z)) in the models' current mode and a loss that reaches every parameter."""
    out = D(G(z))
    return out, (out * out).mean()


def _compare_gan(G, D, tG, tD, rng, backend, what):
    z = rng.standard_normal((4, 8, 1, 1))
    out, loss = _gan_step(G, D, minigan.tensor(z, backend=backend))
    t_out, t_loss = _gan_step(tG, tD, torch.tensor(z))
    assert_close(out, t_out, "float64", f"{what}: D(G(z))")
    loss.backward()
    t_loss.backward()
    for ours, theirs in ((G, tG), (D, tD)):
        params = dict(ours.named_parameters())
        for name, p in theirs.named_parameters():
            assert_close(params[name].grad, p.grad, "float64", f"{what}: gradient of {name}")
        sd = ours.state_dict()
        for name, b in theirs.named_buffers():
            assert_close(sd[name], b, "float64", f"{what}: buffer {name}")
    for model in (G, D, tG, tD):
        model.eval()
    z = rng.standard_normal((2, 8, 1, 1))
    assert_close(D(G(minigan.tensor(z, backend=backend))), tD(tG(torch.tensor(z))), "float64",
                 f"{what}: eval D(G(z))")


def test_torch_weights_load_into_minigan(backend):
    torch.manual_seed(0)
    tG, tD = _generator(torch.nn).double(), _discriminator(torch.nn).double()
    tD(tG(torch.randn(4, 8, 1, 1, dtype=torch.float64)))  # move the running statistics
    G, D = _generator(nn).to(backend=backend), _discriminator(nn).to(backend=backend)
    assert load_torch_state_dict(G, tG.state_dict()) == ([], [])
    load_torch_state_dict(D, tD.state_dict())
    assert G[0].weight.dtype == np.float32  # loading casts to the model's dtype
    G.double()
    D.double()
    load_torch_state_dict(G, tG.state_dict())
    load_torch_state_dict(D, tD.state_dict())
    assert G[1].num_batches_tracked.item() == 1
    _compare_gan(G, D, tG, tD, np.random.default_rng(3), backend, "torch -> minigan")


def test_minigan_weights_load_into_torch(backend):
    minigan.manual_seed(0)
    G = _generator(nn).to(minigan.float64, backend=backend)
    D = _discriminator(nn).to(minigan.float64, backend=backend)
    D(G(minigan.randn(4, 8, 1, 1, dtype=minigan.float64, backend=backend)))
    tG, tD = _generator(torch.nn).double(), _discriminator(torch.nn).double()
    tG.load_state_dict(to_torch_state_dict(G.state_dict()))
    tD.load_state_dict(to_torch_state_dict(D.state_dict()))
    assert tD[3].num_batches_tracked.item() == 1
    G.zero_grad()
    D.zero_grad()
    _compare_gan(G, D, tG, tD, np.random.default_rng(4), backend, "minigan -> torch")


def test_interop_round_trip_keeps_dtypes_and_copies():
    theirs = OrderedDict([("a", torch.randn(2, 3)), ("b", torch.randn(3, dtype=torch.float64)),
                          ("n", torch.tensor(7))])
    ours = from_torch_state_dict(theirs)
    assert [v.dtype for v in ours.values()] == [np.float32, np.float64, np.int64]
    back = to_torch_state_dict(ours)
    for key, value in theirs.items():
        assert back[key].dtype == value.dtype and torch.equal(back[key], value)
    theirs["a"].zero_()
    assert ours["a"].numpy().any() and back["a"].any()
    with pytest.raises(TypeError, match="'h' has dtype torch.bfloat16"):
        from_torch_state_dict({"h": torch.zeros(2, dtype=torch.bfloat16)})


def test_load_state_dict_errors_name_keys_and_shapes():
    model = nn.Sequential(OrderedDict([("conv", nn.Conv2d(3, 8, 3)), ("bn", nn.BatchNorm2d(8))]))
    sd = dict(model.state_dict())
    sd["conv.weight"] = minigan.zeros(4, 3, 3, 3)
    del sd["bn.running_var"]
    sd["bn.extra"] = minigan.zeros(1)
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(sd)
    message = str(info.value)
    assert "load_state_dict for Sequential" in message
    assert "missing keys ['bn.running_var']" in message
    assert "unexpected keys ['bn.extra']" in message
    assert "shape mismatch for 'conv.weight': checkpoint (4, 3, 3, 3) vs model (8, 3, 3, 3)" \
        in message
    sd["conv.weight"] = minigan.ones(8, 3, 3, 3, dtype=minigan.float64)
    result = model.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["bn.running_var"] and result.unexpected_keys == ["bn.extra"]
    assert model.conv.weight.dtype == np.float32 and (model.conv.weight.detach().numpy() == 1).all()
    assert model.conv.weight.array is not sd["conv.weight"].array
