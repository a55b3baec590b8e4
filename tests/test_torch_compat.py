"""torch users' scripts on minigan: the same source text runs twice, once as written (torch)
and once with its imports swapped to minigan, from the same weights (the torch run saves them
with torch.save, the minigan run loads them with minigan.load, as the DCGAN example's --netG
flag does) and the same data; the results are compared. Then the aliasing rules (.data,
detach(), views, in-place writes, the version counter) against torch, case by case.

float32 tolerance: a few optimizer steps amplify summation-order differences (cuDNN-free
torch CPU vs minigan's im2col GEMMs, ~1e-7 relative per op); Adam divides by the gradient's
RMS, so a weight whose gradient is ~0 can move by up to lr per step on one side only. Losses are
compared at 1e-4 relative and weights at 1e-4 relative + 2 * lr absolute.
"""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest
import torch

import minigan

SWAPS = [
    (r"^import torch\.nn\.functional as F$", "import minigan.nn.functional as F"),
    (r"^import torch\.nn as nn$", "import minigan.nn as nn"),
    (r"^import torch\.optim as optim$", "import minigan.optim as optim"),
    (r"^import torch$", "import minigan as torch"),
    (r"^from torch\.autograd import (.*)$", r"from minigan.autograd import \1"),
    (r"^from torch\.utils\.data import (.*)$", r"from minigan.utils.data import \1"),
    (r"^from torch import (.*)$", r"from minigan import \1"),
    (r"^import torch\.autograd as autograd$", "import minigan.autograd as autograd"),
]


def swap_imports(src: str) -> str:
    """What a user does: change the import lines, nothing else."""
    out = []
    for line in textwrap.dedent(src).splitlines():
        for pattern, repl in SWAPS:
            new = re.sub(pattern, repl, line.strip())
            if new != line.strip():
                line = line[:len(line) - len(line.lstrip())] + new
                break
        out.append(line)
    return "\n".join(out)


def run_script(src: str, lib: str, **inputs) -> dict:
    text = textwrap.dedent(src) if lib == "torch" else swap_imports(src)
    if lib != "torch":
        assert "import torch\n" not in text + "\n" and "torch." not in text.split("\n")[0]
    ns = {"__name__": "__script__", "OUT": {}, **inputs}
    exec(compile(text, f"<{lib} script>", "exec"), ns)  # noqa: S102 - the test's own text
    return ns["OUT"]


def assert_same(a, b, what, rtol=1e-4, atol=0.0):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), what
        for k in a:
            assert_same(a[k], b[k], f"{what}[{k}]", rtol, atol)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), what
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{what}[{i}]", rtol, atol)
    else:
        np.testing.assert_allclose(np.asarray(a, dtype=np.float64),
                                   np.asarray(b, dtype=np.float64), rtol=rtol, atol=atol,
                                   err_msg=what)


def both(src, tmp_path, **inputs):
    init = {"SAVE_INIT": str(tmp_path / "init.pth"), "LOAD_INIT": ""}
    ref = run_script(src, "torch", **inputs, **init)
    init = {"SAVE_INIT": "", "LOAD_INIT": str(tmp_path / "init.pth")}
    got = run_script(src, "minigan", **inputs, **init)
    return ref, got


def images(n_batches, b, c, hw, seed=0):
    rng = np.random.default_rng(seed)
    return [np.tanh(rng.standard_normal((b, c, hw, hw))).astype(np.float32)
            for _ in range(n_batches)]


