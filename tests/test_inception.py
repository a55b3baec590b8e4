"""The FID InceptionV3 (minigan.metrics.inception) against a torch network of the same
architecture, written here from the published description of the pytorch-fid variant (its
module names are the keys of pytorch-fid's weights file), from the same random weights.

The full network runs on the numpy backend only: at 299x299 it is ~6 GFLOP per image, and
without a GPU the triton backend runs under Triton's interpreter (seconds per small block).
Each block's forward runs on every backend at small sizes (test_block_forward_on_every_backend).
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch import nn as tnn
from torch_ref import assert_close, check_module

import minigan
from minigan.interop import load_torch_state_dict
from minigan.metrics import inception as inc

# --- the torch reference -------------------------------------------------------------------


class TBasic(tnn.Module):
    def __init__(self, cin, cout, k, stride=1, padding=0):
        super().__init__()
        self.conv = tnn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=False)
        self.bn = tnn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


def _avg_exclude_pad(x):
    return TF.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def _chain(module, names, x):
    for name in names:
        x = getattr(module, name)(x)
    return x


R7, C7 = dict(k=(1, 7), padding=(0, 3)), dict(k=(7, 1), padding=(3, 0))
R3, C3 = dict(k=(1, 3), padding=(0, 1)), dict(k=(3, 1), padding=(1, 0))


class TA(tnn.Module):
    def __init__(self, cin, pool_features):
        super().__init__()
        for name, args in [("branch1x1", (cin, 64, 1)), ("branch5x5_1", (cin, 48, 1)),
                           ("branch5x5_2", (48, 64, 5, 1, 2)), ("branch3x3dbl_1", (cin, 64, 1)),
                           ("branch3x3dbl_2", (64, 96, 3, 1, 1)),
                           ("branch3x3dbl_3", (96, 96, 3, 1, 1)),
                           ("branch_pool", (cin, pool_features, 1))]:
            setattr(self, name, TBasic(*args))

    def forward(self, x):
        return torch.cat([self.branch1x1(x), _chain(self, ["branch5x5_1", "branch5x5_2"], x),
                          _chain(self, [f"branch3x3dbl_{i}" for i in (1, 2, 3)], x),
                          self.branch_pool(_avg_exclude_pad(x))], 1)


class TB(tnn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = TBasic(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = TBasic(cin, 64, 1)
        self.branch3x3dbl_2 = TBasic(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = TBasic(96, 96, 3, stride=2)

    def forward(self, x):
        return torch.cat([self.branch3x3(x),
                          _chain(self, [f"branch3x3dbl_{i}" for i in (1, 2, 3)], x),
                          TF.max_pool2d(x, 3, stride=2)], 1)


class TC(tnn.Module):
    def __init__(self, cin, c7):
        super().__init__()
        self.branch1x1 = TBasic(cin, 192, 1)
        self.branch7x7_1 = TBasic(cin, c7, 1)
        self.branch7x7_2 = TBasic(c7, c7, **R7)
        self.branch7x7_3 = TBasic(c7, 192, **C7)
        self.branch7x7dbl_1 = TBasic(cin, c7, 1)
        for i, (cout, kind) in enumerate([(c7, C7), (c7, R7), (c7, C7), (192, R7)], start=2):
            setattr(self, f"branch7x7dbl_{i}", TBasic(c7, cout, **kind))
        self.branch_pool = TBasic(cin, 192, 1)

    def forward(self, x):
        return torch.cat([self.branch1x1(x),
                          _chain(self, [f"branch7x7_{i}" for i in (1, 2, 3)], x),
                          _chain(self, [f"branch7x7dbl_{i}" for i in range(1, 6)], x),
                          self.branch_pool(_avg_exclude_pad(x))], 1)


class TD(tnn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3_1 = TBasic(cin, 192, 1)
        self.branch3x3_2 = TBasic(192, 320, 3, stride=2)
        self.branch7x7x3_1 = TBasic(cin, 192, 1)
        self.branch7x7x3_2 = TBasic(192, 192, **R7)
        self.branch7x7x3_3 = TBasic(192, 192, **C7)
        self.branch7x7x3_4 = TBasic(192, 192, 3, stride=2)

    def forward(self, x):
        return torch.cat([_chain(self, ["branch3x3_1", "branch3x3_2"], x),
                          _chain(self, [f"branch7x7x3_{i}" for i in (1, 2, 3, 4)], x),
                          TF.max_pool2d(x, 3, stride=2)], 1)


class TE(tnn.Module):
    """Mixed_7b (avg pool without the padding) or Mixed_7c (max pool)."""

    def __init__(self, cin, max_pool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = TBasic(cin, 320, 1)
        self.branch3x3_1 = TBasic(cin, 384, 1)
        self.branch3x3_2a = TBasic(384, 384, **R3)
        self.branch3x3_2b = TBasic(384, 384, **C3)
        self.branch3x3dbl_1 = TBasic(cin, 448, 1)
        self.branch3x3dbl_2 = TBasic(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = TBasic(384, 384, **R3)
        self.branch3x3dbl_3b = TBasic(384, 384, **C3)
        self.branch_pool = TBasic(cin, 192, 1)

    def forward(self, x):
        a = self.branch3x3_1(x)
        b = _chain(self, ["branch3x3dbl_1", "branch3x3dbl_2"], x)
        pooled = TF.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool \
            else _avg_exclude_pad(x)
        return torch.cat([self.branch1x1(x), self.branch3x3_2a(a), self.branch3x3_2b(a),
                          self.branch3x3dbl_3a(b), self.branch3x3dbl_3b(b),
                          self.branch_pool(pooled)], 1)


class TInception(tnn.Module):
    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = TBasic(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = TBasic(32, 32, 3)
        self.Conv2d_2b_3x3 = TBasic(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = TBasic(64, 80, 1)
        self.Conv2d_4a_3x3 = TBasic(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = TA(192, 32), TA(256, 64), TA(288, 64)
        self.Mixed_6a = TB(288)
        self.Mixed_6b, self.Mixed_6c = TC(768, 128), TC(768, 160)
        self.Mixed_6d, self.Mixed_6e = TC(768, 160), TC(768, 192)
        self.Mixed_7a = TD(768)
        self.Mixed_7b, self.Mixed_7c = TE(1280, max_pool=False), TE(2048, max_pool=True)
        self.fc = tnn.Linear(2048, 1008)

    def forward(self, images):
        """pytorch-fid's path for images in [-1, 1]: bilinear resize to 299 (align_corners
        False), the network, the global average pool; (features, logits)."""
        x = TF.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False)
        x = _chain(self, ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"], x)
        x = _chain(self, ["Conv2d_3b_1x1", "Conv2d_4a_3x3"], TF.max_pool2d(x, 3, stride=2))
        x = TF.max_pool2d(x, 3, stride=2)
        x = _chain(self, [f"Mixed_{n}" for n in ("5b", "5c", "5d", "6a", "6b", "6c", "6d",
                                                 "6e", "7a", "7b", "7c")], x)
        feats = TF.adaptive_avg_pool2d(x, 1).flatten(1)
        return feats, self.fc(feats)


def randomize(module: tnn.Module, seed: int) -> tnn.Module:
    """Random weights that keep activations O(1) through the 20-odd layers (He-normal
    convolutions; BatchNorm with random affine parameters AND random running statistics,
    which eval mode uses), so the comparison is not of vanishing numbers."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, tnn.Conv2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g)
                               * (2.0 / m.weight[0].numel()) ** 0.5)
            elif isinstance(m, tnn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(0.5 + torch.rand(n, generator=g))
                m.bias.copy_(0.2 * torch.randn(n, generator=g))
                m.running_mean.copy_(0.2 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=g))
                m.num_batches_tracked.fill_(int(torch.randint(0, 1000, (), generator=g)))
            elif isinstance(m, tnn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / m.in_features ** 0.5)
                m.bias.copy_(0.1 * torch.randn(m.out_features, generator=g))
    return module.eval()


