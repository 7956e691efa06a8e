"""Loader for Boxoban level files (the DeepMind level set of Racaniere/Weber et al. 2017).

Format: levels separated by ``; N`` header lines, one text line per room row with ``#`` wall,
``@`` player, ``+`` player on target, ``$`` box, ``*`` box on target, ``.`` target, space floor.
Levels are returned as gym-sokoban's ``(room_fixed, room_state)`` (player coded 5 everywhere).
Malformed levels raise :class:`BoxobanFormatError` (a ValueError) naming file and level number.
"""
from __future__ import annotations

import os

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


def load_boxoban(path: str, dim_room=(10, 10), max_levels: int | None = None):
    """Load Boxoban levels from a file or directory: ``(room_fixed, room_state)`` ``uint8 (N, H, W)``.

    ``dim_room=None`` accepts any size (all levels must then share the first level's size).
    """
    fixed, state, total = [], [], 0
    for fn in boxoban_files(path):
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
