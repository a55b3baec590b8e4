"""Modules with torch.nn's names, constructor signatures, parameter layouts, state_dict keys
and default initializations, written with minigan.functional (never a backend op)."""

from minigan.nn import init, utils
from minigan.nn.activation import ELU, Dropout, LeakyReLU, ReLU, Sigmoid, Tanh, Upsample
from minigan.nn.container import ModuleDict, ModuleList, Sequential
from minigan.nn.conv import Conv2d, ConvTranspose2d
from minigan.nn.embedding import Embedding
from minigan.nn.gan_layers import (
    ConditionalBatchNorm2d,
    MinibatchDiscrimination,
    MinibatchStdDev,
    SelfAttention,
    VirtualBatchNorm,
)
from minigan.nn.linear import Flatten, Identity, Linear
from minigan.nn.module import Module
from minigan.nn.norm import BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm
from minigan.nn.parameter import Parameter

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "Conv2d",
    "ConvTranspose2d", "Linear", "BatchNorm1d", "BatchNorm2d", "InstanceNorm2d", "LayerNorm",
    "GroupNorm", "Embedding", "Dropout", "ReLU", "LeakyReLU", "ELU", "Tanh", "Sigmoid",
    "Flatten", "Upsample", "Identity", "SelfAttention", "MinibatchDiscrimination",
    "MinibatchStdDev", "VirtualBatchNorm", "ConditionalBatchNorm2d", "init", "utils",
]
