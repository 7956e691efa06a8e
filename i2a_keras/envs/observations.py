"""Observation encodings of Sokoban rooms (Weber et al. 2017, Sec. 4.1 and Appendix).

The paper feeds 80x80 RGB frames of 10x10 rooms (8 pixels per tile) to the agents and predicts them
with the environment model as a per-pixel categorical over a small colour palette (Sec. 3.2). Here:

* ``"one_hot"``: ``uint8 (H, W, 7)``, channel k is 1 where the tile code is k (codes in ``core``).
* ``"tiny_rgb"``: ``uint8 (H, W, 3)``, one pixel per tile with gym-sokoban's tiny-world colours.
* ``"rgb"``: ``uint8 (8H, 8W, 3)``, gym-sokoban's 16 px sprites subsampled with stride 2 (nearest
  neighbour), so every pixel keeps one of the sprites' original colours: ``RGB_PALETTE`` has only
  9 colours and :func:`rgb_to_palette_index` / :func:`palette_index_to_rgb` convert exactly.
* :func:`render_rgb` gives gym-sokoban's full 16 px/tile image (``render_mode="rgb_array"``).

Every function takes a batch of rooms ``(..., H, W)`` with codes 0-6 and uses fancy indexing only.
The sprite PNGs are read from the installed gym-sokoban package without importing it (its import
pulls in legacy ``gym``).
"""
from __future__ import annotations

import functools
import importlib.util
import os

import numpy as np

from .core import NUM_TILE_TYPES, TILE_NAMES, rooms_to_state, state_to_rooms

OBSERVATIONS = ("one_hot", "tiny_rgb", "rgb")
TILE_PIXELS = 8
SPRITE_PIXELS = 16

# gym-sokoban render_utils.room_to_tiny_world_rgb colours, indexed by tile code.
TINY_COLORS = np.array([
    [0, 0, 0], [243, 248, 238], [254, 126, 125], [254, 95, 56],
    [142, 121, 56], [160, 212, 56], [219, 212, 56]], dtype=np.uint8)

_SPRITE_FILES = ("wall", "floor", "box_target", "box_on_target", "box", "player", "player_on_target")


def sprite_dir() -> str:
    """Directory of gym-sokoban's sprite PNGs, found with ``importlib.util.find_spec`` (no import)."""
    spec = importlib.util.find_spec("gym_sokoban")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("gym-sokoban is not installed; its sprites are needed for RGB observations "
                           "(pip install gym-sokoban==0.0.6)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "envs", "surface")
    if not os.path.isdir(path):
        raise RuntimeError(f"gym-sokoban sprite directory not found at {path}")
    return path


@functools.lru_cache(maxsize=None)
def sprites16() -> np.ndarray:
    """gym-sokoban's tile sprites, ``uint8 (7, 16, 16, 3)`` indexed by tile code."""
    import imageio.v3 as iio

    d = sprite_dir()
    out = np.stack([np.asarray(iio.imread(os.path.join(d, f"{name}.png")))[..., :3]
                    for name in _SPRITE_FILES]).astype(np.uint8)
    if out.shape != (NUM_TILE_TYPES, SPRITE_PIXELS, SPRITE_PIXELS, 3):
        raise RuntimeError(f"unexpected gym-sokoban sprite shape {out.shape}")
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=None)
def sprites8() -> np.ndarray:
    """8 px tile sprites ``uint8 (7, 8, 8, 3)``: stride-2 subsampling of :func:`sprites16`."""
    out = np.ascontiguousarray(sprites16()[:, ::2, ::2])
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=None)
def _palette() -> np.ndarray:
    pal = np.unique(sprites8().reshape(-1, 3), axis=0).astype(np.uint8)
    pal.setflags(write=False)
    return pal


def __getattr__(name):
    # RGB_PALETTE and SPRITE_PALETTE_INDEX are computed lazily from the sprite files.
    if name == "RGB_PALETTE":
        return _palette()
    if name == "SPRITE_PALETTE_INDEX":
        return _sprite_palette_index()
    if name == "TILE_SPRITES":
        return sprites8()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def palette_size() -> int:
    """Number K of colours in ``RGB_PALETTE`` (the categorical size for frame prediction)."""
    return int(_palette().shape[0])


@functools.lru_cache(maxsize=None)
def _color_lookup() -> np.ndarray:
    # 24-bit colour -> palette index (-1 elsewhere) via a sorted key table.
    pal = _palette().astype(np.int64)
    return (pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2]


