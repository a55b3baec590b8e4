"""Module utilities: spectral normalization and functional_call."""

from minigan.nn.utils.spectral_norm import SpectralNorm, remove_spectral_norm, spectral_norm
from minigan.nn.utils.stateless import functional_call

__all__ = ["spectral_norm", "remove_spectral_norm", "SpectralNorm", "functional_call"]
