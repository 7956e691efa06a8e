"""Run directories, TensorBoard/JSONL scalar logging and the progress bar.

Layout of a run directory::

    RUN_DIR/config.json          the full config (dataclasses -> JSON); --resume reads it back
    RUN_DIR/checkpoints/latest.keras   atomic checkpoint (see training/checkpoint.py)
    RUN_DIR/tb/                  TensorBoard event files (charts/*, losses/*, eval/*)
    RUN_DIR/metrics.jsonl        the same scalars, one JSON line per log step (for plots/tests)
    RUN_DIR/eval.jsonl           held-out evaluations
    RUN_DIR/resume_log.jsonl     one row per --resume: checkpoint frames and the settings it changed
    RUN_DIR/.lock                the pid of the process writing the run (one writer at a time)
    RUN_DIR/learning_curve.png, episode.gif, summary.json

``config.json`` is written once, when the run starts; a resume never rewrites it. The settings a
resume may change (:meth:`RunDir.check_resume`) are appended to ``resume_log.jsonl``, and
:meth:`RunDir.saved_config` replays them on top of ``config.json``.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import signal
import socket
import threading
import time
import warnings

from tqdm.auto import tqdm

from i2a_keras.envs.levels import level_paths_unchecked
from i2a_keras.training.config import config_from_dict, config_to_dict

__all__ = ["RunDir", "RunLock", "RunDirError", "RunDirLockedError", "ScalarLogger", "StopFlag",
           "config_table", "progress_bar", "read_jsonl", "run_subcommand", "RESUME_LOG"]

RESUME_LOG = "resume_log.jsonl"
LOCK_NAME = ".lock"


class RunDirError(OSError):
    """A run directory that cannot be used as asked (the CLI reports it in one line)."""


class RunDirLockedError(RunDirError):
    """Another live process holds the run directory's lock."""


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

    def lock(self) -> "RunLock":
        """Take the run's writer lock (a context manager); raises :class:`RunDirLockedError`."""
        return RunLock(self.path).acquire()

    def create(self, resume: bool) -> "RunDir":
        """Create the directory; refuse to overwrite an existing run unless resuming.

        Call it with the lock held: it also deletes temporary files that a killed writer left.
        """
        if resume:
            if not os.path.isfile(self.latest_checkpoint):
                raise FileNotFoundError(f"cannot resume: no checkpoint at {self.latest_checkpoint}")
        elif os.path.exists(self.latest_checkpoint):
            raise FileExistsError(
                f"run directory {self.path} already has a checkpoint; use --resume {self.path} to "
                f"continue it or choose another --run-dir")
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        self.remove_temp_files()
        return self

    def remove_temp_files(self) -> list[str]:
        """Delete the ``.tmp-*`` files of interrupted atomic writes; returns their paths."""
        paths = glob.glob(self.join(".tmp-*")) + glob.glob(self.join("checkpoints", ".tmp-*"))
        for path in paths:
            os.remove(path)
        return paths

    def saved_config(self, load):
        """The run's config: ``config.json`` with the changes of ``resume_log.jsonl`` applied,
        rebuilt by ``load(dict)`` (e.g. a subcommand's ``load_config``). Level folders that do not
        exist here are allowed: the run may come from another machine, and a resume can move them."""
        if not os.path.isfile(self.config_path):
            raise FileNotFoundError(f"{self.path} is not a run directory: no config.json")
        with open(self.config_path) as fh:
            data = json.load(fh)
        for row in read_jsonl(self.join(RESUME_LOG)):
            for key, change in row.get("changes", {}).items():
                *parents, leaf = key.split(".")
                node = data
                for part in parents:
                    node = node[part]
                node[leaf] = change["to"]
        with level_paths_unchecked():
            return load(data)

    def check_resume(self, config, resumable) -> dict:
        """The changes ``config`` makes to the saved run config, as ``{key: {"from", "to"}}``.

        ``resumable``: dotted keys (or prefixes ending with ".") that may change on resume. Any
        other change (architecture, env, optimizer, seeds) raises ``ValueError`` naming the keys:
        the checkpoint fixes them, so a changed value would be ignored or break the run.
        """
        model = getattr(config, "model", None)
        model_class = type(model) if dataclasses.is_dataclass(model) else None
        saved = self.saved_config(lambda data: _load_as(type(config), data, model_class, self.path))
        old, new = _flat(config_to_dict(saved)), _flat(config_to_dict(config))
        changes = {k: {"from": old.get(k), "to": new.get(k)} for k in sorted(set(old) | set(new))
                   if old.get(k) != new.get(k) and k != "run.run_dir"}
        refused = [k for k in changes if not _matches(k, resumable)]
        if refused:
            listed = ", ".join(f"{k} ({changes[k]['from']!r} -> {changes[k]['to']!r})" for k in refused)
            allowed = ", ".join(p + "*" if p.endswith(".") else p for p in resumable)
            raise ValueError(f"cannot change {listed} when resuming {self.path}: the checkpoint fixes "
                             f"{'it' if len(refused) == 1 else 'them'}. A resume may change only "
                             f"{allowed}; start a new run (--run-dir) to change the others")
        return changes

    def record_resume(self, frames: int, changes: dict) -> None:
        """Append a resume event (checkpoint frames, changed settings) to ``resume_log.jsonl``."""
        row = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "frames": int(frames), "pid": os.getpid(),
               "changes": changes}
        _write_jsonl(self.join(RESUME_LOG), read_jsonl(self.join(RESUME_LOG)) + [row])

    def start_fresh(self, config) -> None:
        """Write ``config.json`` of a new run (and drop the resume log of an earlier attempt)."""
        from i2a_keras.training.config import save_config

        if os.path.exists(self.join(RESUME_LOG)):
            os.remove(self.join(RESUME_LOG))
        save_config(config, self.config_path)


