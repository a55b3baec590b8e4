"""GAN architectures built from minigan.nn. ``MODELS`` maps a CLI name to its builder."""

from __future__ import annotations

from minigan.models.dcgan import Discriminator, Generator

MODELS = {
    "dcgan": "DCGAN (Radford et al. 2016): all-convolutional G and D with BatchNorm",
}

__all__ = ["Generator", "Discriminator", "MODELS"]
