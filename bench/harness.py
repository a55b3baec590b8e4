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
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
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


def device_name() -> str:
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
            sync: Callable[[], None] | None = None) -> list[float]:
    """Median wall time in milliseconds of each of ``fns``, run in alternation so that they
    see the same machine (``sync`` waits for a GPU, if any)."""
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
            fn()
            if sync:
                sync()
            times.append((time.perf_counter() - start) * 1e3)
    return [statistics.median(times) for times in samples]


def compare(name: str, ours: Callable[[], object], theirs: Callable[[], object], *,
            shapes: str, dtype: str, device: str | None = None, flops: float | None = None,
            bytes_moved: float | None = None, repeat: int = 7, **extra) -> Row:
    t_ours, t_theirs = time_ms(ours, theirs, repeat=repeat)
    row = Row(name, shapes, dtype, device or device_name(), round(t_ours, 3),
              round(t_theirs, 3), round(t_ours / t_theirs, 3),
              round(flops / t_ours / 1e6, 2) if flops else None,
              round(bytes_moved / t_ours / 1e6, 2) if bytes_moved else None, extra)
    print(format_row(row), flush=True)
    return row


def header() -> str:
    return (f"{'benchmark':<34} {'shapes':<34} {'dtype':<8} {'minigan ms':>11} "
            f"{'torch ms':>9} {'ratio':>6} {'GFLOP/s':>8} {'GB/s':>6}")


def format_row(r: Row) -> str:
    def fmt(v):
        return "-" if v is None else f"{v:g}"
    return (f"{r.name:<34} {r.shapes:<34} {r.dtype:<8} {r.minigan_ms:>11.3f} "
            f"{r.torch_ms:>9.3f} {r.ratio:>6.2f} {fmt(r.gflops_minigan):>8} "
            f"{fmt(r.gbps_minigan):>6}")


def save(rows: list[Row], path: str) -> None:
    """Append rows to a JSON-lines file with the date, device and commit."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with open(path, "a") as f:
        for r in rows:
            f.write(json.dumps({"date": stamp, "commit": commit(), **asdict(r)}) + "\n")