def _load_as(cls, data: dict, model_class, path):
    if data.get("__class__") != cls.__name__:
        raise ValueError(f"{path} holds a {data.get('__class__')} run, not a {cls.__name__} run; "
                         f"resume it with `python -m i2a_keras.train --resume {path}`")
    return config_from_dict(cls, data, model_class=model_class)


def _flat(data: dict, prefix: str = "") -> dict:
    """Dotted leaf keys of a :func:`config_to_dict` tree, values as JSON would store them."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and "__class__" in value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = json.loads(json.dumps(value))
    return out


def _matches(key: str, patterns) -> bool:
    return any(key == p or (p.endswith(".") and key.startswith(p)) for p in patterns)


def run_subcommand(path) -> str | None:
    """The training subcommand that made the run in ``path`` (from its config.json), or None."""
    try:
        with open(os.path.join(os.fspath(path), "config.json")) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    if data.get("__class__") == "EnvModelTrainConfig":
        return "env-model"
    if data.get("__class__") == "ActorCriticConfig":
        return "model-free" if str(data.get("agent", "")).startswith("model-free") else "i2a"
    return None


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (Linux ``/proc``), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


_HELD_LOCKS: set[str] = set()


class RunLock:
    """One writer per run directory: ``RUN_DIR/.lock``, created exclusively (like ``O_EXCL``),
    holds the owner's pid, host and process start time.

    A lock whose process is gone (or whose pid now belongs to another process) is stale: the next
    writer removes it, under a short-lived ``.lock.break`` file so that two writers never both
    break it. Use as a context manager; :meth:`release` deletes the file.
    """

    def __init__(self, path):
        self.dir = os.fspath(path)
        self.path = os.path.join(self.dir, LOCK_NAME)
        self.held = False

    def acquire(self) -> "RunLock":
        os.makedirs(self.dir, exist_ok=True)
        for _ in range(5):
            if self._create():
                self.held = True
                _HELD_LOCKS.add(self.path)
                return self
            owner = self._owner()
            if self._alive(owner):
                raise RunDirLockedError(self._in_use_message(owner))
            self._break(owner)
        raise RunDirLockedError(f"could not lock {self.dir}: {self.path} keeps reappearing")

    def _create(self) -> bool:
        """Create the lock file exclusively; False if it exists. It is a hard link to a file that
        already holds our pid, so it never appears empty (O_EXCL + write without hard links)."""
        tmp = os.path.join(self.dir, f".tmp-lock-{os.getpid()}-{threading.get_ident()}")
        with open(tmp, "w") as fh:
            json.dump(self._me(), fh)
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError:  # no hard links here
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as fh:
                json.dump(self._me(), fh)
            return True
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def release(self) -> None:
        if self.held:
            self.held = False
            _HELD_LOCKS.discard(self.path)
            if (self._owner() or {}).get("pid") == os.getpid():
                os.remove(self.path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False

    @staticmethod
    def _me() -> dict:
        pid = os.getpid()
        return {"pid": pid, "host": socket.gethostname(), "start": _process_start(pid),
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    def _owner(self) -> dict | None:
        """The lock file's content; ``{}`` while its creator is still writing it, None if absent."""
        try:
            with open(self.path) as fh:
                text = fh.read()
        except FileNotFoundError:
            return None
        try:
            owner = json.loads(text)
            return owner if isinstance(owner, dict) else {}
        except ValueError:
            return {}

    def _alive(self, owner: dict | None) -> bool:
        if owner is None:
            return False
        if not owner:  # being written right now, or garbage left by a crash
            try:
                return time.time() - os.path.getmtime(self.path) < 10
            except FileNotFoundError:
                return False
        pid = owner.get("pid")
        if not isinstance(pid, int):
            return False
        if owner.get("host") != socket.gethostname():
            return True  # cannot check a process on another machine
        if pid == os.getpid():
            return self.path in _HELD_LOCKS
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        start = _process_start(pid)
        return owner.get("start") is None or start is None or start == owner["start"]

    def _break(self, stale: dict | None) -> None:
        guard = self.path + ".break"
        try:
            fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                if time.time() - os.path.getmtime(guard) > 30:  # its breaker died
                    os.remove(guard)
            except FileNotFoundError:
                pass
            time.sleep(0.05)
            return
        os.close(fd)
        try:
            if self._owner() == stale and stale is not None:
                os.remove(self.path)
        finally:
            os.remove(guard)

    def _in_use_message(self, owner: dict) -> str:
        who = (f"process {owner['pid']} on {owner.get('host')} (since {owner.get('time')})"
               if owner else "another process")
        return (f"run directory {self.dir} is in use by {who}: only one process may write a run. "
                f"Wait for it to finish or stop it; if it is not running, delete {self.path}")


