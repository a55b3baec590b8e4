"""Optimizer benchmark: one Adam step over a DCGAN-sized parameter set, minigan vs
torch.optim.Adam on the same device: single-tensor (foreach=False), foreach and, on a GPU,
fused.

    python -m bench.bench_optim [--quick] [--torch-threads 1] [--save bench/results/optim.jsonl]
    python -m bench.bench_optim --backend triton [--tf32] [--save bench/results/optim-h200.jsonl]

Adam is memory-bound: per element it reads param, grad, exp_avg, exp_avg_sq and writes
param, exp_avg, exp_avg_sq, so the floor is 7 * 4 bytes per float32 parameter. The GB/s
column is that count over minigan's time (its temporaries move more than that). torch's
multi-threaded loops slow down sharply on a loaded machine; --torch-threads 1 compares like
with like. On a GPU the rows carry, in ``extra``, the percentages of the nominal 4.3 TB/s copy
and of torch's x.copy_(y) bandwidth measured in the same run. --ngf/--ndf shrink the model
(e.g. 4 for a quick run under TRITON_INTERPRET=1).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import minigan
from bench.harness import (
    H200_HBM_SPEC_GBPS,
    bandwidth_ceilings,
    compare,
    copy_bandwidth_gbps,
    exit_on_sigterm,
    header,
    save,
    target,
)


def dcgan_shapes(nz: int = 100, ngf: int = 64, ndf: int = 64, nc: int = 3) -> list[tuple]:
    """Parameter shapes of the 64x64 DCGAN generator and discriminator (Radford et al.)."""
    g = [(nz, ngf * 8, 4, 4), (ngf * 8,), (ngf * 8,), (ngf * 8, ngf * 4, 4, 4), (ngf * 4,),
         (ngf * 4,), (ngf * 4, ngf * 2, 4, 4), (ngf * 2,), (ngf * 2,), (ngf * 2, ngf, 4, 4),
         (ngf,), (ngf,), (ngf, nc, 4, 4)]
    d = [(ndf, nc, 4, 4), (ndf * 2, ndf, 4, 4), (ndf * 2,), (ndf * 2,), (ndf * 4, ndf * 2, 4, 4),
         (ndf * 4,), (ndf * 4,), (ndf * 8, ndf * 4, 4, 4), (ndf * 8,), (ndf * 8,),
         (1, ndf * 8, 4, 4)]
    return g + d


def _parameters(shapes, dtype: str, backend: str = "numpy", device: str = "cpu"):
    """The same values and gradients as minigan and torch parameters."""
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s).astype(dtype) * 0.02 for s in shapes]
    grads = [rng.standard_normal(s).astype(dtype) * 1e-3 for s in shapes]
    ours = [minigan.tensor(v, requires_grad=True, backend=backend) for v in values]
    theirs = [torch.tensor(v, requires_grad=True, device=device) for v in values]
    for p, q, g in zip(ours, theirs, grads):
        p.grad, q.grad = (minigan.tensor(g, backend=backend),
                          torch.tensor(g, device=device))
    return ours, theirs


def bench_adam(rows: list, quick: bool, dtype: str = "float32", tgt=None, shapes=None,
               ceilings=None) -> None:
    shapes = shapes or dcgan_shapes()
    numel = sum(int(np.prod(s)) for s in shapes)
    backend, device = (tgt.backend, tgt.device) if tgt else ("numpy", "cpu")
    gpu = bool(tgt and tgt.gpu)
    ours, theirs = _parameters(shapes, dtype, backend, device)
    hyper = dict(lr=2e-4, betas=(0.5, 0.999))  # DCGAN's
    ours_opt = minigan.optim.Adam(ours, **hyper)
    described = f"{len(shapes)} tensors, {numel / 1e6:.2f}M params"
    bytes_moved = 7 * numel * np.dtype(dtype).itemsize
    variants = [("foreach", False), ("foreach", True)] + ([("fused", True)] if gpu else [])
    repeat = (5 if quick else 15) if gpu else (3 if quick else 7)
    kw = tgt.kw() if tgt else {}
    for flag, value in variants:
        theirs_opt = torch.optim.Adam(theirs, **{flag: value}, **hyper)
        rows.append(compare(f"Adam step vs torch {flag}={value}", ours_opt.step,
                            theirs_opt.step, shapes=described, dtype=dtype,
                            bytes_moved=bytes_moved, repeat=repeat, ceilings=ceilings, **kw))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--save", help="append the rows to this JSON-lines file")
    parser.add_argument("--torch-threads", type=int,
                        help="torch's CPU threads (1: like for like with numpy's one thread)")
    parser.add_argument("--backend", default="numpy", choices=["numpy", "triton", "cupy"],
                        help="minigan's backend; torch runs on the same device")
    parser.add_argument("--tf32", action="store_true",
                        help="--backend triton: TF32 on both sides (Adam has no matmul: "
                             "recorded only, for rows alike with the other benchmarks)")
    parser.add_argument("--ngf", type=int, default=64, help="G width of the parameter set")
    parser.add_argument("--ndf", type=int, default=64, help="D width of the parameter set")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    tgt = target(args.backend, args.tf32, number=20)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    ceilings = None
    if tgt.gpu:
        copy = copy_bandwidth_gbps(tgt.device)
        ceilings = bandwidth_ceilings(copy)
        print(f"{tgt.kw()['device']}: torch x.copy_(y) {copy:.0f} GB/s (HBM3e spec "
              f"{H200_HBM_SPEC_GBPS:.0f} GB/s); percentages are minigan%/torch%")
    else:
        print(f"torch threads: {torch.get_num_threads()}; numpy kernels are single-threaded")
    print(header())
    rows: list = []
    try:
        bench_adam(rows, args.quick, tgt=tgt, shapes=dcgan_shapes(ngf=args.ngf, ndf=args.ndf),
                   ceilings=ceilings)
    finally:
        if tgt.gpu or tgt.backend != "numpy":
            details = tgt.details()
            for row in rows:
                row.extra.update(details)
        if args.save and rows:
            save(rows, args.save)


if __name__ == "__main__":
    main()