# --- blocks at small sizes (outputs and first-order gradients) -------------------------------
BLOCKS = {
    "A": (lambda: TA(8, 4), lambda: inc.FIDInceptionA(8, 4), (2, 8, 5, 6)),
    "B": (lambda: TB(8), lambda: inc.InceptionB(8), (2, 8, 7, 8)),
    "C": (lambda: TC(8, 4), lambda: inc.FIDInceptionC(8, 4), (2, 8, 7, 5)),
    "D": (lambda: TD(8), lambda: inc.InceptionD(8), (1, 8, 9, 7)),
    "E_1": (lambda: TE(8, False), lambda: inc.FIDInceptionE(8, "avg"), (1, 8, 4, 5)),
    "E_2": (lambda: TE(8, True), lambda: inc.FIDInceptionE(8, "max"), (1, 8, 4, 5)),
}


@pytest.mark.parametrize("block", list(BLOCKS))
def test_block_matches_torch(block):
    """Outputs and the gradients w.r.t. input and every weight, float64 (float32 forwards:
    the next test)."""
    make_torch, make_ours, shape = BLOCKS[block]
    x = np.random.default_rng(1).standard_normal(shape)
    check_module(make_ours().eval(), randomize(make_torch(), seed=2), [x], dtype="float64",
                 second_order=False, what=f"Inception block {block}")