# --- the DCGAN example (pytorch/examples), its loop as written --------------------------------
DCGAN = '''
import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

nz, ngf, ndf, nc = 8, 4, 4, 1
device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find('Conv') != -1:
        m.weight.data.normal_(0.0, 0.02)
    elif classname.find('BatchNorm') != -1:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


class Generator(nn.Module):
    def __init__(self):
        super(Generator, self).__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, nc, 4, 2, 1, bias=False),
            nn.Tanh()
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self):
        super(Discriminator, self).__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False),
            nn.Sigmoid()
        )

    def forward(self, input):
        output = self.main(input)
        return output.view(-1, 1).squeeze(1)


netG = Generator().to(device)
netG.apply(weights_init)
netD = Discriminator().to(device)
netD.apply(weights_init)
w = netG.main[0].weight.data
OUT["init_std"] = [float(w.std()), float(netD.main[0].weight.data.std())]
OUT["bn_bias"] = float(netG.main[1].bias.detach().abs().sum())
if SAVE_INIT:
    torch.save({"G": netG.state_dict(), "D": netD.state_dict()}, SAVE_INIT)
if LOAD_INIT:
    init = torch.load(LOAD_INIT)
    netG.load_state_dict(init["G"])
    netD.load_state_dict(init["D"])

criterion = nn.BCELoss()
fixed_noise = torch.from_numpy(NOISE[0]).to(device)
real_label = 1
fake_label = 0
optimizerD = optim.Adam(netD.parameters(), lr=0.0002, betas=(0.5, 0.999))
optimizerG = optim.Adam(netG.parameters(), lr=0.0002, betas=(0.5, 0.999))
dataloader = DataLoader(TensorDataset(torch.from_numpy(DATA)), batch_size=4, shuffle=False)

OUT["errD"], OUT["errG"], OUT["D_x"], OUT["D_G_z"] = [], [], [], []
for i, data in enumerate(dataloader, 0):
    netD.zero_grad()
    real_cpu = data[0].to(device)
    batch_size = real_cpu.size(0)
    label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype, device=device)
    output = netD(real_cpu)
    errD_real = criterion(output, label)
    errD_real.backward()
    D_x = output.mean().item()
    noise = torch.from_numpy(NOISE[i + 1]).to(device)
    fake = netG(noise)
    label.fill_(fake_label)
    output = netD(fake.detach())
    errD_fake = criterion(output, label)
    errD_fake.backward()
    errD = errD_real + errD_fake
    optimizerD.step()
    netG.zero_grad()
    label.fill_(real_label)
    output = netD(fake)
    errG = criterion(output, label)
    errG.backward()
    D_G_z2 = output.mean().item()
    optimizerG.step()
    OUT["errD"].append(errD.item())
    OUT["errG"].append(errG.item())
    OUT["D_x"].append(D_x)
    OUT["D_G_z"].append(D_G_z2)
with torch.no_grad():
    OUT["fixed"] = netG(fixed_noise).detach().cpu().numpy()
OUT["G"] = {k: v.cpu().numpy() for k, v in netG.state_dict().items()}
'''


def test_dcgan_example_runs_the_same(tmp_path):
    data = np.concatenate(images(3, 4, 1, 16))
    noise = [np.random.default_rng(i).standard_normal((4, 8, 1, 1)).astype(np.float32)
             for i in range(4)]
    ref, got = both(DCGAN, tmp_path, DATA=data, NOISE=noise)
    # the init through .data took effect on both sides (the silent bug this guards against)
    assert got["init_std"][0] == pytest.approx(0.02, rel=0.3)
    assert got["init_std"][1] == pytest.approx(0.02, rel=0.5)
    assert got["bn_bias"] == 0.0
    for key in ("errD", "errG", "D_x", "D_G_z"):
        assert_same(got[key], ref[key], key, rtol=1e-4)
    assert_same(got["G"], ref["G"], "G", rtol=1e-4, atol=4e-4)
    assert_same(got["fixed"], ref["fixed"], "fixed", rtol=1e-3, atol=1e-4)


