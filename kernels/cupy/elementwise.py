"""Elementwise kernels: cupy's ufuncs for the plain maps (numpy's broadcasting and promotion),
``cupy.ElementwiseKernel`` where minigan has its own formula: sigmoid and the fused
activations of kernels/include/minigan/activation.h, softplus with torch's threshold.

A Python scalar operand is first made a numpy scalar of the array operand's dtype when the
kinds agree (a float with a float array, an int with an int array), so the result keeps the
array's dtype under every cupy version's promotion rules (cupy 13 promotes by value, cupy 14
by NEP 50), as the numpy backend's does under NEP 50.
"""

from __future__ import annotations

import functools

import numpy as np
from minigan.kernels.cupy import _common
from minigan.kernels.cupy._common import cupy

ACTIVATION_PREAMBLE = '#include "minigan/activation.h"'


def _is_array(x) -> bool:
    return cupy is not None and isinstance(x, cupy.ndarray)


def scalar_like(x, like):
    """A Python float or int as a numpy scalar of ``like``'s dtype when their kinds agree
    (a float with a float array, an int with an int or float array)."""
    if like is None:
        return x
    kind = like.dtype.kind  # numpy scalars are typed (NEP 50: they promote) and stay as they are
    if type(x) is float and kind == "f" or type(x) is int and kind in "fiu":
        try:
            with np.errstate(over="raise"):
                return like.dtype.type(x)
        except (OverflowError, FloatingPointError):
            return x
    return x


def _scalars(*operands) -> list:
    like = next((o for o in operands if _is_array(o)), None)
    return [scalar_like(o, like) for o in operands]


def _binary(ufunc_name: str):
    def kernel(a, b):
        a, b = _scalars(a, b)
        return getattr(cupy, ufunc_name)(a, b)
    kernel.__name__ = ufunc_name
    return kernel


def _unary(ufunc_name: str):
    def kernel(a):
        return getattr(cupy, ufunc_name)(a)
    kernel.__name__ = ufunc_name
    return kernel


def _opmath(fn):
    """float16 computed in float32 and rounded back (as torch does); float32/float64 as is."""
    @functools.wraps(fn)
    def kernel(a, *args):
        if a.dtype == np.float16:
            return fn(a.astype(np.float32), *args).astype(np.float16)
        _common.check_float(fn.__name__, a)
        return fn(a, *args)
    return kernel


@functools.cache
def _sigmoid_kernel():
    return cupy.ElementwiseKernel(
        "T x", "T y", "y = minigan::activate<T>(x, minigan::ACT_SIGMOID, T(0))",
        "minigan_sigmoid", preamble=ACTIVATION_PREAMBLE, options=_common.options())


@functools.cache
def _softplus_kernel():
    # log(1 + exp(beta x)) / beta from exp(-|z|) only (no overflow); x itself above threshold
    return cupy.ElementwiseKernel(
        "T x, float64 beta, float64 threshold", "T y",
        """
        const T b = T(beta);
        const T z = x * b;
        const T soft = ((z > T(0) ? z : T(0)) + log1p(exp(-fabs(z)))) / b;
        y = z > T(threshold) ? x : soft;
        """, "minigan_softplus")


@functools.cache
def act_kernel(with_bias: bool):
    """y = act(x [+ b]): the epilogue of conv2d_forward (x a strided view, b broadcast)."""
    ins = "T x, T b, int32 act, float64 slope" if with_bias else "T x, int32 act, float64 slope"
    value = "x + b" if with_bias else "x"
    return cupy.ElementwiseKernel(
        ins, "T y", f"y = minigan::activate<T>({value}, act, T(slope))",
        "minigan_bias_act" if with_bias else "minigan_act", preamble=ACTIVATION_PREAMBLE,
        options=_common.options())


@_opmath
def sigmoid(a):
    return _sigmoid_kernel()(a)


@_opmath
def softplus(a, beta, threshold):
    return _softplus_kernel()(a, np.float64(beta), np.float64(threshold))


def pow_scalar(a, c):
    """a ** c; the exponents that have an exact cheaper form take it (torch does too)."""
    c = float(c)
    if a.dtype.kind != "f":  # as the numpy backend: c in a's dtype
        return cupy.power(a, a.dtype.type(c))
    if c == 1.0:
        return a.copy()
    if c == 2.0:
        return cupy.multiply(a, a)
    if c == 3.0:
        return a * a * a
    if c == 0.5:
        return cupy.sqrt(a)
    if c == -0.5:
        return cupy.reciprocal(cupy.sqrt(a))
    if c == -1.0:
        return cupy.reciprocal(a)
    if c == -2.0:
        return cupy.reciprocal(a * a)
    return cupy.power(a, a.dtype.type(c))


def clip(a, lo, hi):
    """clip with Python bounds (None: unbounded); NaN propagates."""
    if lo is None and hi is None:
        return a.copy()
    if lo is None:
        return cupy.minimum(a, scalar_like(hi, a))
    if hi is None:
        return cupy.maximum(a, scalar_like(lo, a))
    return cupy.minimum(cupy.maximum(a, scalar_like(lo, a)), scalar_like(hi, a))


def where(cond, a, b):
    if not _is_array(a) and not _is_array(b):
        raise TypeError("where: at least one of a and b must be an array")
    a, b = _scalars(a, b)
    return cupy.where(cond, a, b)


def astype(a, dtype):
    return a.astype(_common.stored_dtype(dtype))


KERNELS = {
    "add": _binary("add"), "sub": _binary("subtract"), "mul": _binary("multiply"),
    "div": _binary("divide"), "pow": _binary("power"),
    "maximum": _binary("maximum"), "minimum": _binary("minimum"),
    "eq": _binary("equal"), "ne": _binary("not_equal"), "lt": _binary("less"),
    "le": _binary("less_equal"), "gt": _binary("greater"), "ge": _binary("greater_equal"),
    "logical_and": _binary("logical_and"),
    "neg": _unary("negative"), "exp": _unary("exp"), "log": _unary("log"),
    "sqrt": _unary("sqrt"), "abs": _unary("abs"), "sign": _unary("sign"),
    "tanh": _unary("tanh"),
    "sigmoid": sigmoid, "softplus": softplus, "pow_scalar": pow_scalar, "clip": clip,
    "where": where, "astype": astype,
}
