"""The one benchmark harness: time minigan and torch side by side in the same run.

``compare(name, ours, theirs, ...)`` warms both up, then times them in alternation (ours,
theirs, ours, ...) so that a shared or throttled machine slows both alike, and prints one
row: shapes, dtype, device, both medians, the ratio (minigan / torch; below 1 means minigan
is faster) and, when the work is given, the achieved GFLOP/s or GB/s.

Each timed call follows an untimed call of the same function: thread pools spin for a while
after they finish (OpenBLAS's ~0.1 s, OpenMP's a few ms), and without that settling call
each library's first call after a switch shares the cores with the other's spinning threads
(measured: torch's conv2d forward timed 2x slower right after minigan's).
Results can be appended to a JSON-lines file for bench/results/.

On a GPU (``--backend triton`` with CUDA, or ``--backend cupy``) both sides run on the same
device, ``sync`` is ``torch.cuda.synchronize`` (a device-wide wait: Triton launches on torch's
current stream, cupy on its own, and it waits for both) and ``number`` calls are timed per
sample. GPU rows also carry, in ``extra``, the precision and the percentages of the ceilings
of ``flops_ceilings`` and ``bandwidth_ceilings``.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field


@dataclass
class Row:
    name: str
    shapes: str
    dtype: str
    device: str
    minigan_ms: float
    torch_ms: float
    ratio: float
    gflops_minigan: float | None = None
    gbps_minigan: float | None = None
    extra: dict = field(default_factory=dict)
    backend: str | None = None  # minigan's backend


# H200 SXM (NVIDIA's spec sheet), the ceilings GPU rows are reported against:
# - FP32 without tensor cores: 67 TFLOP/s. Strict IEEE float32 runs here on both sides
#   (tl.dot with input_precision="ieee" and cuDNN/cuBLAS with allow_tf32 off use FMA units).
# - TF32 tensor cores: the sheet's 989 TFLOP/s is with 2:4 structured sparsity, which no
#   dense convolution uses; dense TF32 is half of it, 494.5 TFLOP/s (the --tf32 rows).
# - HBM3e: 4.8 TB/s spec; a device-to-device copy reaches about 4.3 TB/s. Memory-bound rows
#   are reported against 4.3 TB/s and against torch's own x.copy_(y) bandwidth measured in
#   the same run (the practical ceiling).
H200_FP32_GFLOPS = 67_000.0
H200_TF32_DENSE_GFLOPS = 494_500.0
H200_HBM_SPEC_GBPS = 4_800.0
H200_COPY_GBPS = 4_300.0


def device_name(device: str = "cpu") -> str:
    """The CPU's model, or the GPU's name (e.g. "NVIDIA H200") for a cuda device."""
    if str(device).startswith("cuda"):
        import torch
        return torch.cuda.get_device_name(torch.device(device))
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"CPU {cpu} ({os.cpu_count()} cores)"


def commit() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True,
                                       stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def time_ms(*fns: Callable[[], object], repeat: int = 7, warmup: int = 2,
            sync: Callable[[], None] | None = None, number: int = 1) -> list[float]:
    """Median wall time in milliseconds of each of ``fns``, run in alternation so that they
    see the same machine (``sync`` waits for a GPU, if any). Each sample times ``number``
    back-to-back calls (queued on a GPU) and reports the time per call."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    if sync:
        sync()
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, times in zip(fns, samples):
            fn()  # settle: the previous function's idle threads stop spinning
            if sync:
                sync()
            start = time.perf_counter()
            for _ in range(number):
                fn()
            if sync:
                sync()
            times.append((time.perf_counter() - start) * 1e3 / number)
    return [statistics.median(times) for times in samples]


def compare(name: str, ours: Callable[[], object], theirs: Callable[[], object], *,
            shapes: str, dtype: str, device: str | None = None, flops: float | None = None,
            bytes_moved: float | None = None, repeat: int = 7,
            sync: Callable[[], None] | None = None, number: int = 1,
            backend: str | None = None, ceilings: dict | None = None, **extra) -> Row:
    """Time ``ours`` (minigan) against ``theirs`` (torch) and print the row. ``device`` is
    the device's name (default: this CPU's); ``ceilings`` ({label: GFLOP/s or GB/s}, the
    unit of the row's rate) adds both sides' rates and percentages of each to ``extra``."""
    t_ours, t_theirs = time_ms(ours, theirs, repeat=repeat, sync=sync, number=number)
    row = Row(name, shapes, dtype, device or device_name(), round(t_ours, 3),
              round(t_theirs, 3), round(t_ours / t_theirs, 3),
              round(flops / t_ours / 1e6, 2) if flops else None,
              round(bytes_moved / t_ours / 1e6, 2) if bytes_moved else None, extra, backend)
    work = flops or bytes_moved
    if ceilings and work:
        unit = "gflops" if flops else "gbps"
        rate_torch = work / t_theirs / 1e6
        extra[f"{unit}_torch"] = round(rate_torch, 2)
        extra["ceilings"] = {k: round(v, 1) for k, v in ceilings.items()}
        rate_ours = row.gflops_minigan if flops else row.gbps_minigan
        extra["pct_of_ceiling_minigan"] = {k: round(100 * rate_ours / v, 2)
                                           for k, v in ceilings.items()}
        extra["pct_of_ceiling_torch"] = {k: round(100 * rate_torch / v, 2)
                                         for k, v in ceilings.items()}
    print(format_row(row), flush=True)
    return row


def gpu_sync() -> Callable[[], None]:
    """Waits for the GPU: torch's kernels, Triton's and cupy's (cudaDeviceSynchronize)."""
    import torch
    return torch.cuda.synchronize


