"""Draw ``assets/architecture.png``: the I2A architecture (Weber et al., 2017, Figure 1) annotated with
the ``i2a_keras`` modules that implement each box.

Panels follow the paper's figure:

a) imagination core (Sec. 3.1): rollout policy pi_hat + environment model;
b) a single imagined rollout and its encoder (Sec. 3.2): CNN per imagined step, LSTM read in
   reverse order;
c) the full agent (Sec. 2-3): one rollout per action, aggregator (concatenation), model-free path,
   policy and value heads; distillation loss on the rollout policy (Sec. 3.1).

Regenerate with ``python assets/make_architecture_diagram.py`` (matplotlib only).
"""
from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

COLORS = {
    "obs": "#dfe7f2",
    "policy": "#f9d9b5",
    "model": "#c9e4c5",
    "imagined": "#eef6ec",
    "encoder": "#d9d2ec",
    "agg": "#f4e3a1",
    "mf": "#cfe3f4",
    "head": "#f3c2c2",
    "loss": "#ffffff",
}
MODULE_COLOR = "#3b5b92"


def box(ax, x, y, w, h, text, color, module=None, fontsize=8.5, style="round,pad=0.02", lw=1.0,
        ls="-"):
    """A rounded box centred at (x, y) with a label and an optional module annotation below it."""
    patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle=style, facecolor=color,
                           edgecolor="#333333", linewidth=lw, linestyle=ls)
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, wrap=True)
    if module:
        ax.text(x, y - h / 2 - 0.018, module, ha="center", va="top", fontsize=6.3,
                family="monospace", color=MODULE_COLOR)
    return patch


def arrow(ax, start, end, color="#333333", style="-|>", lw=1.0, ls="-", rad=0.0):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=9, color=color,
                                 linewidth=lw, linestyle=ls, connectionstyle=f"arc3,rad={rad}",
                                 shrinkA=2, shrinkB=2))


def panel_title(ax, text):
    ax.set_title(text, fontsize=10.5, loc="left", fontweight="bold")


def setup(ax):
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("auto")
    ax.axis("off")


def draw_imagination_core(ax):
    """Panel a: o_t -> pi_hat -> a_hat -> env model -> (o_hat_{t+1}, r_hat_{t+1})."""
    setup(ax)
    panel_title(ax, "a) Imagination core (Sec. 3.1)")
    box(ax, 0.13, 0.62, 0.20, 0.12, "input\nobservation $o_t$\n(or imagined $\\hat o_t$)", COLORS["obs"])
    box(ax, 0.45, 0.84, 0.32, 0.12, "rollout policy $\\hat\\pi$\n(small model-free net)",
        COLORS["policy"], "models/i2a.py: RolloutPolicy")
    box(ax, 0.45, 0.40, 0.26, 0.14, "environment model\n(pool-and-inject CNN,\npretrained, frozen)",
        COLORS["model"], "models/env_model.py: EnvModel")
    box(ax, 0.84, 0.52, 0.22, 0.10, "imagined frame\n$\\hat o_{t+1}$", COLORS["imagined"])
    box(ax, 0.84, 0.30, 0.22, 0.10, "imagined reward\n$\\hat r_{t+1}$", COLORS["imagined"])
    arrow(ax, (0.23, 0.66), (0.32, 0.82))
    arrow(ax, (0.23, 0.58), (0.32, 0.43))
    arrow(ax, (0.45, 0.78), (0.45, 0.475))
    ax.text(0.47, 0.62, "$\\hat a_t$ (first step:\nfixed action $i$)", fontsize=7.5, va="center")
    arrow(ax, (0.58, 0.44), (0.73, 0.51))
    arrow(ax, (0.58, 0.37), (0.73, 0.31))
    ax.text(0.5, 0.08, "models/imagination_core.py: ImaginationCore\n"
            "one rollout per action, all B x A rollouts batched; no gradient into the env model",
            ha="center", fontsize=6.8, family="monospace", color=MODULE_COLOR)


