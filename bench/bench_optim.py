"""Optimizer benchmark: one Adam step over a DCGAN-sized parameter set, minigan (numpy
backend) vs torch.optim.Adam on the CPU, single-tensor (foreach=False) and foreach.

    python -m bench.bench_optim [--quick] [--torch-threads 1] [--save bench/results/optim.jsonl]

Adam is memory-bound: per element it reads param, grad, exp_avg, exp_avg_sq and writes
param, exp_avg, exp_avg_sq, so the floor is 7 * 4 bytes per float32 parameter. The GB/s
column is that count over minigan's time (its temporaries move more than that). torch's
multi-threaded loops slow down sharply on a loaded machine; --torch-threads 1 compares like
with like.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import minigan
from bench.harness import compare, header, save


def dcgan_shapes(nz: int = 100, ngf: int = 64, ndf: int = 64, nc: int = 3) -> list[tuple]:
    """Parameter shapes of the 64x64 DCGAN generator and discriminator (Radford et al.)."""
    g = [(nz, ngf * 8, 4, 4), (ngf * 8,), (ngf * 8,), (ngf * 8, ngf * 4, 4, 4), (ngf * 4,),
         (ngf * 4,), (ngf * 4, ngf * 2, 4, 4), (ngf * 2,), (ngf * 2,), (ngf * 2, ngf, 4, 4),
         (ngf,), (ngf,), (ngf, nc, 4, 4)]
    d = [(ndf, nc, 4, 4), (ndf * 2, ndf, 4, 4), (ndf * 2,), (ndf * 2,), (ndf * 4, ndf * 2, 4, 4),
         (ndf * 4,), (ndf * 4,), (ndf * 8, ndf * 4, 4, 4), (ndf * 8,), (ndf * 8,),
         (1, ndf * 8, 4, 4)]
    return g + d


def _parameters(shapes, dtype: str):
    """The same values and gradients as minigan and torch parameters."""
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s).astype(dtype) * 0.02 for s in shapes]
    grads = [rng.standard_normal(s).astype(dtype) * 1e-3 for s in shapes]
    ours = [minigan.tensor(v, requires_grad=True) for v in values]
    theirs = [torch.tensor(v, requires_grad=True) for v in values]
    for p, q, g in zip(ours, theirs, grads):
        p.grad, q.grad = minigan.tensor(g), torch.tensor(g)
    return ours, theirs


def bench_adam(rows: list, quick: bool, dtype: str = "float32") -> None:
    shapes = dcgan_shapes()
    numel = sum(int(np.prod(s)) for s in shapes)
    ours, theirs = _parameters(shapes, dtype)
    hyper = dict(lr=2e-4, betas=(0.5, 0.999))  # DCGAN's
    ours_opt = minigan.optim.Adam(ours, **hyper)
    described = f"{len(shapes)} tensors, {numel / 1e6:.2f}M params"
    bytes_moved = 7 * numel * np.dtype(dtype).itemsize
    for foreach in (False, True):
        theirs_opt = torch.optim.Adam(theirs, foreach=foreach, **hyper)
        rows.append(compare(f"Adam step vs torch foreach={foreach}", ours_opt.step,
                            theirs_opt.step, shapes=described, dtype=dtype,
                            bytes_moved=bytes_moved, repeat=3 if quick else 7))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--save", help="append the rows to this JSON-lines file")
    parser.add_argument("--torch-threads", type=int,
                        help="torch's CPU threads (1: like for like with numpy's one thread)")
    args = parser.parse_args(argv)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    print(f"torch threads: {torch.get_num_threads()}; numpy kernels are single-threaded")
    print(header())
    rows: list = []
    bench_adam(rows, args.quick)
    if args.save:
        save(rows, args.save)


if __name__ == "__main__":
    main()
