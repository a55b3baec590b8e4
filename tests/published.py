"""The published GAN formulas written in torch: the references minigan.losses is checked
against (tests/test_losses.py, test_penalties.py, test_tricks.py, test_gan_parity.py).

Each function transcribes the paper's formula as printed, with its citation; nothing here
calls minigan.
"""

from __future__ import annotations

import math

import torch


# --- adversarial losses ---------------------------------------------------------------
def log_d(x):
    """log D(x) with D = sigmoid."""
    return torch.log(torch.sigmoid(x))


def log_1m_d(x):
    """log(1 - D(x))."""
    return torch.log(1 - torch.sigmoid(x))


def minimax_d(r, f, real_label=1.0):
    t = real_label
    return -(t * log_d(r) + (1 - t) * log_1m_d(r)).mean() - log_1m_d(f).mean()


# Nowozin et al. 2016, Table 2: (output activation g_f, Fenchel conjugate f*), verbatim.
F_TABLE = {
    "kl": (lambda v: v, lambda t: torch.exp(t - 1)),
    "rkl": (lambda v: -torch.exp(-v), lambda t: -1 - torch.log(-t)),
    "pearson": (lambda v: v, lambda t: 0.25 * t ** 2 + t),
    "hellinger": (lambda v: 1 - torch.exp(-v), lambda t: t / (1 - t)),
    "js": (lambda v: math.log(2) - torch.log(1 + torch.exp(-v)),
           lambda t: -torch.log(2 - torch.exp(t))),
    "gan": (lambda v: -torch.log(1 + torch.exp(-v)), lambda t: -torch.log(1 - torch.exp(t))),
}


def f_gan(divergence):
    act, conj = F_TABLE[divergence]

    def d(r, f, nonsaturating=False):  # D maximizes E_P[T] - E_Q[f*(T)]
        return -(act(r).mean() - conj(act(f)).mean())

    def g(f, r, nonsaturating=False):
        return -act(f).mean() if nonsaturating else -conj(act(f)).mean()
    return d, g


def ra(r, f):
    return r - f.mean(), f - r.mean()


# name -> (torch d_loss(r, f, **hyper), torch g_loss(f, r, **hyper)), on logits r, f
REFERENCE = {
    # Goodfellow et al. 2014; one-sided label smoothing: Salimans et al. 2016
    "minimax": (minimax_d, lambda f, r, real_label=1.0: log_1m_d(f).mean()),
    "nsgan": (minimax_d, lambda f, r, real_label=1.0: -log_d(f).mean()),
    # Mao et al. 2017
    "lsgan": (lambda r, f, a, b, c: 0.5 * ((r - b) ** 2).mean() + 0.5 * ((f - a) ** 2).mean(),
              lambda f, r, a, b, c: 0.5 * ((f - c) ** 2).mean()),
    # Arjovsky et al. 2017
    "wgan": (lambda r, f: f.mean() - r.mean(), lambda f, r: -f.mean()),
    # Lim & Ye 2017, Miyato et al. 2018
    "hinge": (lambda r, f: torch.relu(1 - r).mean() + torch.relu(1 + f).mean(),
              lambda f, r: -f.mean()),
    # Jolicoeur-Martineau 2018
    "rsgan": (lambda r, f: -log_d(r - f).mean(), lambda f, r: -log_d(f - r).mean()),
    "ragan": (lambda r, f: -log_d(ra(r, f)[0]).mean() - log_1m_d(ra(r, f)[1]).mean(),
              lambda f, r: -log_d(ra(r, f)[1]).mean() - log_1m_d(ra(r, f)[0]).mean()),
    "rahinge": (lambda r, f: torch.relu(1 - ra(r, f)[0]).mean()
                + torch.relu(1 + ra(r, f)[1]).mean(),
                lambda f, r: torch.relu(1 - ra(r, f)[1]).mean()
                + torch.relu(1 + ra(r, f)[0]).mean()),
    # Nowozin et al. 2016
    **{("f-gan" if d == "gan" else f"f-{d}"): f_gan(d) for d in F_TABLE},
    # Zhao et al. 2017 (the pulling-away term: pulling_away below)
    "ebgan": (lambda r, f, margin, pt_weight: r.mean() + torch.relu(margin - f).mean(),
              lambda f, r, margin, pt_weight: f.mean()),
    # Berthelot et al. 2017
    "began": (lambda r, f, gamma, lambda_k, k: r.mean() - k * f.mean(),
              lambda f, r, gamma, lambda_k, k: f.mean()),
}


