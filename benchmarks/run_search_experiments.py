"""Imagination efficiency of the planners (Weber et al., 2017, Sec. 4.3, Table 1 analogue).

Sweeps the budget of every planner of ``python -m i2a_keras.train search`` on the same held-out
levels and plots the solve rate against the imagination spent per level (log x axis):

    MCTS, perfect model      mcts.num_simulations per move   x = simulated steps per level
    MC search (env model)    rollout length tau = 1..5       x = imagined steps per level
    MC search (poor model)   tau = 1..5 (with --poor-env-model)
    I2A                      its own tau                     x = imagined steps per level
    I2A + outer MC loop      attempts N = 1, 2, 5, 10        x = imagined steps per level

Each point is one ``search`` run; its record is appended to ``OUT/search.jsonl`` and points already
there are skipped, so the script can be re-run after a kill. The plot goes to ``--plot`` (default
``assets/search_efficiency.png``) and the points to the same name with ``.json``.

    nice -n 10 python benchmarks/run_search_experiments.py \\
        --model-free assets/pretrained/model_free_small_1box.keras \\
        --i2a assets/pretrained/i2a_small_1box.keras \\
        --env-model assets/pretrained/env_model_small.keras --num-levels 200 --out runs/search_exp
    python benchmarks/run_search_experiments.py --plot-only --out runs/search_exp
"""
from __future__ import annotations

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

FAMILIES = {  # label -> (x metric, marker)
    "MCTS (perfect model)": ("simulated_steps_per_level", "s"),
    "MC search": ("imagined_steps_per_level", "o"),
    "MC search (poor model)": ("imagined_steps_per_level", "v"),
    "I2A": ("imagined_steps_per_level", "*"),
    "I2A + outer MC loop": ("imagined_steps_per_level", "D"),
}


def planned_runs(args):
    """``(family, budget, search settings)`` of every point of the sweep."""
    runs = []
    for sims in args.mcts_simulations:
        runs.append(("MCTS (perfect model)", sims, dict(
            planner="mcts", checkpoint=args.model_free, overrides=[f"mcts.num_simulations={sims}"])))
    models = [("MC search", args.env_model), ("MC search (poor model)", args.poor_env_model)]
    for family, env_model in models:
        if not env_model:
            continue
        for tau in args.taus:
            runs.append((family, tau, dict(
                planner="mc", checkpoint=args.model_free, rollout_policy=args.i2a, env_model=env_model,
                overrides=[f"mc.rollout_length={tau}", f"mc.temperature={args.temperature}"])))
    runs.append(("I2A", 1, dict(planner="i2a", checkpoint=args.i2a, overrides=[])))
    for n in args.attempts:
        runs.append(("I2A + outer MC loop", n, dict(planner="i2a-retry", checkpoint=args.i2a,
                                                    overrides=[f"attempts={n}"])))
    return runs


def run_point(family, budget, spec, args, out):
    from i2a_keras.training.config import apply_overrides
    from i2a_keras.training.search import build_config, run

    config = build_config("small")
    items = [f"planner={spec['planner']}", f"checkpoint={spec['checkpoint']}",
             f"num_levels={args.num_levels}", f"out={out}", f"seed={args.seed}"]
    for key in ("env_model", "rollout_policy"):
        if spec.get(key):
            items.append(f"{key}={spec[key]}")
    config = apply_overrides(config, items + spec["overrides"] + args.overrides)
    env_items = [item for item in args.overrides if item.startswith("env.")]
    record = run(config, env_overrides=env_items)
    return record


def load_points(path):
    if not os.path.isfile(path):
        return []
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def plot(points, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for family, (metric, marker) in FAMILIES.items():
        rows = sorted((p for p in points if p.get("family") == family), key=lambda p: p[metric])
        if not rows:
            continue
        xs = [max(p[metric], 1.0) for p in rows]
        ys = [100 * p["solve_rate"] for p in rows]
        ax.plot(xs, ys, marker=marker, label=family)
        for p, x, y in zip(rows, xs, ys):
            ax.annotate(str(p["budget"]), (x, y), textcoords="offset points", xytext=(3, 3),
                        fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("imagined / simulated steps per level (log)")
    ax.set_ylabel("held-out levels solved (%)")
    ax.set_ylim(0, 105)
    ax.grid(True, which="both", alpha=0.3)
    num = {p["num_levels"] for p in points}
    ax.set_title(f"Imagination efficiency (Table 1 analogue), {'/'.join(map(str, sorted(num)))} levels; "
                 "labels: budget", fontsize=9)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    keep = ("family", "budget", "planner", "solve_rate", "num_levels", "imagined_steps_per_level",
            "simulated_steps_per_level", "mean_steps", "seconds")
    with open(os.path.splitext(path)[0] + ".json", "w") as fh:
        json.dump([{k: p.get(k) for k in keep} for p in points], fh, indent=2)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model-free", default="assets/pretrained/model_free_small_1box.keras",
                   help="model-free agent: MCTS prior/value, MC search value")
    p.add_argument("--i2a", default="assets/pretrained/i2a_small_1box.keras",
                   help="I2A agent (also the MC search's distilled rollout policy)")
    p.add_argument("--env-model", default="assets/pretrained/env_model_small.keras",
                   help="MC search env model (.keras, 'perfect' or 'copy')")
    p.add_argument("--poor-env-model", default="", help="a poorly trained env model (optional)")
    p.add_argument("--num-levels", type=int, default=200)
    p.add_argument("--seed", type=int, default=1_000_003)
    p.add_argument("--mcts-simulations", type=int, nargs="+", default=[2, 5, 10, 25, 50, 100, 200])
    p.add_argument("--taus", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--attempts", type=int, nargs="+", default=[2, 5, 10])
    p.add_argument("--temperature", type=float, default=0.5, help="MC search softmax temperature")
    p.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[],
                   help="extra search settings for every run, e.g. env.num_boxes=1 progress=false")
    p.add_argument("--out", default="runs/search_exp")
    p.add_argument("--plot", default="assets/search_efficiency.png")
    p.add_argument("--plot-only", action="store_true")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    points_path = os.path.join(args.out, "points.jsonl")
    points = load_points(points_path)
    if not args.plot_only:
        done = {(q["family"], q["budget"]) for q in points}
        for family, budget, spec in planned_runs(args):
            if (family, budget) in done:
                continue
            print(f"== {family}, budget {budget}", file=sys.stderr)
            record = run_point(family, budget, spec, args, os.path.join(args.out, "search.jsonl"))
            point = {k: v for k, v in record.items() if k not in ("levels", "env")}
            point.update(family=family, budget=budget)
            with open(points_path, "a") as fh:
                fh.write(json.dumps(point) + "\n")
            points.append(point)
    for q in sorted(points, key=lambda q: (q["family"], q["budget"])):
        metric = FAMILIES[q["family"]][0]
        print(f"{q['family']:<26} budget {q['budget']:>4}: {100 * q['solve_rate']:5.1f}% solved, "
              f"{q[metric]:10.0f} {metric.replace('_per_level', '')}/level")
    print(f"plot: {plot(points, args.plot)}")


if __name__ == "__main__":
    main()
