"""TensorBoard event files for a run (``pip install minigan[tensorboard]``): the metrics lines as
scalars and the sample grids as images, under ``RUN/tensorboard/``.

Written with the ``tensorboard`` package's own event writer and protocol buffers (no torch, no
TensorFlow). A resumed run first writes a ``SessionLog.START`` at the step after its checkpoint,
which tells TensorBoard to drop the older events from that step on, so the curves show every
step once, as ``metrics.jsonl`` does.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np


def available() -> bool:
    try:
        import tensorboard.summary.writer.event_file_writer  # noqa: F401
    except ImportError:
        return False
    return True


class TensorBoardWriter:
    def __init__(self, logdir: str | Path, purge_step: int | None = None):
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        self._event, self._summary = event_pb2, summary_pb2
        Path(logdir).mkdir(parents=True, exist_ok=True)
        self._writer = EventFileWriter(str(logdir), flush_secs=30)
        if purge_step is not None:
            self._writer.add_event(self._event.Event(
                wall_time=time.time(), step=purge_step,
                session_log=self._event.SessionLog(status=self._event.SessionLog.START)))

    def _add(self, step: int, values: list) -> None:
        self._writer.add_event(self._event.Event(
            wall_time=time.time(), step=step, summary=self._summary.Summary(value=values)))

    def scalars(self, step: int, scalars: dict[str, float]) -> None:
        Value = self._summary.Summary.Value
        self._add(step, [Value(tag=k, simple_value=float(v)) for k, v in scalars.items()])

    def image(self, tag: str, step: int, pixels: np.ndarray) -> None:
        """``pixels``: (H, W, 3) uint8."""
        from PIL import Image
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG")
        image = self._summary.Summary.Image(height=pixels.shape[0], width=pixels.shape[1],
                                            colorspace=3, encoded_image_string=buf.getvalue())
        self._add(step, [self._summary.Summary.Value(tag=tag, image=image)])

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