# --- WGAN-GP (PyTorch-GAN's implementation style) ----------------------------------------------
WGAN_GP = '''
import numpy as np
import torch.nn as nn
import torch.autograd as autograd
import torch
from torch.autograd import Variable

img_shape = (1, 8, 8)
latent_dim = 6
cuda = True if torch.cuda.is_available() else False


class Generator(nn.Module):
    def __init__(self):
        super(Generator, self).__init__()

        def block(in_feat, out_feat, normalize=True):
            layers = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(latent_dim, 16, normalize=False),
            *block(16, 32),
            nn.Linear(32, int(np.prod(img_shape))),
            nn.Tanh()
        )

    def forward(self, z):
        img = self.model(z)
        img = img.view(img.shape[0], *img_shape)
        return img


class Discriminator(nn.Module):
    def __init__(self):
        super(Discriminator, self).__init__()
        self.model = nn.Sequential(
            nn.Linear(int(np.prod(img_shape)), 32),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(32, 16),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(16, 1),
        )

    def forward(self, img):
        img_flat = img.view(img.shape[0], -1)
        validity = self.model(img_flat)
        return validity


lambda_gp = 10
generator = Generator()
discriminator = Discriminator()
if cuda:
    generator.cuda()
    discriminator.cuda()
if SAVE_INIT:
    torch.save([generator.state_dict(), discriminator.state_dict()], SAVE_INIT)
if LOAD_INIT:
    g, d = torch.load(LOAD_INIT)
    generator.load_state_dict(g)
    discriminator.load_state_dict(d)

optimizer_G = torch.optim.Adam(generator.parameters(), lr=0.0002, betas=(0.5, 0.999))
optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=0.0002, betas=(0.5, 0.999))
Tensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor


def compute_gradient_penalty(D, real_samples, fake_samples, alpha):
    alpha = Tensor(alpha)
    interpolates = (alpha * real_samples + ((1 - alpha) * fake_samples)).requires_grad_(True)
    d_interpolates = D(interpolates)
    fake = Variable(Tensor(real_samples.shape[0], 1).fill_(1.0), requires_grad=False)
    gradients = autograd.grad(
        outputs=d_interpolates,
        inputs=interpolates,
        grad_outputs=fake,
        create_graph=True,
        retain_graph=True,
        only_inputs=True,
    )[0]
    gradients = gradients.view(gradients.size(0), -1)
    gradient_penalty = ((gradients.norm(2, dim=1) - 1) ** 2).mean()
    return gradient_penalty


OUT["d_loss"], OUT["g_loss"] = [], []
for i, imgs in enumerate(DATA):
    real_imgs = Variable(Tensor(imgs).type(Tensor))
    optimizer_D.zero_grad()
    z = Variable(Tensor(Z[i]))
    fake_imgs = generator(z)
    real_validity = discriminator(real_imgs)
    fake_validity = discriminator(fake_imgs)
    gradient_penalty = compute_gradient_penalty(discriminator, real_imgs.data, fake_imgs.data,
                                                ALPHA[i])
    d_loss = -torch.mean(real_validity) + torch.mean(fake_validity) + lambda_gp * gradient_penalty
    d_loss.backward()
    optimizer_D.step()
    optimizer_G.zero_grad()
    if i % 2 == 0:
        fake_imgs = generator(z)
        fake_validity = discriminator(fake_imgs)
        g_loss = -torch.mean(fake_validity)
        g_loss.backward()
        optimizer_G.step()
        OUT["g_loss"].append(g_loss.item())
    OUT["d_loss"].append(d_loss.item())
OUT["G"] = {k: v.cpu().numpy() for k, v in generator.state_dict().items()}
OUT["D"] = {k: v.cpu().numpy() for k, v in discriminator.state_dict().items()}
'''


def test_wgan_gp_pytorch_gan_style_runs_the_same(tmp_path):
    rng = np.random.default_rng(3)
    data = images(4, 5, 1, 8, seed=1)
    z = [rng.normal(0, 1, (5, 6)) for _ in range(4)]  # float64 arrays: FloatTensor converts
    alpha = [rng.random((5, 1, 1, 1)) for _ in range(4)]
    ref, got = both(WGAN_GP, tmp_path, DATA=data, Z=z, ALPHA=alpha)
    # WGAN losses are means of unbounded critic outputs that nearly cancel (g_loss ~0.2 from
    # terms ~1): float32 rounding differences show as ~3e-5 absolute after a few steps
    assert_same(got["d_loss"], ref["d_loss"], "d_loss", rtol=1e-4, atol=1e-4)
    assert_same(got["g_loss"], ref["g_loss"], "g_loss", rtol=1e-4, atol=1e-4)
    assert_same(got["G"], ref["G"], "G", rtol=1e-4, atol=4e-4)
    assert_same(got["D"], ref["D"], "D", rtol=1e-4, atol=4e-4)


