"""Run directories, TensorBoard/JSONL scalar logging and the progress bar.

Layout of a run directory::

    RUN_DIR/config.json          the full config (dataclasses -> JSON); --resume reads it back
    RUN_DIR/checkpoints/latest.keras   atomic checkpoint (see training/checkpoint.py)
    RUN_DIR/tb/                  TensorBoard event files (charts/*, losses/*, eval/*)
    RUN_DIR/metrics.jsonl        the same scalars, one JSON line per log step (for plots/tests)
    RUN_DIR/eval.jsonl           held-out evaluations
    RUN_DIR/learning_curve.png, episode.gif, summary.json
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
import warnings

from tqdm.auto import tqdm

__all__ = ["RunDir", "ScalarLogger", "StopFlag", "progress_bar", "read_jsonl"]


class RunDir:
    """Paths inside a run directory."""

    def __init__(self, path):
        if not path:
            raise ValueError("run directory path is empty (set --run-dir)")
        self.path = os.path.abspath(os.fspath(path))

    def __fspath__(self):
        return self.path

    def join(self, *parts) -> str:
        return os.path.join(self.path, *parts)

    @property
    def config_path(self):
        return self.join("config.json")

    @property
    def checkpoint_dir(self):
        return self.join("checkpoints")

    @property
    def latest_checkpoint(self):
        return self.join("checkpoints", "latest.keras")

    @property
    def final_checkpoint(self):
        return self.join("checkpoints", "final.keras")

    def create(self, resume: bool) -> "RunDir":
        """Create the directory; refuse to overwrite an existing run unless resuming."""
        if resume:
            if not os.path.isfile(self.latest_checkpoint):
                raise FileNotFoundError(f"cannot resume: no checkpoint at {self.latest_checkpoint}")
        elif os.path.exists(self.latest_checkpoint):
            raise FileExistsError(
                f"run directory {self.path} already has a checkpoint; use --resume {self.path} to "
                f"continue it or choose another --run-dir")
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        return self


def read_jsonl(path) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _truncate_jsonl(path, max_step, key="frames"):
    rows = [r for r in read_jsonl(path) if r.get(key, 0) < max_step or
            (r.get(key, 0) == max_step and not r.get("end_of_session"))]
    with open(path, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


class _EventWriter:
    """TensorBoard scalar events through the ``tensorboard`` package alone (no TensorFlow, so it
    works under every Keras backend); a no-op with a warning when tensorboard is missing."""

    def __init__(self, logdir: str):
        try:
            from tensorboard.compat.proto.event_pb2 import Event
            from tensorboard.compat.proto.summary_pb2 import Summary
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError:
            warnings.warn("tensorboard is not installed: no TensorBoard logs (metrics.jsonl only)")
            self.writer = None
            return
        self._event, self._summary = Event, Summary
        self.writer = EventFileWriter(logdir)

    def scalars(self, step: int, scalars: dict) -> None:
        if self.writer is None:
            return
        values = [self._summary.Value(tag=k, simple_value=float(v)) for k, v in scalars.items()]
        self.writer.add_event(self._event(wall_time=time.time(), step=int(step),
                                          summary=self._summary(value=values)))
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class ScalarLogger:
    """Writes scalars to TensorBoard (``RUN_DIR/tb``) and to JSONL files, keyed by frame count.

    On resume, rows logged after the checkpoint's frame count, and the rows written when the
    previous session ended (``end_of_session``: a partial log interval, the final evaluation), are
    dropped from the JSONL files, so the curves continue as if the run had not stopped
    (TensorBoard keeps both event files).
    """

    def __init__(self, run_dir: RunDir, resume_from_frames: int | None = None):
        self.run_dir = run_dir
        self.writer = _EventWriter(run_dir.join("tb"))
        for name in ("metrics.jsonl", "eval.jsonl"):
            if resume_from_frames is not None:
                _truncate_jsonl(run_dir.join(name), resume_from_frames)
            elif os.path.exists(run_dir.join(name)):  # a fresh run: drop rows of a crashed attempt
                os.remove(run_dir.join(name))

    def log(self, frames: int, scalars: dict, file: str = "metrics.jsonl",
            end_of_session: bool = False) -> None:
        self.writer.scalars(frames, scalars)
        row = {"frames": int(frames), **{k: float(v) for k, v in scalars.items()}}
        if end_of_session:
            row["end_of_session"] = True
        with open(self.run_dir.join(file), "a") as fh:
            fh.write(json.dumps(row) + "\n")

    def close(self):
        self.writer.close()


def progress_bar(total: int, initial: int, enabled: bool, desc: str = "train"):
    return tqdm(total=int(total), initial=int(initial), unit="frame", unit_scale=True,
                disable=not enabled, desc=desc, dynamic_ncols=True, smoothing=0.1)


class StopFlag:
    """Set by SIGTERM/SIGINT: a trainer checks ``stop`` (A2C and env-model training after each
    update, A3C at its log/checkpoint/evaluation boundaries), checkpoints and exits; a second
    signal interrupts at once. Handlers are installed only in the main thread."""

    def __init__(self):
        self.stop = False
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.stop:  # second signal: give up immediately
            raise KeyboardInterrupt
        self.stop = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False
