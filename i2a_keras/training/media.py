"""Episode GIFs (imageio) and learning-curve plots (matplotlib)."""
from __future__ import annotations

import os

import numpy as np

__all__ = ["save_gif", "tile_frames", "plot_learning_curve"]


def save_gif(frames, path, fps: float = 4.0) -> str:
    """Write ``frames`` (list of ``(H, W, 3) uint8``) as a looping GIF."""
    import imageio.v2 as imageio

    frames = [np.asarray(f, np.uint8) for f in frames]
    if not frames:
        raise ValueError("save_gif needs at least one frame")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    imageio.mimsave(path, frames, duration=1.0 / fps, loop=0)
    return path


def tile_frames(grid, border: int = 4, fill: int = 255) -> list[np.ndarray]:
    """Play several episodes side by side: ``grid`` is a list of rows, each a list of frame
    sequences (or ``None`` for an empty cell). Every sequence is held on its last frame until the
    longest ends; returns one ``(H, W, 3) uint8`` image per time step, cells ``border`` pixels
    apart on a ``fill`` background."""
    rows = [[None if seq is None else np.asarray(seq, np.uint8) for seq in row] for row in grid]
    cells = [seq for row in rows for seq in row if seq is not None]
    if not cells:
        raise ValueError("tile_frames needs at least one non-empty frame sequence")
    shape = cells[0].shape[1:]
    for seq in cells:
        if seq.ndim != 4 or seq.shape[1:] != shape or len(seq) == 0:
            raise ValueError(f"every sequence must hold frames of one shape {shape}; got {seq.shape}")
    (h, w, c), n_cols = shape, max(len(row) for row in rows)
    steps = max(len(seq) for seq in cells)
    out = np.full((steps, len(rows) * (h + border) + border, n_cols * (w + border) + border, c),
                  fill, np.uint8)
    for r, row in enumerate(rows):
        for k, seq in enumerate(row):
            if seq is None:
                continue
            held = np.concatenate([seq, np.repeat(seq[-1:], steps - len(seq), axis=0)])
            y, x = border + r * (h + border), border + k * (w + border)
            out[:, y:y + h, x:x + w] = held
    return list(out)


def plot_learning_curve(metrics: list[dict], evals: list[dict], path, title: str = "") -> str:
    """Episodic return and solve rate (training episodes) vs frames, plus held-out evaluations.

    Runs without a solve rate (MiniPacman, Sec. 5) plot the episode length instead."""
    from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend alone

    fig = Figure(figsize=(10, 3.8))
    ax_r, ax_s = fig.subplots(1, 2)
    rows = [m for m in metrics if "charts/episodic_return" in m]
    solvable = all("charts/solve_rate" in m for m in rows) and all("eval/solve_rate" in e for e in evals)
    key, scale = ("solve_rate", 100) if solvable else ("length", 1)
    train_key = "charts/solve_rate" if solvable else "charts/episodic_length"
    eval_key = "eval/solve_rate" if solvable else "eval/mean_length"
    if rows:
        x = [m["frames"] for m in rows]
        ax_r.plot(x, [m["charts/episodic_return"] for m in rows], label="train episodes")
        ax_s.plot(x, [scale * m[train_key] for m in rows], label="train episodes")
    if evals:
        x = [e["frames"] for e in evals]
        ax_r.plot(x, [e["eval/mean_return"] for e in evals], "o-", label="held-out eval")
        ax_s.plot(x, [scale * e[eval_key] for e in evals], "o-", label="held-out eval")
    ax_r.set(xlabel="environment frames", ylabel="episodic return")
    if key == "solve_rate":
        ax_s.set(xlabel="environment frames", ylabel="% levels solved", ylim=(0, 100))
    else:
        ax_s.set(xlabel="environment frames", ylabel="episode length")
    for ax in (ax_r, ax_s):
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