def draw_rollout(ax):
    """Panel b: tau imagination-core steps, CNN per step, LSTM reading from the last step back."""
    setup(ax)
    panel_title(ax, "b) Single imagined rollout + encoder (Sec. 3.2)")
    xs = [0.14, 0.38, 0.62, 0.86]
    labels = ["$\\hat f_{t+1}$", "$\\hat f_{t+2}$", "...", "$\\hat f_{t+\\tau}$"]
    ax.text(0.02, 0.90, "$o_t$", fontsize=9, va="center")
    for i, (x, lab) in enumerate(zip(xs, labels)):
        if lab == "...":
            ax.text(x, 0.90, "...", ha="center", va="center", fontsize=12)
            ax.text(x, 0.62, "...", ha="center", va="center", fontsize=12)
            ax.text(x, 0.36, "...", ha="center", va="center", fontsize=12)
            continue
        box(ax, x, 0.90, 0.15, 0.09, "imagination\ncore", COLORS["model"], fontsize=7)
        box(ax, x, 0.66, 0.15, 0.09, lab + "\n($\\hat o$, $\\hat r$)", COLORS["imagined"], fontsize=7)
        box(ax, x, 0.44, 0.15, 0.08, "CNN", COLORS["encoder"], fontsize=7.5)
        box(ax, x, 0.22, 0.15, 0.09, "LSTM", COLORS["encoder"], fontsize=7.5)
        arrow(ax, (x, 0.855), (x, 0.705))
        arrow(ax, (x, 0.615), (x, 0.48))
        arrow(ax, (x, 0.40), (x, 0.265))
    arrow(ax, (0.05, 0.90), (0.065, 0.90))
    arrow(ax, (0.215, 0.90), (0.305, 0.90))
    arrow(ax, (0.455, 0.90), (0.58, 0.90))
    arrow(ax, (0.66, 0.90), (0.785, 0.90))
    # LSTM reads in reverse order: last imagined step first.
    arrow(ax, (0.785, 0.22), (0.70, 0.22), color="#7a3db8")
    arrow(ax, (0.54, 0.22), (0.455, 0.22), color="#7a3db8")
    arrow(ax, (0.305, 0.22), (0.215, 0.22), color="#7a3db8")
    arrow(ax, (0.065, 0.22), (0.02, 0.22), color="#7a3db8")
    ax.text(0.0, 0.15, "$e_i$", fontsize=9, va="center")
    ax.text(0.5, 0.09, "reverse order: $\\hat f_{t+\\tau}$ first (\"mimics Bellman backup\")",
            ha="center", fontsize=7, color="#7a3db8")
    ax.text(0.5, 0.0, "models/rollout_encoder.py: RolloutEncoder(reverse=True)",
            ha="center", fontsize=6.8, family="monospace", color=MODULE_COLOR)


def draw_full_agent(ax):
    """Panel c: rollouts per action -> encoders -> aggregator; model-free path; heads."""
    setup(ax)
    panel_title(ax, "c) Imagination-augmented agent (Sec. 2-3)")
    box(ax, 0.08, 0.50, 0.12, 0.14, "observation\n$o_t$", COLORS["obs"], fontsize=8)
    ys = [0.86, 0.70, 0.50]
    names = ["rollout 1\n(first action 1)", "rollout 2\n(first action 2)", "rollout n\n(first action n)"]
    for y, name in zip(ys, names):
        box(ax, 0.30, y, 0.17, 0.11, name, COLORS["model"], fontsize=7.5)
        box(ax, 0.50, y, 0.13, 0.09, "encoder", COLORS["encoder"], fontsize=7.5)
        arrow(ax, (0.14, 0.52), (0.215, y))
        arrow(ax, (0.385, y), (0.435, y))
        arrow(ax, (0.565, y), (0.64, 0.71))
    ax.text(0.30, 0.605, "...", ha="center", va="center", fontsize=11)
    ax.text(0.30, 0.435, "models/imagination_core.py", ha="center", va="top", fontsize=6.3, family="monospace",
            color=MODULE_COLOR)
    ax.text(0.50, 0.435, "models/rollout_encoder.py", ha="center", va="top", fontsize=6.3, family="monospace",
            color=MODULE_COLOR)
    box(ax, 0.71, 0.71, 0.13, 0.14, "aggregator\n(concat\n$e_1..e_n$)", COLORS["agg"], fontsize=7.5)
    ax.text(0.71, 0.615, "I2AAgent.\nimagination_features", ha="center", va="top", fontsize=6.0,
            family="monospace", color=MODULE_COLOR)
    box(ax, 0.40, 0.20, 0.30, 0.12, "model-free path\n(conv tower + FC)", COLORS["mf"], fontsize=8,
        module="models/model_free.py: build_conv_torso")
    arrow(ax, (0.08, 0.43), (0.25, 0.21))
    box(ax, 0.88, 0.45, 0.17, 0.12, "FC  $\\to$\npolicy $\\pi$ (logits)\n+ value $V$", COLORS["head"],
        fontsize=7.5)
    arrow(ax, (0.775, 0.68), (0.85, 0.515))
    arrow(ax, (0.55, 0.21), (0.795, 0.43))
    ax.text(0.88, 0.375, "models/i2a.py:\nI2AAgent", ha="center", va="top", fontsize=6.3,
            family="monospace", color=MODULE_COLOR)
    box(ax, 0.82, 0.17, 0.30, 0.11, "distillation: CE($\\pi$, $\\hat\\pi$)\ntrains the rollout policy",
        COLORS["loss"], fontsize=7.2, ls="--")
    ax.text(0.82, 0.095, "algos/distillation.py", ha="center", va="top", fontsize=6.3,
            family="monospace", color=MODULE_COLOR)
    arrow(ax, (0.88, 0.39), (0.86, 0.23), ls="--")
    ax.text(0.02, 0.01, "trained with A2C/A3C (algos/a2c.py, algos/a3c.py, Sec. 3.3); "
            "env model pretrained by training/env_model_train.py",
            fontsize=6.3, family="monospace", color=MODULE_COLOR)


def make_figure(path: str) -> str:
    fig = plt.figure(figsize=(13, 8.2))
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 1.25], hspace=0.12, wspace=0.06)
    draw_imagination_core(fig.add_subplot(grid[0, 0]))
    draw_rollout(fig.add_subplot(grid[0, 1]))
    draw_full_agent(fig.add_subplot(grid[1, :]))
    fig.suptitle("I2A architecture (Weber et al., 2017, Fig. 1) and the i2a_keras modules "
                 "(paths under i2a_keras/)", fontsize=12)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "architecture.png"))
    args = parser.parse_args(argv)
    print(make_figure(args.out))


if __name__ == "__main__":
    main()
