"""TensorBoard event files for a run (``pip install minigan[tensorboard]``): the metrics lines as
scalars and the sample grids as images, under ``RUN/tensorboard/``.

Written with the ``tensorboard`` package's record writer and protocol buffers (no torch, no
TensorFlow), synchronously: a scalar is on disk when its metrics line is. A resumed run first
writes a ``SessionLog.START`` at the step after its checkpoint, which tells TensorBoard to drop
the older events from that step on, so the curves show every step once, as ``metrics.jsonl``
does.
"""

from __future__ import annotations

import io
import socket
import time
from pathlib import Path

import numpy as np


def available() -> bool:
    try:
        import tensorboard.summary.writer.record_writer  # noqa: F401
    except ImportError:
        return False
    return True


class TensorBoardWriter:
    """One event file per training session. TensorBoard reads a folder's event files in name
    order, so each name sorts after the folder's existing ones (a resume within the same
    second, or by a process with a smaller pid, must not be read first)."""

    def __init__(self, logdir: str | Path, purge_step: int | None = None):
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter
        self._event, self._summary = event_pb2, summary_pb2
        logdir = Path(logdir)
        logdir.mkdir(parents=True, exist_ok=True)
        existing = sorted(logdir.glob("events.out.tfevents.*"))
        stamp = int(time.time())
        for p in existing:
            field = p.name.split(".")[3]
            if field.isdigit():
                stamp = max(stamp, int(field))
        name = f"events.out.tfevents.{stamp:010d}.{socket.gethostname()}.{len(existing):05d}"
        self._file = open(logdir / name, "wb")  # noqa: SIM115 - closed by close()
        self._writer = RecordWriter(self._file)
        self._write(self._event.Event(wall_time=time.time(), file_version="brain.Event:2"))
        if purge_step is not None:
            self._write(self._event.Event(
                wall_time=time.time(), step=purge_step,
                session_log=self._event.SessionLog(status=self._event.SessionLog.START)))
        self.flush()

    def _write(self, event) -> None:
        self._writer.write(event.SerializeToString())

    def _add(self, step: int, values: list) -> None:
        self._write(self._event.Event(
            wall_time=time.time(), step=step, summary=self._summary.Summary(value=values)))

    def scalars(self, step: int, scalars: dict[str, float]) -> None:
        Value = self._summary.Summary.Value
        self._add(step, [Value(tag=k, simple_value=float(v)) for k, v in scalars.items()])
        self.flush()  # TensorBoard shows the line as soon as metrics.jsonl has it

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
        self._writer.close()  # closes the file
