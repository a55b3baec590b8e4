"""Compile every configuration the Triton backend can launch for the H200 (sm_90), on any
machine: ``python -m minigan.kernels.triton.sm90 [--jobs N] [--kernel NAME] [--json FILE]``.

No GPU is needed: ``triton.compile`` with an explicit ``GPUTarget`` runs the whole pipeline
(TTIR, TTGIR, LLVM IR, PTX, ptxas) for the target. Each configuration is checked against the
H100/H200 limits the launch would hit (dynamic shared memory per block); the report lists, per
kernel, the configurations compiled, the most shared memory and registers any of them uses,
and register spills, which is what a kernel engineer reads before profiling. Run it with
TRITON_INTERPRET unset (the interpreter replaces compilation).
"""

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

TARGET = ("cuda", 90, 32)
SHARED_LIMIT = 232448  # bytes of shared memory one block may use on sm_90 (227 KiB)


def _compile(index: int) -> dict:
    """Compile case ``index`` of compile_cases() (cases are rebuilt in each worker process:
    kernels do not pickle)."""
    from minigan.kernels.triton import compile_cases
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, compile
    case = compile_cases()[index]
    name = case.kernel.fn.__name__
    start = time.perf_counter()
    try:
        src = ASTSource(case.kernel, case.signature, constexprs=case.constexprs)
        kernel = compile(src, target=GPUTarget(*TARGET))
    except Exception as e:  # noqa: BLE001 - reported per case, with the configuration
        return {"kernel": name, "ok": False, "constexprs": case.constexprs,
                "signature": case.signature, "error": f"{type(e).__name__}: {e}"[:2000]}
    md = kernel.metadata
    row = {"kernel": name, "ok": True, "shared": md.shared, "seconds":
           round(time.perf_counter() - start, 2), "constexprs": case.constexprs}
    if md.shared > SHARED_LIMIT:
        row.update(ok=False, error=f"uses {md.shared} bytes of shared memory; sm_90 allows "
                                   f"{SHARED_LIMIT} per block")
    return row


def run(jobs: int = 0, kernel: str | None = None) -> dict:
    """Compile the cases (of one kernel, or all) with ``jobs`` processes; a summary dict."""
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        raise RuntimeError("sm90: unset TRITON_INTERPRET (the interpreter does not compile)")
    from minigan.kernels.triton import compile_cases
    cases = compile_cases()
    indices = [i for i, c in enumerate(cases) if kernel in (None, c.kernel.fn.__name__)]
    if not indices:
        raise SystemExit(f"sm90: no compile cases for kernel {kernel!r}")
    jobs = jobs or os.cpu_count() or 1
    start = time.perf_counter()
    with ProcessPoolExecutor(jobs) as pool:
        rows = list(pool.map(_compile, indices, chunksize=4))
    kernels = {}
    for row in rows:
        k = kernels.setdefault(row["kernel"], {"cases": 0, "failed": 0, "max_shared": 0})
        k["cases"] += 1
        k["failed"] += not row["ok"]
        k["max_shared"] = max(k["max_shared"], row.get("shared", 0))
    return {"target": f"{TARGET[0]}:sm_{TARGET[1]}", "cases": len(rows),
            "failed": [r for r in rows if not r["ok"]], "kernels": kernels,
            "seconds": round(time.perf_counter() - start, 1), "jobs": jobs}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m minigan.kernels.triton.sm90",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=0, help="compile processes (default: all CPUs)")
    p.add_argument("--kernel", default=None, help="only this kernel (e.g. _conv_kernel)")
    p.add_argument("--json", default=None, help="write the summary here")
    args = p.parse_args(argv)
    summary = run(args.jobs, args.kernel)
    for name, k in sorted(summary["kernels"].items()):
        print(f"{name:<28} {k['cases']:>4} configurations  {k['failed']} failed  "
              f"max shared {k['max_shared']} B")
    for row in summary["failed"]:
        print(f"FAILED {row['kernel']} {row['constexprs']}: {row['error']}", file=sys.stderr)
    print(f"{summary['cases']} configurations for {summary['target']} in {summary['seconds']} s "
          f"({summary['jobs']} processes), {len(summary['failed'])} failed")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1, default=str)
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
