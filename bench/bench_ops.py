"""Kernel benchmarks: minigan (numpy backend) vs torch on the CPU, DCGAN-sized shapes.

    python -m bench.bench_ops [--quick] [--save bench/results/ops-cpu.jsonl]

Each row times the forward and the forward+backward of one op in both libraries in the same
process, and reports minigan's achieved GFLOP/s (conv) or GB/s (memory-bound ops).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as TF

import minigan
import minigan.functional as F
from bench.harness import compare, header, save


def _pair(shape, dtype, requires_grad=True):
    a = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    return (minigan.tensor(a, requires_grad=requires_grad),
            torch.tensor(a, requires_grad=requires_grad))


def _fwd_bwd(fn, *inputs):
    def run():
        out = fn(*inputs)
        out.backward(out.detach() if hasattr(out, "detach") else out)
    return run


def conv_cases(quick: bool):
    # (N, C_in, H, C_out, k, stride, pad): DCGAN 64x64 discriminator layers
    cases = [(64, 3, 64, 64, 4, 2, 1), (64, 64, 32, 128, 4, 2, 1), (64, 128, 16, 256, 4, 2, 1),
             (64, 256, 8, 512, 4, 2, 1)]
    return cases[1:3] if quick else cases


def tconv_cases(quick: bool):
    # (N, C_in, H, C_out, k, stride, pad): DCGAN 64x64 generator layers
    cases = [(64, 512, 4, 256, 4, 2, 1), (64, 256, 8, 128, 4, 2, 1), (64, 128, 16, 64, 4, 2, 1),
             (64, 64, 32, 3, 4, 2, 1)]
    return cases[1:3] if quick else cases


def bench_conv(rows, quick, dtype="float32"):
    for n, c, h, o, k, s, p in conv_cases(quick):
        xm, xt = _pair((n, c, h, h), dtype)
        wm, wt = _pair((o, c, k, k), dtype)
        ho = (h + 2 * p - k) // s + 1
        flops = 2 * n * o * ho * ho * c * k * k
        shapes = f"x{(n, c, h, h)} w{(o, c, k, k)} s{s}"
        rows.append(compare("conv2d forward", lambda: F.conv2d(xm, wm, stride=s, padding=p),
                            lambda: TF.conv2d(xt, wt, stride=s, padding=p), shapes=shapes,
                            dtype=dtype, flops=flops, repeat=3 if quick else 5))
        rows.append(compare(
            "conv2d forward+backward",
            _fwd_bwd(lambda a, b: F.conv2d(a, b, stride=s, padding=p), xm, wm),
            _fwd_bwd(lambda a, b: TF.conv2d(a, b, stride=s, padding=p), xt, wt),
            shapes=shapes, dtype=dtype, flops=3 * flops, repeat=3 if quick else 5))


def bench_tconv(rows, quick, dtype="float32"):
    for n, c, h, o, k, s, p in tconv_cases(quick):
        xm, xt = _pair((n, c, h, h), dtype)
        wm, wt = _pair((c, o, k, k), dtype)
        flops = 2 * n * c * h * h * o * k * k
        shapes = f"x{(n, c, h, h)} w{(c, o, k, k)} s{s}"
        rows.append(compare(
            "conv_transpose2d forward",
            lambda: F.conv_transpose2d(xm, wm, stride=s, padding=p),
            lambda: TF.conv_transpose2d(xt, wt, stride=s, padding=p), shapes=shapes,
            dtype=dtype, flops=flops, repeat=3 if quick else 5))
        rows.append(compare(
            "conv_transpose2d forward+backward",
            _fwd_bwd(lambda a, b: F.conv_transpose2d(a, b, stride=s, padding=p), xm, wm),
            _fwd_bwd(lambda a, b: TF.conv_transpose2d(a, b, stride=s, padding=p), xt, wt),
            shapes=shapes, dtype=dtype, flops=3 * flops, repeat=3 if quick else 5))


def bench_batch_norm(rows, quick, dtype="float32"):
    shape = (64, 128, 16, 16)
    xm, xt = _pair(shape, dtype)
    wm, wt = _pair((128,), dtype)
    bm, bt = _pair((128,), dtype)
    nbytes = np.prod(shape) * np.dtype(dtype).itemsize
    rm, rv = minigan.zeros(128), minigan.ones(128)
    trm, trv = torch.zeros(128), torch.ones(128)
    rows.append(compare(
        "batch_norm train forward",
        lambda: F.batch_norm(xm, rm, rv, wm, bm, training=True),
        lambda: TF.batch_norm(xt, trm, trv, wt, bt, training=True), shapes=f"x{shape}",
        dtype=dtype, bytes_moved=2 * nbytes))
    rows.append(compare(
        "batch_norm train forward+backward",
        _fwd_bwd(lambda a: F.batch_norm(a, rm, rv, wm, bm, training=True), xm),
        _fwd_bwd(lambda a: TF.batch_norm(a, trm, trv, wt, bt, training=True), xt),
        shapes=f"x{shape}", dtype=dtype, bytes_moved=5 * nbytes))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer shapes and repeats")
    parser.add_argument("--save", help="append the rows to this JSON-lines file")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(header())
    rows = []
    bench_conv(rows, args.quick)
    bench_tconv(rows, args.quick)
    bench_batch_norm(rows, args.quick)
    for row in rows:
        row.extra.update(minigan.get_backend("numpy").details())
    if args.save:
        save(rows, args.save)


if __name__ == "__main__":
    main()