def copy_bandwidth_gbps(device: str = "cuda", nbytes: int = 1 << 30) -> float:
    """torch's device-to-device copy, ``x.copy_(y)`` of ``nbytes`` float32 (read + write
    counted), in GB/s: the practical ceiling of memory-bound kernels."""
    import torch

    def copy_ms() -> float:
        x = torch.empty(nbytes // 4, dtype=torch.float32, device=device)
        y = torch.ones_like(x)
        return time_ms(lambda: x.copy_(y), repeat=10, warmup=3, sync=gpu_sync(), number=10)[0]

    t = copy_ms()
    torch.cuda.empty_cache()  # the two buffers go back to the driver
    return 2 * nbytes / t / 1e6


def flops_ceilings(precision: str) -> dict:
    """The compute ceiling of ``precision`` ("ieee" or "tf32") on an H200, in GFLOP/s."""
    if precision == "tf32":
        return {"H200 TF32 dense 494.5 TFLOP/s": H200_TF32_DENSE_GFLOPS}
    return {"H200 FP32 67 TFLOP/s": H200_FP32_GFLOPS}


def bandwidth_ceilings(measured_copy_gbps: float) -> dict:
    """The memory ceilings, in GB/s: the nominal 4.3 TB/s copy and torch's measured copy."""
    return {"copy 4.3 TB/s": H200_COPY_GBPS,
            "torch copy measured": measured_copy_gbps}


def set_precision(backend: str, tf32: bool) -> str | None:
    """TF32 or strict IEEE float32 on both sides (minigan's Triton dots, torch's cuDNN and
    cuBLAS), so that a comparison is like for like. Returns "tf32" or "ieee", or None for
    the numpy backend (whose kernels and torch's CPU kernels are float32; nothing is set)."""
    import torch

    import minigan
    if backend != "triton":
        if tf32:
            raise SystemExit(f"--tf32 applies to --backend triton, not --backend {backend}")
        if backend == "cupy":  # cupy's cuBLAS GEMMs are IEEE float32 (unless CUPY_TF32=1)
            if os.environ.get("CUPY_TF32", "0") not in ("", "0"):
                raise SystemExit("unset CUPY_TF32: the cupy rows compare IEEE float32")
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
            return "ieee"
        return None
    minigan.get_backend("triton").set_tf32(tf32)
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    return "tf32" if tf32 else "ieee"


def torch_device(backend: str) -> str:
    """Where torch runs for a comparison with ``backend``: its device ("cuda" on a GPU)."""
    import minigan
    device = getattr(minigan.get_backend(backend), "device", "cpu")
    return "cuda" if str(device).startswith("cuda") else "cpu"


@dataclass
class Target:
    """Where a benchmark runs: minigan's backend, torch's device beside it, and the
    ``compare`` arguments that follow (the GPU's sync and name, calls per sample)."""
    backend: str
    device: str  # torch's device: "cuda" when the backend runs on a GPU, else "cpu"
    precision: str | None  # "ieee" / "tf32" for the triton backend (see set_precision)
    number: int = 1

    @property
    def gpu(self) -> bool:
        return self.device == "cuda"

    def kw(self) -> dict:
        """``compare`` keyword arguments; on the CPU only the backend (rows as before)."""
        if not self.gpu:
            return {"backend": self.backend}
        return {"backend": self.backend, "device": device_name(self.device),
                "sync": gpu_sync(), "number": self.number}

    def details(self) -> dict:
        """The backend's details (on a GPU: device, versions, precision) and torch's flags."""
        import torch

        import minigan
        d = dict(minigan.get_backend(self.backend).details())
        if self.gpu:
            d.update(torch_cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
                     torch_matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
                     calls_per_sample=self.number)
        return d


def target(backend: str, tf32: bool = False, number: int = 10) -> Target:
    """Set the precision (see set_precision) and place torch beside ``backend``. On a GPU
    each timed sample is ``number`` calls."""
    precision = set_precision(backend, tf32)
    device = torch_device(backend)
    return Target(backend, device, precision, number if device == "cuda" else 1)


def exit_on_sigterm() -> None:
    """A ``timeout``'s SIGTERM exits through ``finally`` blocks (the rows so far are saved)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))


def header() -> str:
    return (f"{'benchmark':<34} {'shapes':<34} {'dtype':<8} {'minigan ms':>11} "
            f"{'torch ms':>9} {'ratio':>6} {'GFLOP/s':>8} {'GB/s':>6}")


def format_row(r: Row) -> str:
    def fmt(v):
        return "-" if v is None else f"{v:g}"
    line = (f"{r.name:<34} {r.shapes:<34} {r.dtype:<8} {r.minigan_ms:>11.3f} "
            f"{r.torch_ms:>9.3f} {r.ratio:>6.2f} {fmt(r.gflops_minigan):>8} "
            f"{fmt(r.gbps_minigan):>6}")
    pct_ours, pct_theirs = (r.extra.get("pct_of_ceiling_minigan"),
                            r.extra.get("pct_of_ceiling_torch"))
    if pct_ours:  # GPU rows: minigan% / torch% of each ceiling
        line += "  " + "; ".join(f"{pct_ours[k]:g}%/{pct_theirs[k]:g}% of {k}"
                                 for k in pct_ours)
    return line


def save(rows: list[Row], path: str) -> None:
    """Append rows to a JSON-lines file with the date, device and commit."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with open(path, "a") as f:
        for r in rows:
            f.write(json.dumps({"date": stamp, "commit": commit(), **asdict(r)}) + "\n")