def rgb_to_palette_index(frames: np.ndarray) -> np.ndarray:
    """Map ``uint8 (..., H, W, 3)`` frames to palette indices ``int64 (..., H, W)``.

    Raises ValueError if a pixel's colour is not in ``RGB_PALETTE``.
    """
    f = np.asarray(frames)
    if f.shape[-1] != 3:
        raise ValueError(f"frames must end with 3 colour channels, got shape {f.shape}")
    f = f.astype(np.int64)
    key = (f[..., 0] << 16) | (f[..., 1] << 8) | f[..., 2]
    keys = _color_lookup()
    idx = np.searchsorted(keys, key)
    idx = np.clip(idx, 0, len(keys) - 1)
    bad = keys[idx] != key
    if bad.any():
        raise ValueError(f"{int(bad.sum())} pixels have colours outside RGB_PALETTE")
    return idx


def palette_index_to_rgb(idx: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_palette_index`: ``int (..., H, W)`` -> ``uint8 (..., H, W, 3)``."""
    idx = np.asarray(idx)
    k = palette_size()
    if idx.size and (idx.min() < 0 or idx.max() >= k):
        raise ValueError(f"palette indices must be in [0, {k}), got [{idx.min()}, {idx.max()}]")
    return _palette()[idx]


@functools.lru_cache(maxsize=None)
def _sprite_palette_index() -> np.ndarray:
    out = rgb_to_palette_index(sprites8())
    out.setflags(write=False)
    return out


def _check_rooms(rooms) -> np.ndarray:
    rooms = np.asarray(rooms)
    if rooms.ndim < 2:
        raise ValueError(f"rooms must have shape (..., H, W), got {rooms.shape}")
    if rooms.dtype.kind not in "iu":
        raise ValueError(f"rooms must be integer tile codes, got dtype {rooms.dtype}")
    if rooms.size and (rooms.min() < 0 or rooms.max() >= NUM_TILE_TYPES):
        raise ValueError(f"tile codes must be in [0, {NUM_TILE_TYPES})")
    return rooms


def _tile(rooms: np.ndarray, sprites: np.ndarray) -> np.ndarray:
    p = sprites.shape[1]
    img = sprites[rooms]  # (..., H, W, p, p, C)
    lead = rooms.shape[:-2]
    h, w = rooms.shape[-2:]
    nd = len(lead)
    img = img.transpose(*range(nd), nd, nd + 2, nd + 1, nd + 3, nd + 4)
    return img.reshape(*lead, h * p, w * p, sprites.shape[-1])


def one_hot(rooms) -> np.ndarray:
    """``uint8 (..., H, W, 7)`` one-hot encoding of tile codes."""
    rooms = _check_rooms(rooms)
    return np.eye(NUM_TILE_TYPES, dtype=np.uint8)[rooms]


def tiny_rgb(rooms) -> np.ndarray:
    """``uint8 (..., H, W, 3)``: one pixel per tile, gym-sokoban's tiny-world colours."""
    return TINY_COLORS[_check_rooms(rooms)]


def rgb(rooms) -> np.ndarray:
    """``uint8 (..., 8H, 8W, 3)``: 8 px per tile (80x80 for 10x10 rooms, the paper's input)."""
    return _tile(_check_rooms(rooms), sprites8())


def render_rgb(rooms) -> np.ndarray:
    """``uint8 (..., 16H, 16W, 3)``: gym-sokoban's ``room_to_rgb`` image (16 px sprites)."""
    return _tile(_check_rooms(rooms), sprites16())


def rooms_to_palette_index(rooms) -> np.ndarray:
    """Palette indices ``(..., 8H, 8W)`` of the ``"rgb"`` frames of rooms, without building RGB."""
    return _tile(_check_rooms(rooms), _sprite_palette_index()[..., None])[..., 0]


def rooms_to_observation(rooms, kind: str) -> np.ndarray:
    """Encode rooms ``(..., H, W)`` (codes 0-6) as observation ``kind`` (see ``OBSERVATIONS``)."""
    if kind == "one_hot":
        return one_hot(rooms)
    if kind == "tiny_rgb":
        return tiny_rgb(rooms)
    if kind == "rgb":
        return rgb(rooms)
    raise ValueError(f"observation must be one of {OBSERVATIONS}, got {kind!r}")


def observation_shape(dim_room: tuple[int, int], kind: str) -> tuple[int, int, int]:
    """Shape of one observation of ``kind`` for rooms of ``dim_room``."""
    h, w = dim_room
    if kind == "one_hot":
        return (h, w, NUM_TILE_TYPES)
    if kind == "tiny_rgb":
        return (h, w, 3)
    if kind == "rgb":
        return (h * TILE_PIXELS, w * TILE_PIXELS, 3)
    raise ValueError(f"observation must be one of {OBSERVATIONS}, got {kind!r}")


class ObservationBuffer:
    """Batch observations kept up to date cell by cell (a step changes at most 3 cells per room).

    ``set_rooms(idx, rooms)`` re-encodes whole rooms; ``update_cells(env, cell, codes)`` re-encodes
    single tiles (``cell`` flat index ``r * W + c``); ``get()`` returns a copy of the batch.
    """

    def __init__(self, kind: str, num_envs: int, dim_room: tuple[int, int]):
        self.kind, self.dim_room = kind, tuple(dim_room)
        self.buf = np.zeros((num_envs, *observation_shape(dim_room, kind)), np.uint8)
        if kind == "one_hot":
            self._table = np.eye(NUM_TILE_TYPES, dtype=np.uint8)
        elif kind == "tiny_rgb":
            self._table = TINY_COLORS
        else:
            self._table = sprites8()
            self._offs = np.arange(TILE_PIXELS)

    def set_rooms(self, idx, rooms) -> None:
        self.buf[idx] = rooms_to_observation(rooms, self.kind)

    def update_cells(self, env, cell, codes) -> None:
        r, c = np.divmod(cell, self.dim_room[1])
        if self.kind != "rgb":
            self.buf[env, r, c] = self._table[codes]
        else:
            rr = (r[:, None] * TILE_PIXELS + self._offs)[:, :, None]
            cc = (c[:, None] * TILE_PIXELS + self._offs)[:, None, :]
            self.buf[env[:, None, None], rr, cc] = self._table[codes]

    def get(self) -> np.ndarray:
        return self.buf.copy()


def one_hot_to_rooms(obs) -> np.ndarray:
    """Inverse of :func:`one_hot`: ``(..., H, W, 7)`` (any dtype, argmax) -> ``uint8 (..., H, W)``."""
    obs = np.asarray(obs)
    if obs.shape[-1] != NUM_TILE_TYPES:
        raise ValueError(f"one-hot observations must end with {NUM_TILE_TYPES} channels, got {obs.shape}")
    return obs.argmax(axis=-1).astype(np.uint8)


def tiny_rgb_to_rooms(obs) -> np.ndarray:
    """Inverse of :func:`tiny_rgb`; raises ValueError on colours that are not tile colours."""
    obs = np.asarray(obs)
    if obs.shape[-1] != 3:
        raise ValueError(f"tiny RGB observations must end with 3 channels, got {obs.shape}")
    match = (obs[..., None, :] == TINY_COLORS).all(axis=-1)
    if not match.any(axis=-1).all():
        raise ValueError("tiny RGB observation contains colours that are not tile colours")
    return match.argmax(axis=-1).astype(np.uint8)


def rgb_to_rooms(frames) -> np.ndarray:
    """Inverse of :func:`rgb` (exact sprite match per 8x8 tile); raises ValueError otherwise."""
    f = np.asarray(frames)
    if f.ndim < 3 or f.shape[-1] != 3 or f.shape[-3] % TILE_PIXELS or f.shape[-2] % TILE_PIXELS:
        raise ValueError(f"RGB frames must be (..., 8H, 8W, 3), got {f.shape}")
    lead = f.shape[:-3]
    h, w = f.shape[-3] // TILE_PIXELS, f.shape[-2] // TILE_PIXELS
    tiles = f.reshape(*lead, h, TILE_PIXELS, w, TILE_PIXELS, 3)
    nd = len(lead)
    tiles = tiles.transpose(*range(nd), nd, nd + 2, nd + 1, nd + 3, nd + 4)
    tiles = tiles.reshape(*lead, h, w, 1, -1)
    match = (tiles == sprites8().reshape(NUM_TILE_TYPES, -1)).all(axis=-1)
    if not match.any(axis=-1).all():
        raise ValueError("RGB frame contains tiles that are not sprites")
    return match.argmax(axis=-1).astype(np.uint8)


def observation_to_rooms(obs, kind: str) -> np.ndarray:
    """Decode observations of ``kind`` back to rooms ``uint8 (..., H, W)``."""
    if kind == "one_hot":
        return one_hot_to_rooms(obs)
    if kind == "tiny_rgb":
        return tiny_rgb_to_rooms(obs)
    if kind == "rgb":
        return rgb_to_rooms(obs)
    raise ValueError(f"observation must be one of {OBSERVATIONS}, got {kind!r}")


__all__ = [
    "OBSERVATIONS", "TILE_PIXELS", "TINY_COLORS", "TILE_NAMES", "sprite_dir", "sprites16", "sprites8",
    "palette_size", "rgb_to_palette_index", "palette_index_to_rgb", "rooms_to_palette_index",
    "one_hot", "tiny_rgb", "rgb", "render_rgb", "rooms_to_observation", "observation_shape",
    "one_hot_to_rooms", "tiny_rgb_to_rooms", "rgb_to_rooms", "observation_to_rooms",
    "state_to_rooms", "rooms_to_state",
]
