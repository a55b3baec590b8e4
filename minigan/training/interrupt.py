"""Ctrl-C and SIGTERM as normal events of a training run.

The first SIGINT or SIGTERM only sets a flag: the training loop finishes the step in flight,
writes a checkpoint and the plots, and raises :class:`TrainingInterrupted`. A second one raises
:class:`TrainingInterrupted` at once, wherever the loop is; every file of a run folder is written
atomically, so that loses the step in flight and nothing else.
"""

from __future__ import annotations

import signal
import threading

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on a signal. ``step`` is the step reached; ``saved`` says whether a
    checkpoint of that step was written (the first signal) or not (a second one)."""

    def __init__(self, signum: int, step: int, saved: bool):
        self.signum, self.step, self.saved = signum, step, saved
        super().__init__(f"{signal.Signals(signum).name} at step {step}")

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 128 + self.signum)


class InterruptGuard:
    """Within ``with InterruptGuard(step_of) as guard:``, the first SIGINT/SIGTERM sets
    ``guard.signum``; a second raises ``TrainingInterrupted(signum, step_of(), saved=False)``.
    Outside the main thread (where Python cannot install handlers) it does nothing."""

    def __init__(self, step_of=lambda: 0):
        self.step_of = step_of
        self.signum: int | None = None
        self._previous: dict = {}

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            for s in EXIT_CODES:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum  # the loop stops at the next step boundary
            return
        raise TrainingInterrupted(signum, self.step_of(), saved=False)
