"""Episode GIFs (imageio) and learning-curve plots (matplotlib)."""
from __future__ import annotations

import os

import numpy as np

__all__ = ["save_gif", "plot_learning_curve"]


def save_gif(frames, path, fps: float = 4.0) -> str:
    """Write ``frames`` (list of ``(H, W, 3) uint8``) as a looping GIF."""
    import imageio.v2 as imageio

    frames = [np.asarray(f, np.uint8) for f in frames]
    if not frames:
        raise ValueError("save_gif needs at least one frame")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    imageio.mimsave(path, frames, duration=1.0 / fps, loop=0)
    return path


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
