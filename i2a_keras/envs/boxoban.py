"""Loader for Boxoban level files (the DeepMind level set of Racaniere/Weber et al. 2017).

Format: levels separated by ``; N`` header lines, one text line per room row with ``#`` wall,
``@`` player, ``+`` player on target, ``$`` box, ``*`` box on target, ``.`` target, space floor.
Levels are returned as gym-sokoban's ``(room_fixed, room_state)`` (player coded 5 everywhere).
Malformed levels raise :class:`BoxobanFormatError` (a ValueError) naming file and level number.

Parsing all 900k unfiltered training levels takes ~25 s, so :func:`load_boxoban` caches the parsed
arrays in an ``.npz`` (``$I2A_KERAS_CACHE`` or ``~/.cache/i2a_keras``) keyed by the files' paths,
sizes and modification times; later loads read the cache (well under a second).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile

import numpy as np

from .core import BOX, BOX_ON_TARGET, FLOOR, PLAYER, TARGET, WALL

# char -> (fixed code, state code)
_CHARS = {
    "#": (WALL, WALL), " ": (FLOOR, FLOOR), "@": (FLOOR, PLAYER), "+": (TARGET, PLAYER),
    "$": (FLOOR, BOX), "*": (TARGET, BOX_ON_TARGET), ".": (TARGET, TARGET),
}


class BoxobanFormatError(ValueError):
    """A malformed Boxoban level (the message names the file and the level number)."""


def _parse_level(lines, dim_room, where):
    rows = [ln.rstrip("\n").rstrip("\r") for ln in lines]
    while rows and rows[-1].strip() == "":
        rows.pop()
    if not rows:
        raise BoxobanFormatError(f"{where}: empty level")
    h = len(rows)
    w = max(len(r) for r in rows)
    if dim_room is not None and (h, w) != tuple(dim_room):
        raise BoxobanFormatError(f"{where}: size {h}x{w}, expected {dim_room[0]}x{dim_room[1]}")
    if any(len(r) != w for r in rows):
        raise BoxobanFormatError(f"{where}: rows have different lengths {[len(r) for r in rows]}")
    fixed = np.empty((h, w), np.uint8)
    state = np.empty((h, w), np.uint8)
    for i, r in enumerate(rows):
        for j, ch in enumerate(r):
            if ch not in _CHARS:
                raise BoxobanFormatError(f"{where}: unknown character {ch!r} at row {i}, column {j}")
            fixed[i, j], state[i, j] = _CHARS[ch]
    n_player = int((state == PLAYER).sum())
    if n_player != 1:
        raise BoxobanFormatError(f"{where}: needs exactly one player ('@' or '+'), found {n_player}")
    n_boxes = int(((state == BOX) | (state == BOX_ON_TARGET)).sum())
    n_targets = int((fixed == TARGET).sum())
    if n_boxes == 0 or n_boxes != n_targets:
        raise BoxobanFormatError(f"{where}: #boxes ({n_boxes}) != #targets ({n_targets}) or no boxes")
    border = np.concatenate([fixed[0], fixed[-1], fixed[:, 0], fixed[:, -1]])
    if (border != WALL).any():
        raise BoxobanFormatError(f"{where}: the border of the room must be walls ('#')")
    return fixed, state


def parse_boxoban_text(text: str, dim_room=(10, 10), source: str = "<string>"):
    """Parse the levels of one Boxoban file's text. Returns ``(fixed, state, level_ids)``."""
    fixed, state, ids = [], [], []
    current, current_id, header_line = None, None, 0
    lines = text.splitlines()

    def flush():
        if current is not None:
            where = f"{source}: level {current_id} (line {header_line})"
            f, s = _parse_level(current, dim_room, where)
            if fixed and f.shape != fixed[0].shape:
                raise BoxobanFormatError(f"{where}: size {f.shape} differs from earlier levels "
                                         f"{fixed[0].shape}")
            fixed.append(f)
            state.append(s)
            ids.append(current_id)

    for k, line in enumerate(lines, start=1):
        if line.startswith(";"):
            flush()
            label = line[1:].strip()
            current_id = int(label) if label.lstrip("-").isdigit() else (label or len(ids))
            current, header_line = [], k
        elif current is None:
            if line.strip():
                raise BoxobanFormatError(f"{source}: line {k}: level text before the first '; N' header")
        else:
            current.append(line)
    flush()
    if not fixed:
        raise BoxobanFormatError(f"{source}: no levels found")
    return np.stack(fixed), np.stack(state), ids