def read_jsonl(path) -> list[dict]:
    """Rows of a JSONL file ([] if it does not exist).

    An unparsable last line (a write cut short by a kill) is skipped; an unparsable line before
    it raises ``ValueError`` naming the file and line.
    """
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        lines = [(k, line) for k, line in enumerate(fh, start=1) if line.strip()]
    rows = []
    for i, (k, line) in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except ValueError as exc:
            if i == len(lines) - 1:
                break
            raise ValueError(f"{path}: line {k} is not valid JSON ({exc})") from None
    return rows


def _truncate_jsonl(path, max_step, key="frames"):
    rows = [r for r in read_jsonl(path) if r.get(key, 0) < max_step or
            (r.get(key, 0) == max_step and not r.get("end_of_session"))]
    _write_jsonl(path, rows)


def _write_jsonl(path, rows) -> None:
    """Replace ``path`` by ``rows`` atomically (temp file + ``os.replace``)."""
    tmp = os.path.join(os.path.dirname(path), ".tmp-" + os.path.basename(path))
    with open(tmp, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    os.replace(tmp, path)


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

    def text(self, step: int, tag: str, markdown: str) -> None:
        if self.writer is None:
            return
        from tensorboard.plugins.text.summary_v2 import text_pb

        self.writer.add_event(self._event(wall_time=time.time(), step=int(step),
                                          summary=text_pb(tag, markdown)))
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def config_table(data: dict) -> str:
    """A config dict (``config.json``) as a markdown table of ``key | value`` rows, nested
    configs flattened to dotted keys (``a2c.learning_rate``)."""
    rows = []

    def walk(node, prefix):
        for key, value in node.items():
            if key == "__class__":
                continue
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                rows.append(f"| `{prefix}{key}` | `{json.dumps(value)}` |")

    walk(data, "")
    return "\n".join(["| key | value |", "|---|---|", *rows])


class ScalarLogger:
    """Writes scalars to TensorBoard (``RUN_DIR/tb``) and to JSONL files, keyed by frame count.

    On resume, rows logged after the checkpoint's frame count, and the rows written when the
    previous session ended (``end_of_session``: a partial log interval, the final evaluation), are
    dropped from the JSONL files, so the curves continue as if the run had not stopped
    (TensorBoard keeps both event files). The run's config (with the changes its resumes made)
    goes to TensorBoard's text tab as a table, as CleanRL's hyperparameter table does.
    """

    def __init__(self, run_dir: RunDir, resume_from_frames: int | None = None):
        self.run_dir = run_dir
        self.writer = _EventWriter(run_dir.join("tb"))
        if os.path.isfile(run_dir.config_path):
            self.writer.text(resume_from_frames or 0, "config", config_table(run_dir.saved_config(dict)))
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
    signal interrupts at once. Handlers are installed only in the main thread. ``signal_name``
    names the signal received (a trainer's summary carries it; the CLI then exits with
    128 + its number, e.g. 130 for SIGINT)."""

    def __init__(self):
        self.stop = False
        self.signal_name = None
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
        self.signal_name = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False