@pytest.mark.parametrize("block", ["A", "C", "E_1", "E_2"])
def test_block_forward_on_every_backend(block, backend):
    """Forward only, float32, of the blocks with the FID pools (B and D are torchvision's
    own; the float64 test above has them): small enough for the triton interpreter."""
    make_torch, make_ours, shape = BLOCKS[block]
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    net = randomize(make_torch(), seed=2)
    ours = make_ours().to(backend=backend).eval()
    load_torch_state_dict(ours, net.state_dict())
    with minigan.no_grad(), torch.no_grad():
        assert_close(ours(minigan.tensor(x, backend=backend)), net(torch.from_numpy(x)),
                     "float32", f"Inception block {block} on {backend}")


def test_avg_pool_excludes_padding():
    x = minigan.tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    out = inc.avg_pool2d_exclude_pad(x).numpy()
    assert out[0, 0, 0, 0] == pytest.approx((0 + 1 + 4 + 5) / 4)  # a corner: 4 pixels
    assert out[0, 0, 0, 1] == pytest.approx((0 + 1 + 2 + 4 + 5 + 6) / 6)  # an edge: 6


# --- preprocessing ---------------------------------------------------------------------------
def test_preprocess_matches_torch_resize_and_range():
    rng = np.random.default_rng(3)
    x01 = rng.random((2, 3, 20, 28))
    ref = TF.interpolate(torch.from_numpy(x01), size=(299, 299), mode="bilinear",
                         align_corners=False) * 2 - 1
    model01 = inc.InceptionV3(value_range=(0, 1), dtype="float64")
    assert_close(model01.preprocess(minigan.tensor(x01)), ref, "float64", "resize, [0,1]")
    model = inc.InceptionV3(dtype="float64")  # default: images in [-1, 1]
    assert_close(model.preprocess(minigan.tensor(x01 * 2 - 1)), ref, "float64", "resize")
    # grayscale is repeated to three channels; 299x299 input is not resampled
    gray = rng.uniform(-1, 1, (2, 1, 299, 299))
    out = model.preprocess(minigan.tensor(gray)).numpy()
    assert out.shape == (2, 3, 299, 299)
    np.testing.assert_array_equal(out, np.repeat(gray, 3, axis=1))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model.preprocess(minigan.zeros(1, 2, 8, 8, dtype="float64"))
    with pytest.raises(ValueError, match="low < high"):
        inc.InceptionV3(value_range=(1, 0))


