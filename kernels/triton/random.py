"""Random numbers on the device: Philox counters through tl.rand / tl.randn / tl.randint.

A stream is (seed, offset): a call draws the counters offset .. offset + n - 1 and advances
the offset by n, so the state is two integers that round-trip through a checkpoint as JSON
and a resumed run on the same device continues the same stream. float64 draws are float32
Philox values widened (24 random bits), as torch's CUDA generator also does for normals.
"""

import torch
import triton
import triton.language as tl
from minigan.kernels.triton import _common

BLOCK = 1024


@triton.jit
def _random(out, seed, offset, n, low, span, KIND: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    counter = offs + offset
    if KIND == "normal":
        v = tl.randn(seed, counter)
    elif KIND == "uniform":
        v = tl.rand(seed, counter)
    else:  # integers in [low, low + span): 32 random bits reduced modulo span
        bits = tl.randint(seed, counter).to(tl.int64) & 0xFFFFFFFF
        v = low + bits % span
    tl.store(out + offs, v.to(out.dtype.element_ty), mask=mask)


class Stream:
    """One Philox stream: ``seed`` (31 bits) and the next unused counter."""

    def __init__(self, seed: int):
        self.seed = int(seed) % (2**31 - 1)
        self.offset = 0

    def draw(self, kind: str, shape: tuple, dtype: torch.dtype, device, low: int = 0,
             span: int = 1) -> torch.Tensor:
        out = torch.empty(shape, dtype=dtype, device=device)
        n = out.numel()
        if n:
            _common.launch(_random, (_common.cdiv(n, BLOCK),), out, self.seed, self.offset, n,
                           low, span, KIND=kind, BLOCK=BLOCK)
            self.offset += n
        return out

    def state(self) -> dict:
        return {"seed": self.seed, "offset": self.offset}

    def set_state(self, state: dict) -> None:
        self.seed, self.offset = int(state["seed"]), int(state["offset"])


def compile_cases() -> list:
    cases = []
    for kind, types in (("normal", (torch.float32, torch.float64)),
                        ("uniform", (torch.float32, torch.float64)), ("int", (torch.int64,))):
        for t in types:
            for offset_type in ("i32", "i64"):
                sig = dict(out=_common.POINTER_TYPES[t], seed="i32", offset=offset_type,
                           n="i32", low="i32", span="i32", KIND="constexpr", BLOCK="constexpr")
                cases.append(_common.CompileCase(_random, sig, dict(KIND=kind, BLOCK=BLOCK)))
    return cases