# --- aliasing, case by case against torch -------------------------------------------------------
ALIASING = {
    "init through .data": "w = torch.zeros(3, 4, requires_grad=True)\n"
                          "torch.nn.init.normal_(w.data, 0.0, 0.02)\n"
                          "torch.nn.init.constant_(w.data, 0.5)\nOUT['r'] = w.detach()",
    "fill_ through detach": "x = torch.ones(2, 3)\nd = x.detach()\nd.fill_(4)\nOUT['r'] = x",
    "write through a view": "x = torch.zeros(2, 3)\nv = x.view(6)\nv[1] = 5\n"
                            "x[1].add_(1)\nx[:, 2].mul_(3)\nOUT['r'] = x",
    "transpose view": "x = torch.arange(6.).reshape(2, 3)\nx.t()[0, 1] = -1\nOUT['r'] = x",
    "clamp_ for weight clipping": "w = torch.linspace(-1, 1, 7).requires_grad_(True)\n"
                                  "w.data.clamp_(-0.5, 0.5)\nOUT['r'] = w.detach()",
    "copy_ with broadcast and cast": "x = torch.zeros(2, 3)\n"
                                     "x.copy_(torch.tensor([1., 2., 3.], dtype=torch.float64))\n"
                                     "OUT['r'] = x",
    "in-place on a non-leaf keeps gradients":
        "a = torch.tensor([1., 2., 3.], requires_grad=True)\nb = a * 2\nb.add_(1)\n"
        "b.mul_(a)\nb.sum().backward()\nOUT['r'] = a.grad",
    "+= is in place": "x = torch.ones(3)\ny = x\ny += 2\nOUT['r'] = x",
    "load_state_dict keeps aliases": "m = torch.nn.Linear(2, 2)\nw = m.weight.data\n"
                                     "m.load_state_dict({'weight': torch.ones(2, 2), "
                                     "'bias': torch.zeros(2)})\nOUT['r'] = w",
    "optimizer step is seen through .data": "p = torch.nn.Parameter(torch.ones(3))\n"
                                            "alias = p.data\nopt = torch.optim.SGD([p], lr=0.5)\n"
                                            "p.sum().backward()\nopt.step()\nOUT['r'] = alias",
    "setitem with an index list": "x = torch.zeros(3, 4)\nx[[0, 2], [1, 3]] = 1.0\n"
                                  "OUT['r'] = x",
    "float32 + float64 promotes": "OUT['r'] = torch.ones(2) + torch.ones(2, dtype=torch.float64)",
    "a 0-d float64 keeps float32": "r = torch.ones(2) * torch.tensor(2.0, dtype=torch.float64)\n"
                                   "OUT['r'] = r\nOUT['dtype'] = str(r.dtype)",
    "sum over dim=()": "OUT['r'] = torch.arange(6.).reshape(2, 3).sum(dim=())",
}


@pytest.mark.parametrize("case", sorted(ALIASING))
def test_aliasing_and_in_place_rules_match_torch(case):
    src = "import torch\n" + ALIASING[case]
    ref = run_script(src, "torch")
    got = run_script(src, "minigan")
    r, g = ref.pop("r"), got.pop("r")
    assert_same(g.detach().numpy(), r.detach().numpy(), case, rtol=1e-6, atol=1e-7)
    assert g.dtype == np.dtype(str(r.dtype).replace("torch.", ""))
    if "dtype" in ref:
        assert got["dtype"].replace("minigan.", "") == ref["dtype"].replace("torch.", "")