def sample_distance(a, b, kind):
    """The per-sample distance of GAN-QP and LS-GAN, normalized by the element count."""
    diff = (a - b).flatten(1)
    return diff.abs().mean(1) if kind == "l1" else diff.norm(dim=1) / math.sqrt(diff.shape[1])


def gan_qp_d(r, f, xr, xf, lam, distance):  # Su 2018, eq. for the quadratic potential
    gap = r - f
    return (-gap + gap ** 2 / (2 * lam * sample_distance(xr, xf, distance))).mean()


def ls_gan_d(r, f, xr, xf, lam, distance):  # Qi 2017: E L(x) + lam E (Delta + L(x) - L(G(z)))+
    return r.mean() + lam * torch.relu(sample_distance(xr, xf, distance) + r - f).mean()


def pulling_away(s):
    """Zhao et al. 2017, f_PT written as the double sum over i != j."""
    n = s.shape[0]
    total = 0
    for i in range(n):
        for j in range(n):
            if i != j:
                cos = (s[i] * s[j]).sum() / (s[i].norm() * s[j].norm())
                total = total + cos ** 2
    return total / (n * (n - 1))


# --- gradient penalties and normalization ---------------------------------------------
def torch_input_gradient(D, x):
    """Per-sample rows of d(sum D(x))/dx, x detached from how it was made."""
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return g.flatten(1)


# The published penalties, on torch's autograd. alpha has shape (N, 1, 1, 1).
def interpolate(real, fake, alpha):
    return alpha * real + (1 - alpha) * fake


def wgan_gp(D, real, fake, alpha, weight):  # Gulrajani et al. 2017
    g = torch_input_gradient(D, interpolate(real, fake, alpha))
    return weight * ((g.norm(2, dim=1) - 1) ** 2).mean()


def wgan_lp(D, real, fake, alpha, weight):  # Petzka et al. 2018
    g = torch_input_gradient(D, interpolate(real, fake, alpha))
    return weight * (torch.clamp(g.norm(2, dim=1) - 1, min=0) ** 2).mean()


def r1(D, real, fake, alpha, weight):  # Mescheder et al. 2018
    return weight / 2 * (torch_input_gradient(D, real).norm(2, dim=1) ** 2).mean()


def r2(D, real, fake, alpha, weight):  # Mescheder et al. 2018, on the fake samples
    return weight / 2 * (torch_input_gradient(D, fake).norm(2, dim=1) ** 2).mean()


def dragan(D, real, perturbed, alpha, weight):  # Kodali et al. 2017, k = 1
    g = torch_input_gradient(D, interpolate(real, perturbed, alpha))
    return weight * ((g.norm(2, dim=1) - 1) ** 2).mean()


def wgan_div(D, real, fake, alpha, weight, p=6):  # Wu et al. 2018, k = weight
    g = torch_input_gradient(D, interpolate(real, fake, alpha))
    return weight * (g.norm(2, dim=1) ** p).mean()


PENALTY_REFERENCE = {"wgan-gp": wgan_gp, "wgan-lp": wgan_lp, "r1": r1, "r2": r2,
                     "dragan": dragan, "wgan-div": wgan_div}


def gn(f, x):  # Wu et al. 2021: f / (||grad f|| + |f|)
    out = f(x)
    (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return out / (g.flatten(1).norm(dim=1, keepdim=True) + out.abs())


def gran(f, x, eps, k):  # Bhaskara et al. 2022: K f ||grad f|| / (||grad f||^2 + eps)
    out = f(x)
    (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    norm = g.flatten(1).norm(dim=1, keepdim=True)
    return k * out * norm / (norm ** 2 + eps)
