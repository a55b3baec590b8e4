"""The GAN zoo: every module of this package defines and registers models (see
:mod:`minigan.models.base`); ``MODELS`` maps each CLI name to its class."""

from __future__ import annotations

import importlib
import pkgutil

from minigan.models.base import MODELS, Batch, GANModel, adversarial_step, register
from minigan.models.dcgan import Discriminator, Generator

for _info in pkgutil.iter_modules(__path__):
    if _info.name != "base":
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["MODELS", "GANModel", "Batch", "register", "adversarial_step", "Generator",
           "Discriminator"]
