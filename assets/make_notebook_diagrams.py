"""Draw the two diagrams the notebooks show (matplotlib only):

- ``assets/pool_and_inject.png``: the environment model's pool-and-inject residual block (paper
  appendix; ``i2a_keras/models/env_model.py:PoolAndInjectBlock``), notebook 3;
- ``assets/imagination_shapes.png``: tensor shapes through the imagination core, rollout encoder
  and aggregator, ``(B, A, tau, H, W, C) -> (B*A, tau, F) -> (B, A*L)``
  (``i2a_keras/models/imagination_core.py``, ``rollout_encoder.py``, ``i2a.py``), notebook 4.

Regenerate with ``python assets/make_notebook_diagrams.py``.
"""
from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

C_DATA, C_OP, C_FROZEN, C_LEARN, C_OUT = "#dfe7f2", "#f4e3a1", "#c9e4c5", "#d9d2ec", "#f3c2c2"


def box(ax, x, y, w, h, text, color, fontsize=8.5, ls="-"):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02",
                                facecolor=color, edgecolor="black", lw=1.0, ls=ls))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def arrow(ax, p, q, text=None, dx=0.0, dy=0.0, fontsize=7.5, rad=0.0):
    ax.add_patch(FancyArrowPatch(p, q, arrowstyle="-|>", mutation_scale=10, lw=1.0,
                                 connectionstyle=f"arc3,rad={rad}"))
    if text:
        ax.text((p[0] + q[0]) / 2 + dx, (p[1] + q[1]) / 2 + dy, text, ha="center", va="center",
                fontsize=fontsize, color="#3b5b92")


def pool_and_inject(path):
    fig, ax = plt.subplots(figsize=(10, 4.6))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 4.6)
    ax.axis("off")
    box(ax, 0.8, 2.1, 1.2, 0.7, "x\n(H, W, C)", C_DATA)
    box(ax, 2.6, 3.3, 1.7, 0.7, "global max-pool\n(1, 1, C)", C_OP)
    box(ax, 2.6, 2.1, 1.7, 0.7, "tile over the grid\n(H, W, C)", C_OP)
    box(ax, 4.4, 2.1, 1.3, 0.7, "concat\n(H, W, 2C)", C_OP)
    box(ax, 6.1, 2.6, 1.75, 0.7, "1x1 conv -> 3x3 conv\n(H, W, n2)", C_LEARN, fontsize=8)
    box(ax, 6.1, 1.4, 1.75, 0.7, "1x1 conv -> kxk conv\n(H, W, n1)", C_LEARN, fontsize=8, ls="--")
    box(ax, 7.6, 2.1, 1.3, 0.7, "concat, 1x1 conv\n(H, W, C)", C_LEARN, fontsize=8)
    box(ax, 8.9, 2.1, 0.6, 0.6, "+", C_OP, fontsize=12)
    arrow(ax, (1.4, 2.3), (1.75, 3.2), rad=-0.2)
    arrow(ax, (2.6, 2.95), (2.6, 2.45))
    arrow(ax, (1.4, 1.9), (3.75, 1.9), "x itself", dy=-0.45, rad=0.25)
    arrow(ax, (3.45, 2.1), (3.75, 2.1))
    arrow(ax, (5.05, 2.2), (5.25, 2.55))
    arrow(ax, (5.05, 2.0), (5.25, 1.5))
    arrow(ax, (6.98, 2.55), (7.0, 2.3))
    arrow(ax, (6.98, 1.45), (7.0, 1.9))
    arrow(ax, (8.25, 2.1), (8.6, 2.1))
    ax.annotate("", xy=(8.9, 2.4), xytext=(0.8, 2.45),
                arrowprops=dict(arrowstyle="-|>", lw=1.0, connectionstyle="arc3,rad=-0.5"))
    ax.text(5.0, 4.45, "residual: out = x + merge(branches)", ha="center", fontsize=8,
            color="#3b5b92")
    ax.text(5.0, 0.45, "Every cell sees global facts (e.g. 'is every other box on a target?') one "
            "block after the pool.\nDashed: the large-kernel branch, only in the paper-size "
            "model; the compact 'small' model has one block without it.",
            ha="center", fontsize=8)
    ax.set_title("Pool-and-inject block (environment model, paper appendix)", fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def imagination_shapes(path):
    fig, ax = plt.subplots(figsize=(12.5, 4.6))
    ax.set_xlim(0, 12.5)
    ax.set_ylim(0, 4.6)
    ax.axis("off")
    y1, y2 = 3.5, 1.5
    box(ax, 0.9, y1, 1.4, 0.7, "observation o_t\n(B, H, W, C)", C_DATA)
    box(ax, 3.0, y1, 1.9, 0.7, "repeat per first action\n(B*A, H, W, C)", C_OP)
    box(ax, 5.7, y1, 2.9, 0.95, "tau steps:\nenv model (frozen) -> o_hat, r_hat\n"
        "rollout policy pi_hat -> next action", C_FROZEN, fontsize=8)
    box(ax, 9.55, y1, 3.0, 0.7, "imagined frames (B, A, tau, H, W, C)\nrewards (B, A, tau)",
        C_DATA, fontsize=8)
    box(ax, 10.9, y2, 1.8, 0.7, "reshape\n(B*A, tau, H, W, C)", C_OP, fontsize=8)
    box(ax, 8.4, y2, 2.2, 0.8, "encoder CNN per step\n(+ reward plane)\n(B*A, tau, F)", C_LEARN,
        fontsize=8)
    box(ax, 5.6, y2, 2.2, 0.8, "LSTM, read tau -> 1\n(reverse order)\ne_i: (B*A, L)", C_LEARN,
        fontsize=8)
    box(ax, 3.0, y2, 2.0, 0.7, "aggregator: concat\n(B, A*L)", C_OP, fontsize=8)
    box(ax, 0.9, y2, 1.5, 0.8, "+ model-free path\n(B, M) -> heads\npi, V", C_OUT, fontsize=8)
    arrow(ax, (1.6, y1), (2.05, y1))
    arrow(ax, (3.95, y1), (4.2, y1))
    arrow(ax, (7.2, y1), (8.0, y1))
    arrow(ax, (10.9, y1 - 0.4), (10.9, y2 + 0.4))
    arrow(ax, (10.0, y2), (9.5, y2))
    arrow(ax, (7.3, y2), (6.7, y2))
    arrow(ax, (4.5, y2), (4.0, y2))
    arrow(ax, (2.0, y2), (1.65, y2))
    ax.text(6.0, 0.35, "B: batch of real observations, A: actions (one rollout per first action), "
            "tau: rollout length,\nF: CNN features per imagined step, L: LSTM units, M: model-free "
            "features. Row b*A + a of the flat batch is observation b, first action a.",
            ha="center", fontsize=8)
    ax.set_title("Tensor shapes through the imagination path "
                 "(B, A, tau, H, W, C) -> (B*A, tau, F) -> (B, A*L)", fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = parser.parse_args(argv)
    pool_and_inject(os.path.join(args.out, "pool_and_inject.png"))
    imagination_shapes(os.path.join(args.out, "imagination_shapes.png"))
    print("wrote", os.path.join(args.out, "pool_and_inject.png"), "and imagination_shapes.png")


if __name__ == "__main__":
    main()