def boxoban_files(path: str) -> list[str]:
    """The ``.txt`` level files of ``path`` (a file, or a directory searched recursively), sorted."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"Boxoban path {path!r} is neither a file nor a directory")
    files = []
    for root, _, names in os.walk(path):
        files += [os.path.join(root, n) for n in names if n.endswith(".txt")]
    if not files:
        raise FileNotFoundError(f"no Boxoban .txt files under {path!r}")
    return sorted(files)


def find_boxoban_dir() -> str | None:
    """DeepMind's Boxoban level folder: ``$I2A_BOXOBAN_DIR``, else ``../shared/data/boxoban-levels``
    beside the repository or the working directory; ``None`` when absent (it is never committed)."""
    env = os.environ.get("I2A_BOXOBAN_DIR")
    if env:
        return env if os.path.isdir(env) else None
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for base in (os.path.dirname(repo), os.path.dirname(os.getcwd())):
        path = os.path.join(base, "shared", "data", "boxoban-levels")
        if os.path.isdir(path):
            return path
    return None


def cache_dir() -> str:
    """Folder of parsed-level caches: ``$I2A_KERAS_CACHE`` or ``~/.cache/i2a_keras``."""
    return os.environ.get("I2A_KERAS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                              "i2a_keras")


def _cache_path(files, dim_room, max_levels) -> str:
    stats = [(os.path.abspath(fn), os.stat(fn).st_size, os.stat(fn).st_mtime_ns) for fn in files]
    key = json.dumps([stats, list(dim_room) if dim_room else None, max_levels, 1])
    digest = hashlib.sha1(key.encode()).hexdigest()[:20]
    return os.path.join(cache_dir(), f"boxoban-{digest}.npz")


def load_boxoban(path: str, dim_room=(10, 10), max_levels: int | None = None, cache: bool = True):
    """Load Boxoban levels from a file or directory: ``(room_fixed, room_state)`` ``uint8 (N, H, W)``.

    ``dim_room=None`` accepts any size (all levels must then share the first level's size).
    ``cache``: read/write the parsed arrays from/to :func:`cache_dir` (a failed write is ignored).
    """
    files = boxoban_files(path)
    cached = _cache_path(files, dim_room, max_levels) if cache else None
    if cached and os.path.exists(cached):
        try:
            with np.load(cached) as data:
                return data["room_fixed"], data["room_state"]
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache: parse again and overwrite it
    fixed, state = _parse_files(files, dim_room, max_levels)
    if cached:
        try:
            os.makedirs(os.path.dirname(cached), exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".npz", dir=os.path.dirname(cached))
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, room_fixed=fixed, room_state=state)
            os.replace(tmp, cached)
        except OSError:
            pass
    return fixed, state


def _parse_files(files, dim_room, max_levels):
    fixed, state, total = [], [], 0
    for fn in files:
        try:
            with open(fn, encoding="utf-8") as fh:
                text = fh.read()
        except UnicodeDecodeError as exc:
            raise BoxobanFormatError(f"{fn}: not a Boxoban text file (not UTF-8 text: {exc.reason} "
                                     f"at byte {exc.start})") from None
        except OSError as exc:
            raise BoxobanFormatError(f"{fn}: cannot read it ({exc.strerror or exc})") from exc
        f, s, _ = parse_boxoban_text(text, dim_room, source=fn)
        if fixed and f.shape[1:] != fixed[0].shape[1:]:
            raise BoxobanFormatError(f"{fn}: level size {f.shape[1:]} differs from {fixed[0].shape[1:]}")
        fixed.append(f)
        state.append(s)
        total += len(f)
        if max_levels is not None and total >= max_levels:
            break
    fixed, state = np.concatenate(fixed), np.concatenate(state)
    if max_levels is not None:
        fixed, state = fixed[:max_levels], state[:max_levels]
    return fixed, state


def level_to_text(room_fixed: np.ndarray, room_state: np.ndarray) -> str:
    """Boxoban text of one level (inverse of the parser)."""
    inv = {v: k for k, v in _CHARS.items()}
    return "\n".join("".join(inv[(int(f), int(s))] for f, s in zip(fr, sr))
                     for fr, sr in zip(room_fixed, room_state))