# --- the whole network from a weights file ---------------------------------------------------
@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A random torch InceptionV3 (float32, like the real file) and its .pth."""
    folder = tmp_path_factory.mktemp("inception")
    net = randomize(TInception(), seed=4)
    path = folder / inc.FID_WEIGHTS_NAME
    torch.save(net.state_dict(), path)
    return net, path


@pytest.fixture(scope="module")
def converted(weights, tmp_path_factory):
    """The .pth converted by the shipped command, run as a user runs it."""
    out = tmp_path_factory.mktemp("converted") / "inception-2015-12-05.safetensors"
    run = subprocess.run([sys.executable, "-m", "minigan.metrics.inception", "convert",
                          str(weights[1]), str(out)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"--inception-weights {out}" in run.stdout
    return out


def _images(n, seed=5, size=(37, 45)):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 3, *size))


def _torch_outputs(net, x, dtype):
    with torch.no_grad():
        f, logits = net.to(getattr(torch, dtype))(torch.from_numpy(x.astype(dtype)))
    return f, logits


def test_full_network_float64_from_pth(weights):
    net, path = weights
    model = inc.load_inception(path, dtype="float64")
    x = _images(1)
    t0 = time.perf_counter()
    with minigan.no_grad():
        f, logits = model(minigan.tensor(x), return_logits=True)
    seconds = time.perf_counter() - t0
    print(f"\nInceptionV3 299x299 forward, numpy float64, batch 1: {seconds:.2f} s")
    tf, tlogits = _torch_outputs(net, x, "float64")
    assert tf.std() > 0.1 and (tf > 0).float().mean() > 0.5  # not a degenerate comparison
    assert_close(f, tf, "float64", "features")
    assert_close(logits, tlogits, "float64", "logits")
    unbiased = model.logits(f, bias=False).numpy()
    np.testing.assert_allclose(unbiased, (tlogits - net.fc.bias.detach()).numpy(), rtol=1e-10,
                               atol=1e-10)


def test_full_network_float32_from_converted_safetensors(weights, converted):
    net, _ = weights
    model = inc.load_inception(converted)  # minigan's default dtype: float32
    assert model.fc.weight.dtype == np.float32
    x = _images(2, seed=6)
    t0 = time.perf_counter()
    f, logits = inception_out = inc.inception_features(model, x.astype(np.float32),
                                                       batch_size=2, logits=True)
    seconds = time.perf_counter() - t0
    print(f"\nInceptionV3 299x299 forward, numpy float32, batch 2: {seconds:.2f} s")
    assert all(a.dtype == np.float32 for a in inception_out)
    tf, tlogits = _torch_outputs(net, x, "float32")
    # float32: ~20 layers deep, each convolution a sum of up to 4,032 products taken in
    # another order (im2col + BLAS GEMM here, oneDNN in torch), the resize as two matmuls
    # and the pool as a mean: the rounding differences compound layer by layer. Measured:
    # max |diff| ~5e-7 of the largest |value| for features and logits (float64: ~1e-15). The
    # standard float32 tolerance of torch_ref (2e-5 of the largest |value| + 2e-4 relative)
    # is ~40x that, headroom for other BLAS builds and thread counts.
    assert_close(f, tf, "float32", "features")
    assert_close(logits, tlogits, "float32", "logits")


def test_batches_iterables_grayscale_and_01_range(weights):
    """An iterable of batches (numpy and minigan), split further by batch_size, of grayscale
    images in [0, 1], against torch on the same images repeated to three channels and mapped
    to [-1, 1] (float32, the tolerance of the test above)."""
    net, path = weights
    model = inc.load_inception(path, value_range=(0, 1))
    gray = np.random.default_rng(7).random((2, 1, 16, 16)).astype(np.float32)
    f = inc.inception_features(model, [gray[:1], minigan.tensor(gray[1:])], batch_size=1)
    tf, _ = _torch_outputs(net, np.repeat(gray * 2 - 1, 3, axis=1), "float32")
    assert_close(f, tf, "float32", "features (grayscale, [0, 1])")
    empty = inc.inception_features(model, np.zeros((0, 3, 8, 8), np.float32), logits=True)
    assert empty[0].shape == (0, 2048) and empty[1].shape == (0, 1008)
    with pytest.raises(TypeError, match="uint8"):
        inc.inception_features(model, np.zeros((1, 3, 8, 8), np.uint8))


# --- the converter -------------------------------------------------------------------------
def test_converter_round_trip(weights, converted):
    net, path = weights
    out = converted
    from_pth, from_st = inc.read_inception_weights(path), inc.read_inception_weights(out)
    assert list(from_st) == list(from_pth) == list(net.state_dict())
    for key, value in net.state_dict().items():
        assert from_st[key].dtype == from_pth[key].dtype == value.numpy().dtype, key
        np.testing.assert_array_equal(from_st[key], value.numpy(), err_msg=key)
    from safetensors import safe_open
    with safe_open(str(out), framework="np") as f:
        assert f.metadata()["format"] == inc.SAFETENSORS_FORMAT


# --- errors --------------------------------------------------------------------------------
def _error(path) -> str:
    with pytest.raises(inc.InceptionWeightsError) as info:
        inc.load_inception(path)
    message = str(info.value)
    assert "\n" not in message
    if path is not None:
        assert str(path) in message
    return message


def test_no_weights_says_what_to_download():
    message = _error(None)
    assert inc.FID_WEIGHTS_URL in message and "--inception-weights" in message
    assert "python -m minigan.metrics.inception convert" in message


def test_wrong_files_are_named_with_the_problem(tmp_path):
    assert "no such file" in _error(tmp_path / "absent.pth")
    assert "is a directory" in _error(tmp_path)
    (tmp_path / "empty.pth").write_bytes(b"")
    assert "empty file" in _error(tmp_path / "empty.pth")
    (tmp_path / "notes.pth").write_text("not weights at all\n")
    assert "not a torch weights file" in _error(tmp_path / "notes.pth")
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    assert "not a readable safetensors file" in _error(tmp_path / "bad.safetensors")
    torch.save([torch.zeros(2)], tmp_path / "list.pth")
    assert "not a state_dict" in _error(tmp_path / "list.pth")
    # torchvision's ImageNet Inception: 1000 classes, AuxLogits
    torch.save({"fc.weight": torch.zeros(1000, 2048), "AuxLogits.fc.weight": torch.zeros(3)},
               tmp_path / "imagenet.pth")
    message = _error(tmp_path / "imagenet.pth")
    assert "keys missing (Conv2d_1a_3x3.conv.weight" in message
    assert "unexpected keys (AuxLogits.fc.weight)" in message
    assert "fc.weight (1000, 2048) (expected (1008, 2048))" in message
    assert "torchvision's ImageNet InceptionV3" in message


def test_one_missing_key_and_one_wrong_shape(weights, tmp_path):
    net, _ = weights
    state = net.state_dict()
    # older torch saved no num_batches_tracked (eval mode never reads it): such a file loads
    no_counts = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    from safetensors.numpy import save_file
    save_file({k: v.numpy() for k, v in no_counts.items()}, tmp_path / "no_counts.safetensors")
    arrays = inc.read_inception_weights(tmp_path / "no_counts.safetensors")
    assert list(arrays) == list(state)
    assert arrays["Mixed_7c.branch_pool.bn.num_batches_tracked"] == 0
    del no_counts["Mixed_6c.branch7x7_2.bn.running_var"]
    no_counts["Mixed_7b.branch_pool.conv.weight"] = torch.zeros(192, 1280, 3, 3)
    torch.save(no_counts, tmp_path / "broken.pth")
    message = _error(tmp_path / "broken.pth")
    assert "1 of 472 keys missing (Mixed_6c.branch7x7_2.bn.running_var)" in message
    assert ("1 wrong shapes (Mixed_7b.branch_pool.conv.weight (192, 1280, 3, 3) "
            "(expected (192, 1280, 1, 1)))") in message
    assert "unexpected" not in message
    code = inc.main(["convert", str(tmp_path / "broken.pth"), str(tmp_path / "o.safetensors")])
    assert code == 2 and not (tmp_path / "o.safetensors").exists()
