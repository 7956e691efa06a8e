"""Learning curves of the agents trained on the ``boxoban`` preset (docs/results.md, issue 10).

Reads ``results/<run>/metrics.jsonl`` and ``eval.jsonl`` (copies of the run directories) and
draws the training-episode solve rate and the held-out (unfiltered valid) solve rate against
environment frames. The I2A's curve starts after the frames spent collecting its environment
model's data (``--env-model-frames``), which count in its budget.

    python assets/make_boxoban_curves.py --out assets/boxoban_learning_curves.png \\
        --run "model-free=results/mf_boxoban" --run "I2A=results/i2a_boxoban:550080"
"""
from __future__ import annotations

import argparse
import json
import os


# Logging windows with fewer finished episodes than this are not plotted.
MIN_EPISODES = 100


def _rows(path):
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def plotted_windows(rows):
    """The logging windows worth plotting. A window cut short by a stop (logged with
    ``end_of_session``) holds few episodes, mostly solves (the unsolved episodes all end together
    at the step limit), so such windows, and any other window with few episodes, are left out."""
    return [m for m in rows if "charts/solve_rate" in m and not m.get("end_of_session")
            and m.get("charts/episodes", MIN_EPISODES) >= MIN_EPISODES]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", required=True,
                   help="LABEL=RUN_DIR[:OFFSET_FRAMES] (offset: env-model data frames)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    from matplotlib.figure import Figure

    # One legend under both panels, so it hides no curve: its rows get their own strip of height.
    legend_columns, panel_height = 3, 3.9
    legend_height = 0.1 + 0.17 * -(-len(args.run) // legend_columns)
    height = panel_height + legend_height
    fig = Figure(figsize=(10, height))
    ax_train, ax_eval = fig.subplots(1, 2)
    for spec in args.run:
        label, _, rest = spec.partition("=")
        run_dir, _, offset = rest.partition(":")
        offset = int(offset or 0)
        metrics = plotted_windows(_rows(os.path.join(run_dir, "metrics.jsonl")))
        evals = _rows(os.path.join(run_dir, "eval.jsonl"))
        line, = ax_train.plot([offset + m["frames"] for m in metrics],
                              [100 * m["charts/solve_rate"] for m in metrics], label=label, lw=1)
        if evals:
            ax_eval.plot([offset + e["frames"] for e in evals],
                         [100 * e["eval/solve_rate"] for e in evals], "o-", color=line.get_color(),
                         label=label)
        if offset:
            for ax in (ax_train, ax_eval):
                ax.axvspan(0, offset, color=line.get_color(), alpha=0.12)
    ax_train.set_title("training episodes solved (%)")
    ax_eval.set_title("held-out unfiltered valid solved (%, sampled)")
    for ax in (ax_train, ax_eval):
        ax.set_xlabel("environment frames (shaded: env-model data)")
        ax.grid(alpha=0.3)
    fig.legend(*ax_train.get_legend_handles_labels(), loc="lower center", ncol=legend_columns,
               fontsize=8, frameon=False)
    fig.suptitle("Boxoban 10x10, 4 boxes (boxoban preset)", fontsize=10)
    fig.tight_layout(rect=(0, legend_height / height, 1, 1))
    fig.savefig(args.out, dpi=90)
    print(args.out)


if __name__ == "__main__":
    main()
