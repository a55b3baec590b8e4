"""Kernel benchmarks: minigan vs torch on the same device, DCGAN-sized shapes.

    python -m bench.bench_ops [--quick] [--save bench/results/ops-cpu.jsonl]
    python -m bench.bench_ops --backend triton [--tf32] [--batch-size 128]
                              [--save bench/results/ops-h200.jsonl]

Each row times the forward and the forward+backward of one op in both libraries in the same
process, and reports minigan's achieved GFLOP/s (conv) or GB/s (memory-bound ops). With
``--backend numpy`` torch runs on the CPU; with ``--backend triton`` on a GPU torch runs on
the same GPU, both in strict IEEE float32 unless ``--tf32`` (then both in TF32), and GPU rows
carry the percentages of the H200's ceilings (bench/harness.py) in ``extra``.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as TF

import minigan
import minigan.functional as F
from bench.harness import (
    H200_HBM_SPEC_GBPS,
    bandwidth_ceilings,
    compare,
    copy_bandwidth_gbps,
    exit_on_sigterm,
    flops_ceilings,
    header,
    save,
    target,
)


def _pair(shape, dtype, tgt, requires_grad=True):
    a = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    return (minigan.tensor(a, requires_grad=requires_grad, backend=tgt.backend),
            torch.tensor(a, requires_grad=requires_grad, device=tgt.device))


def _fwd_bwd(fn, *inputs):
    def run():
        out = fn(*inputs)
        out.backward(out.detach() if hasattr(out, "detach") else out)
    return run


def conv_cases(quick: bool, n: int = 64, gpu: bool = False):
    # (N, C_in, H, C_out, k, stride, pad): DCGAN 64x64 discriminator layers
    cases = [(n, 3, 64, 64, 4, 2, 1), (n, 64, 32, 128, 4, 2, 1), (n, 128, 16, 256, 4, 2, 1),
             (n, 256, 8, 512, 4, 2, 1)]
    if gpu and not quick:
        cases.append((n, 512, 4, 1, 4, 1, 0))  # the last layer: one logit per image
    return cases[1:3] if quick else cases


def tconv_cases(quick: bool, n: int = 64, gpu: bool = False):
    # (N, C_in, H, C_out, k, stride, pad): DCGAN 64x64 generator layers
    cases = [(n, 512, 4, 256, 4, 2, 1), (n, 256, 8, 128, 4, 2, 1), (n, 128, 16, 64, 4, 2, 1),
             (n, 64, 32, 3, 4, 2, 1)]
    if gpu and not quick:
        cases.insert(0, (n, 100, 1, 512, 4, 1, 0))  # the first layer: z (100x1x1) -> 4x4
    return cases[1:3] if quick else cases


def norm_cases(quick: bool, n: int = 64, gpu: bool = False):
    # (N, C, H, W): the DCGAN 64x64 BatchNorm inputs (G's four; D's are three of them)
    if not gpu or quick:
        return [(n, 128, 16, 16)]
    return [(n, 512, 4, 4), (n, 256, 8, 8), (n, 128, 16, 16), (n, 64, 32, 32)]


def _repeat(quick: bool, tgt) -> int:
    if tgt.gpu:
        return 5 if quick else 10
    return 3 if quick else 5


def bench_conv(rows, quick, tgt, batch, ceilings=None, dtype="float32"):
    for n, c, h, o, k, s, p in conv_cases(quick, batch, tgt.gpu):
        xm, xt = _pair((n, c, h, h), dtype, tgt)
        wm, wt = _pair((o, c, k, k), dtype, tgt)
        ho = (h + 2 * p - k) // s + 1
        flops = 2 * n * o * ho * ho * c * k * k
        shapes = f"x{(n, c, h, h)} w{(o, c, k, k)} s{s}"
        rows.append(compare("conv2d forward", lambda: F.conv2d(xm, wm, stride=s, padding=p),
                            lambda: TF.conv2d(xt, wt, stride=s, padding=p), shapes=shapes,
                            dtype=dtype, flops=flops, repeat=_repeat(quick, tgt),
                            ceilings=ceilings, **tgt.kw()))
        rows.append(compare(
            "conv2d forward+backward",
            _fwd_bwd(lambda a, b: F.conv2d(a, b, stride=s, padding=p), xm, wm),
            _fwd_bwd(lambda a, b: TF.conv2d(a, b, stride=s, padding=p), xt, wt),
            shapes=shapes, dtype=dtype, flops=3 * flops, repeat=_repeat(quick, tgt),
            ceilings=ceilings, **tgt.kw()))
        # D's layer as nn.Sequential runs it: the LeakyReLU in the convolution's epilogue
        # (torch eager: cuDNN's convolution, then a leaky_relu kernel)
        act = ("leaky_relu", 0.2)
        rows.append(compare(
            "conv2d + leaky_relu forward (fused epilogue)",
            lambda: F.conv2d(xm, wm, stride=s, padding=p, activation=act),
            lambda: TF.leaky_relu(TF.conv2d(xt, wt, stride=s, padding=p), 0.2), shapes=shapes,
            dtype=dtype, flops=flops, repeat=_repeat(quick, tgt), ceilings=ceilings,
            **tgt.kw()))


def bench_tconv(rows, quick, tgt, batch, ceilings=None, dtype="float32"):
    for n, c, h, o, k, s, p in tconv_cases(quick, batch, tgt.gpu):
        xm, xt = _pair((n, c, h, h), dtype, tgt)
        wm, wt = _pair((c, o, k, k), dtype, tgt)
        flops = 2 * n * c * h * h * o * k * k
        shapes = f"x{(n, c, h, h)} w{(c, o, k, k)} s{s}"
        rows.append(compare(
            "conv_transpose2d forward",
            lambda: F.conv_transpose2d(xm, wm, stride=s, padding=p),
            lambda: TF.conv_transpose2d(xt, wt, stride=s, padding=p), shapes=shapes,
            dtype=dtype, flops=flops, repeat=_repeat(quick, tgt), ceilings=ceilings,
            **tgt.kw()))
        rows.append(compare(
            "conv_transpose2d forward+backward",
            _fwd_bwd(lambda a, b: F.conv_transpose2d(a, b, stride=s, padding=p), xm, wm),
            _fwd_bwd(lambda a, b: TF.conv_transpose2d(a, b, stride=s, padding=p), xt, wt),
            shapes=shapes, dtype=dtype, flops=3 * flops, repeat=_repeat(quick, tgt),
            ceilings=ceilings, **tgt.kw()))


def bench_batch_norm(rows, quick, tgt, batch, ceilings=None, dtype="float32"):
    for shape in norm_cases(quick, batch, tgt.gpu):
        c = shape[1]
        xm, xt = _pair(shape, dtype, tgt)
        wm, wt = _pair((c,), dtype, tgt)
        bm, bt = _pair((c,), dtype, tgt)
        nbytes = np.prod(shape) * np.dtype(dtype).itemsize
        rm, rv = minigan.zeros(c, backend=tgt.backend), minigan.ones(c, backend=tgt.backend)
        trm, trv = torch.zeros(c, device=tgt.device), torch.ones(c, device=tgt.device)
        repeat = 10 if tgt.gpu else 7
        rows.append(compare(
            "batch_norm train forward",
            lambda: F.batch_norm(xm, rm, rv, wm, bm, training=True),
            lambda: TF.batch_norm(xt, trm, trv, wt, bt, training=True), shapes=f"x{shape}",
            dtype=dtype, bytes_moved=2 * nbytes, repeat=repeat, ceilings=ceilings,
            **tgt.kw()))
        rows.append(compare(
            "batch_norm train forward+backward",
            _fwd_bwd(lambda a: F.batch_norm(a, rm, rv, wm, bm, training=True), xm),
            _fwd_bwd(lambda a: TF.batch_norm(a, trm, trv, wt, bt, training=True), xt),
            shapes=f"x{shape}", dtype=dtype, bytes_moved=5 * nbytes, repeat=repeat,
            ceilings=ceilings, **tgt.kw()))
        # G's BatchNorm2d -> ReLU as nn.Sequential runs it: the ReLU in the affine pass
        rows.append(compare(
            "batch_norm + relu train forward+backward (fused)",
            _fwd_bwd(lambda a: F.batch_norm(a, rm, rv, wm, bm, training=True,
                                            activation="relu"), xm),
            _fwd_bwd(lambda a: TF.relu(TF.batch_norm(a, trm, trv, wt, bt, training=True)), xt),
            shapes=f"x{shape}", dtype=dtype, bytes_moved=7 * nbytes, repeat=repeat,
            ceilings=ceilings, **tgt.kw()))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer shapes and repeats")
    parser.add_argument("--save", help="append the rows to this JSON-lines file")
    parser.add_argument("--backend", default="numpy", choices=["numpy", "triton", "cupy"],
                        help="minigan's backend; torch runs on the same device")
    parser.add_argument("--tf32", action="store_true",
                        help="--backend triton: TF32 convolutions on both sides (default: "
                             "strict IEEE float32 on both)")
    parser.add_argument("--batch-size", type=int,
                        help="N of every shape (default: 64 on the CPU, 128 on a GPU)")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    tgt = target(args.backend, args.tf32)
    n = args.batch_size or (128 if tgt.gpu else 64)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    compute = memory = None
    if tgt.gpu:
        copy = copy_bandwidth_gbps(tgt.device)
        compute, memory = flops_ceilings(tgt.precision), bandwidth_ceilings(copy)
        print(f"{tgt.kw()['device']}, {tgt.precision}: ceilings {', '.join(compute)}; "
              f"torch x.copy_(y) {copy:.0f} GB/s (HBM3e spec {H200_HBM_SPEC_GBPS:.0f} GB/s); "
              f"percentages are minigan%/torch%")
    print(header())
    rows = []
    try:
        bench_conv(rows, args.quick, tgt, n, compute)
        bench_tconv(rows, args.quick, tgt, n, compute)
        bench_batch_norm(rows, args.quick, tgt, n, memory)
    finally:
        details = tgt.details()
        for row in rows:
            row.extra.update(details)
        if args.save and rows:
            save(rows, args.save)


if __name__ == "__main__":
    main()
