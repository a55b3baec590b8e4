"""Modules with torch.nn's names, constructor signatures, parameter layouts, state_dict keys
and default initializations, written with minigan.functional (never a backend op)."""

from minigan.nn import functional, init, utils
from minigan.nn.activation import (
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    AlphaDropout,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    FeatureAlphaDropout,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    RReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softmax2d,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Tanh,
    Tanhshrink,
    Threshold,
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
)
from minigan.nn.container import ModuleDict, ModuleList, Sequential
from minigan.nn.conv import Conv2d, ConvTranspose2d
from minigan.nn.distance import CosineSimilarity, PairwiseDistance
from minigan.nn.embedding import Embedding
from minigan.nn.fusion import fusion, fusion_enabled, set_fusion
from minigan.nn.gan_layers import (
    ConditionalBatchNorm2d,
    MinibatchDiscrimination,
    MinibatchStdDev,
    SelfAttention,
    VirtualBatchNorm,
)
from minigan.nn.linear import Flatten, Identity, Linear, Unflatten
from minigan.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    MultiLabelSoftMarginLoss,
    NLLLoss,
    PoissonNLLLoss,
    SmoothL1Loss,
    SoftMarginLoss,
    TripletMarginLoss,
)
from minigan.nn.module import Module
from minigan.nn.norm import BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm
from minigan.nn.padding import (
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
)
from minigan.nn.parameter import Parameter
from minigan.nn.pixelshuffle import PixelShuffle, PixelUnshuffle
from minigan.nn.pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)

__all__ = [
    "fusion", "fusion_enabled", "set_fusion",
    "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "Conv2d",
    "ConvTranspose2d", "Linear", "BatchNorm1d", "BatchNorm2d", "InstanceNorm2d", "LayerNorm",
    "GroupNorm", "Embedding", "Dropout", "ReLU", "LeakyReLU", "ELU", "Tanh", "Sigmoid",
    "Flatten", "Upsample", "Identity", "SelfAttention", "MinibatchDiscrimination",
    "MinibatchStdDev", "VirtualBatchNorm", "ConditionalBatchNorm2d", "init", "utils",
    "functional",
    # activations
    "Softmax", "LogSoftmax", "Softmin", "Softmax2d", "Softplus", "PReLU", "Hardtanh", "ReLU6",
    "SELU", "CELU", "GELU", "SiLU", "Mish", "Hardsigmoid", "Hardswish", "LogSigmoid",
    "Softsign", "Tanhshrink", "Threshold", "GLU", "Softshrink", "Hardshrink", "RReLU",
    # dropout and resampling
    "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
    "UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle", "PixelUnshuffle",
    # padding
    "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
    "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
    "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d",
    # pooling
    "AvgPool1d", "AvgPool2d", "MaxPool1d", "MaxPool2d", "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
    # shape, distances
    "Unflatten", "CosineSimilarity", "PairwiseDistance",
    # losses
    "L1Loss", "MSELoss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss",
    "NLLLoss", "CrossEntropyLoss", "KLDivLoss", "HingeEmbeddingLoss", "SoftMarginLoss",
    "MarginRankingLoss", "CosineEmbeddingLoss", "TripletMarginLoss", "GaussianNLLLoss",
    "PoissonNLLLoss", "MultiLabelSoftMarginLoss",
]