ERRORS = {
    "a saved output written in place": (
        "a = torch.ones(3, requires_grad=True)\nb = a.sigmoid()\nb.mul_(2)\n"
        "b.sum().backward()", "modified by an inplace operation"),
    "a saved input written in place": (
        "a = torch.ones(3, requires_grad=True)\nb = a * 1\nc = b * b\nb.add_(1)\n"
        "c.sum().backward()", "modified by an inplace operation"),
    "an optimizer step between forward and backward": (
        "p = torch.nn.Parameter(torch.ones(3))\nopt = torch.optim.SGD([p], lr=0.1)\n"
        "(p * p).sum().backward()\nloss = (p * p).sum()\nopt.step()\nloss.backward()",
        "modified by an inplace operation"),
    "a leaf that requires grad": (
        "a = torch.ones(3, requires_grad=True)\na.add_(1)",
        "leaf .* requires grad .* in-place operation"),
    "a float result into an integer tensor": (
        "x = torch.zeros(3, dtype=torch.int64)\nx.add_(0.5)", "cannot"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_misuse_raises_as_in_torch(case):
    body, message = ERRORS[case]
    src = "import torch\n" + body
    with pytest.raises(RuntimeError if "leaf" in message or "inplace" in message else Exception):
        run_script(src, "torch")
    with pytest.raises((RuntimeError, TypeError), match=message):
        run_script(src, "minigan")


def test_aliasing_on_every_backend(backend):
    x = minigan.zeros(2, 3, backend=backend)
    x.data.fill_(1.0)
    x[0].mul_(3.0)
    x.view(6)[5] = 7.0
    x.detach().t()[0, 1] = -2.0
    np.testing.assert_array_equal(x.numpy(), [[3, 3, 3], [-2, 1, 7]])
    assert x._version[0] == 4
    w = minigan.nn.Parameter(minigan.zeros(4, 4, backend=backend))
    minigan.nn.init.normal_(w.data, 0.0, 0.02)
    assert 0.005 < float(w.detach().numpy().std()) < 0.05
    with pytest.raises(RuntimeError, match="in-place"):
        w.add_(1.0)
    with minigan.no_grad():
        w.add_(1.0)
    assert abs(float(w.detach().numpy().mean()) - 1.0) < 0.05


# --- the API pieces scripts use --------------------------------------------------------------
def test_devices_and_legacy_types():
    assert minigan.device("cuda:0") == "cuda" and str(minigan.device("cpu")) == "cpu"
    assert minigan.device("numpy") == minigan.device("cpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        minigan.device("tpu")
    x = minigan.randn(2, 3, device="cpu")
    assert x.device == minigan.device("cpu") and x.backend == "numpy" and not x.is_cuda
    assert x.to("cpu", minigan.float64).dtype == minigan.float64
    assert x.type() == "torch.FloatTensor" and x.type(minigan.LongTensor).dtype == minigan.long
    assert isinstance(x, minigan.FloatTensor) and not isinstance(x, minigan.LongTensor)
    assert minigan.LongTensor([1, 2]).dtype == minigan.int64
    assert minigan.FloatTensor(2, 3).shape == (2, 3)
    assert minigan.Tensor(2, 3).dtype == minigan.float32 and minigan.Tensor().shape == (0,)
    assert minigan.Tensor([1, 2]).tolist() == [1.0, 2.0]
    v = minigan.autograd.Variable(minigan.ones(2), requires_grad=True)
    assert v.requires_grad and v.is_leaf
    assert isinstance(minigan.cuda.is_available(), bool)
    if not minigan.cuda.is_available():
        assert minigan.cuda.device_count() == 0
    assert x.new_zeros(4).shape == (4,) and x.new_full((2,), 3.0).tolist() == [3.0, 3.0]


def test_save_and_load_round_trip_and_torch_files(tmp_path):
    m = minigan.nn.Linear(3, 2)
    opt = minigan.optim.Adam(m.parameters())
    m(minigan.randn(4, 3)).sum().backward()
    opt.step()
    obj = {"model": m.state_dict(), "opt": opt.state_dict(), "epoch": 3, "name": "g",
           "t": (1.5, None), "arr": np.arange(3)}
    minigan.save(obj, tmp_path / "ck.pt")
    back = minigan.load(tmp_path / "ck.pt")
    assert back["epoch"] == 3 and back["t"] == (1.5, None) and back["name"] == "g"
    np.testing.assert_array_equal(back["arr"], np.arange(3))
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(back["model"][k].numpy(), v.numpy())
    opt2 = minigan.optim.Adam(m.parameters())
    opt2.load_state_dict(back["opt"])
    assert opt2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
    # a file torch.save wrote (weights_only), into the same model built with minigan
    tm = torch.nn.Linear(3, 2)
    torch.save(tm.state_dict(), tmp_path / "torch.pth")
    m.load_state_dict(minigan.load(tmp_path / "torch.pth"))
    np.testing.assert_array_equal(m.weight.detach().numpy(), tm.weight.detach().numpy())
    # what cannot be saved or read is refused by name
    with pytest.raises(minigan.serialization.SerializationError, match=r"obj\['f'\] is a"):
        minigan.save({"f": lambda: 0}, tmp_path / "x.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(minigan.serialization.SerializationError, match="junk.pt: not a file"):
        minigan.load(tmp_path / "junk.pt")


def test_function_forms_and_grad_only_inputs():
    x = minigan.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    tx = torch.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    for name in ("abs", "exp", "sigmoid", "tanh", "relu", "neg", "square", "t"):
        np.testing.assert_allclose(getattr(minigan, name)(x).detach().numpy(),
                                   getattr(torch, name)(tx).detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(minigan.mean(x, 1).detach().numpy(),
                               torch.mean(tx, 1).detach().numpy())
    np.testing.assert_allclose(minigan.clamp(x, -1, 2).detach().numpy(),
                               torch.clamp(tx, -1, 2).detach().numpy())
    (g,) = minigan.autograd.grad(minigan.sum(x * x), x, only_inputs=True)
    np.testing.assert_allclose(g.numpy(), 2 * tx.detach().numpy())


def test_generator_seeds_the_data_loader():
    from minigan.utils.data import DataLoader, TensorDataset
    g = minigan.Generator().manual_seed(5)
    loader = DataLoader(TensorDataset(minigan.arange(12)), batch_size=4, shuffle=True,
                        generator=g)
    first = [b[0].tolist() for b in loader]
    g.manual_seed(5)
    assert [b[0].tolist() for b in loader] == first and g.initial_seed() == 5
    assert sorted(sum(first, [])) == list(range(12))


def test_sample_grid_utilities_and_cudnn_flags(tmp_path):
    """torchvision.utils' make_grid/save_image conventions, and torch.backends.cudnn's flags
    (accepted, no effect: minigan has no cuDNN)."""
    from PIL import Image

    import minigan.backends.cudnn as cudnn
    from minigan.utils import make_grid, save_image
    cudnn.benchmark = True
    assert minigan.backends.cudnn.benchmark
    x = np.random.default_rng(0).standard_normal((5, 1, 3, 4)).astype(np.float32)
    g = make_grid(minigan.tensor(x), nrow=2, padding=1, normalize=True).numpy()
    assert g.shape == (3, 3 * 4 + 1, 2 * 5 + 1)  # 3 rows of 2, 1-pixel padding
    lo, hi = x.min(), x.max()
    np.testing.assert_allclose(g[0, 1 + 4:1 + 4 + 3, 1 + 5:1 + 5 + 4], (x[3, 0] - lo) / (hi - lo),
                               rtol=1e-6)
    assert g[:, 0, :].max() == 0  # padding
    assert make_grid(minigan.tensor(x[:1])).shape == (3, 3, 4)
    save_image(minigan.tensor(x), tmp_path / "g.png", nrow=5, normalize=True)
    assert Image.open(tmp_path / "g.png").size == (5 * 6 + 2, 3 + 4)


def test_grad_only_inputs_false_warns_and_is_ignored_as_in_torch():
    x = minigan.tensor([1.0, 2.0], requires_grad=True)
    with pytest.warns(UserWarning, match="only_inputs argument is deprecated"):
        (g,) = minigan.autograd.grad((x * x).sum(), x, only_inputs=False)
    np.testing.assert_allclose(g.numpy(), [2.0, 4.0])
