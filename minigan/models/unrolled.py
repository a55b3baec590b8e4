"""Unrolled GAN (Metz, Poole, Pfau & Sohl-Dickstein 2017): G is updated against the
discriminator it would face after ``unroll_steps`` more D updates, which penalizes G for moving
to a mode D is about to leave, and so fights mode collapse.

Each step: one ordinary D update (cfg.n_critic of them), then G's loss is taken against a
look-ahead copy of D. Two ways to unroll (``--second-order``):

- 0 (default here): ``losses.tricks.unrolled_discriminator``: K real updates of D with its own
  optimizer (Adam, as in the paper), G's loss against that D, then D's weights and Adam state
  are restored; G's gradient treats the unrolled weights as constants (the paper's first-order
  variant, the cost of K extra D steps);
- 1: ``losses.tricks.unrolled_g_loss``: K SGD steps of size ``--unroll-lr`` taken with
  ``functional_call`` and backpropagated through (the paper's full gradient, second order).

The networks are DCGAN's (the paper's image experiments use DCGAN-style G and D); the loss is
``--loss`` (non-saturating by default). The unroll steps see the step's real batch and its
fake batch (detached in the first-order variant).
"""

from __future__ import annotations

import minigan
from minigan import losses
from minigan.losses import tricks
from minigan.models.base import GANModel, mean_output, register
from minigan.models.dcgan import Discriminator, Generator


@register
class UnrolledGAN(GANModel):
    name = "unrolled"
    paper = "Metz, Poole, Pfau & Sohl-Dickstein 2017, Unrolled Generative Adversarial Networks"
    summary = "G's update against D unrolled K steps ahead (DCGAN networks), against mode " \
              "collapse"
    preset = {"lr": 1e-4, "b1": 0.5, "b2": 0.999, "loss": "nsgan", "n_critic": 1}
    options = {"unroll_steps": (5, int, "K, the D updates G looks ahead through (0: a plain "
                                        "GAN)"),
               "second_order": (0, int, "1: backpropagate through K SGD steps of size "
                                        "--unroll-lr (the full gradient); 0: K steps of D's "
                                        "optimizer, gradient through the last D only"),
               "unroll_lr": (1e-3, float, "SGD step of the second-order unrolling")}

    points = True  # the paper's own demonstration is the ring of 8 Gaussians

    def build(self) -> dict:
        self._check()
        cfg = self.cfg
        return {"G": Generator(cfg.latent_dim, cfg.ngf, self.channels, cfg.img_size),
                "D": Discriminator(cfg.ndf, self.channels, cfg.img_size)}

    def build_points(self) -> dict:
        self._check()
        return super().build_points()

    def _check(self) -> None:
        if self.option(self.cfg, "unroll_steps") < 0:
            raise ValueError("unrolled: --unroll-steps must be >= 0, got "
                             f"{self.option(self.cfg, 'unroll_steps')}")

    def train_step(self, data) -> dict:
        cfg = self.cfg
        G, D = self.nets["G"], self.nets["D"]
        opt_g, opt_d = self.opts["G"], self.opts["D"]
        loss = losses.get(cfg.loss)
        steps = self.option(cfg, "unroll_steps")

        def d_update(real, fake):
            d_real, d_fake = D(real), D(fake)
            loss_d = loss.d_loss(d_real, d_fake)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            return loss_d, d_real, d_fake

        for k in range(cfg.n_critic):
            real = data.real(k).images
            fake = G(self.latent(real.shape[0]))
            loss_d, d_real, d_fake = d_update(real, fake.detach())

        if self.option(cfg, "second_order"):
            loss_g = tricks.unrolled_g_loss(D, loss, real, fake, steps,
                                            self.option(cfg, "unroll_lr"), create_graph=True)
            opt_g.zero_grad()
            loss_g.backward(inputs=list(G.parameters()))
        else:
            detached = fake.detach()
            with tricks.unrolled_discriminator(D, opt_d, lambda: d_update(real, detached),
                                               steps):
                d_real_g = None
                if loss.g_uses_real:
                    with minigan.no_grad():
                        d_real_g = D(real)
                loss_g = loss.g_loss(D(fake), d_real_g)
                opt_g.zero_grad()
                loss_g.backward(inputs=list(G.parameters()))
        opt_g.step()
        return {"d_loss": loss_d.detach(), "g_loss": loss_g.detach(),
                "D(x)": mean_output(d_real, cfg.loss), "D(G(z))": mean_output(d_fake, cfg.loss)}
