"""Reproduce the I2A experiments on the small CPU Sokoban (Weber et al., 2017, Sec. 4.1-4.2).

Runs, with the same frame budget (``--jobs`` at a time), every (agent, seed) of the comparison
    model-free | I2A (tau=5) | copy-model I2A (tau=5) | I2A tau=1 | I2A tau=3
    [| I2A (tau=5) with env model v2 | no-reward I2A (tau=5) with the matching no-reward model]
    [| I2A (tau=5) with a poor env model (Sec. 4.2)]
through ``python -m i2a_keras.train i2a`` (A2C), then evaluates held-out solve rates (the
trainer's final evaluation on the held-out level split, actions sampled from the policy) and draws
    assets/<prefix>learning_curves.png      training solve rate vs frames, agents
    assets/<prefix>rollout_length.png       training solve rate vs frames, tau = 1, 3, 5
    assets/<prefix>final_solve_rates.png    held-out solve rate per agent (mean and each seed)
    assets/<prefix>results.json             the numbers behind the plots (and each run's curve)
Finished runs (``summary.json`` present) are skipped, interrupted ones resumed from their
checkpoint, so the script can be re-run after a kill. Runs are ordered seed-major (all agents of
seed 0 first) so that a partial sweep is still a side-by-side comparison.

    nice -n 10 python benchmarks/run_i2a_experiments.py \\
        --env-model assets/pretrained/env_model_small.keras --frames 100000 --seeds 0 1 \\
        --num-boxes 1 --lr 2e-3 --out runs/i2a_exp
    python benchmarks/run_i2a_experiments.py --plot-only --out runs/i2a_exp
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name -> (agent kind, rollout length or None, label, env-model argument)
RUNS = {
    "model-free": ("model-free", None, "model-free", None),
    "i2a": ("i2a", 5, "I2A (tau=5)", "env_model"),
    "copy-model": ("i2a-copy-model", 5, "copy-model I2A (tau=5)", None),
    "i2a-tau3": ("i2a", 3, "I2A tau=3", "env_model"),
    "i2a-tau1": ("i2a", 1, "I2A tau=1", "env_model"),
    # the no-reward control and the I2A with the reward model trained on the same data
    "i2a-v2": ("i2a", 5, "I2A (tau=5), env model v2 [B]", "env_model_v2"),
    "no-reward": ("i2a-no-reward", 5, "no-reward I2A (tau=5), v2 [B]", "no_reward_env_model"),
    # the imperfect-model experiment (Sec. 4.2): the same I2A with a poorly trained env model
    "i2a-poor": ("i2a", 5, "I2A (tau=5), poor env model", "poor_env_model"),
}
AGENT_PLOT = ("model-free", "i2a", "copy-model", "i2a-poor", "i2a-v2", "no-reward")
TAU_PLOT = ("i2a-tau1", "i2a-tau3", "i2a")


def run_command(name, seed, args):
    agent, tau, _, env_model_arg = RUNS[name]
    run_dir = os.path.join(args.out, f"{name}_s{seed}")
    if os.path.isfile(os.path.join(run_dir, "summary.json")):
        return None, run_dir
    base = [sys.executable, "-m", "i2a_keras.train", "i2a"]
    if os.path.isfile(os.path.join(run_dir, "checkpoints", "latest.keras")):
        return base + ["--resume", run_dir, "--threads", str(args.threads)], run_dir
    cmd = base + ["--agent", agent, "--preset", "small", "--run-dir", run_dir,
                  "--threads", str(args.threads),
                  "--set", f"env.num_boxes={args.num_boxes}",
                  "--set", f"run.total_frames={args.frames}",
                  "--set", f"run.seed={seed}",
                  "--set", f"a2c.learning_rate={args.lr}",
                  "--set", f"env.train_seed={1000 + seed}",
                  "--set", f"run.log_interval_frames={args.log_interval}",
                  "--set", f"run.checkpoint_interval_frames={args.checkpoint_interval}",
                  "--set", f"eval.num_levels={args.eval_levels}",
                  "--set", "eval.num_envs=50", "--set", "eval.interval_frames=0",
                  "--set", "eval.greedy=false",
                  "--set", "run.progress=false"]
    if tau is not None:
        cmd += ["--set", f"i2a.rollout_length={tau}", "--set", f"i2a.seed={seed}"]
    if env_model_arg:
        cmd += ["--env-model", getattr(args, env_model_arg)]
    return cmd, run_dir


def run_all(jobs, args):
    """Run the (name, seed) jobs in order, at most ``args.jobs`` at a time (each with
    ``args.threads`` TF threads), each logging to ``<run_dir>.log``."""
    pending, running = list(jobs), []
    while pending or running:
        while pending and len(running) < args.jobs:
            name, seed = pending.pop(0)
            cmd, run_dir = run_command(name, seed, args)
            if cmd is None:
                continue
            print(f"[{time.strftime('%H:%M:%S')}] {name} seed {seed}: {' '.join(cmd[1:])}", flush=True)
            log = open(run_dir + ".log", "a")
            running.append((name, seed, log, subprocess.Popen(
                cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)))
        for item in list(running):
            name, seed, log, proc = item
            if proc.poll() is not None:
                log.close()
                running.remove(item)
                print(f"[{time.strftime('%H:%M:%S')}] {name} seed {seed}: exit {proc.returncode}", flush=True)
        time.sleep(1.0)


def read_run(run_dir):
    metrics, summary = [], None
    path = os.path.join(run_dir, "metrics.jsonl")
    if os.path.isfile(path):
        with open(path) as fh:
            metrics = [json.loads(line) for line in fh if line.strip()]
    if os.path.isfile(os.path.join(run_dir, "summary.json")):
        with open(os.path.join(run_dir, "summary.json")) as fh:
            summary = json.load(fh)
    return metrics, summary


def collect(args, names):
    results = {}
    for name in names:
        for seed in args.seeds:
            run_dir = os.path.join(args.out, f"{name}_s{seed}")
            if not os.path.isdir(run_dir):
                continue
            metrics, summary = read_run(run_dir)
            curve = [(m["frames"], m["charts/solve_rate"]) for m in metrics if "charts/solve_rate" in m]
            sps = [m["charts/SPS"] for m in metrics if "charts/SPS" in m]
            results.setdefault(name, {})[str(seed)] = {
                "curve": curve,
                "final_eval_solve_rate": summary["eval"]["solve_rate"] if summary else None,
                "eval_levels": summary["eval"]["num_levels"] if summary else None,
                "frames": summary["frames"] if summary else (curve[-1][0] if curve else 0),
                "median_sps": float(sorted(sps)[len(sps) // 2]) if sps else None,
            }
    return results


def random_policy_solve_rate(num_boxes: int, num_levels: int) -> float:
    """Held-out solve rate of the uniform random policy (same levels and evaluation as the runs)."""
    sys.path.insert(0, ROOT)
    import dataclasses

    import keras
    from i2a_keras.envs.observations import observation_shape
    from i2a_keras.models import build_agent
    from i2a_keras.training.config import model_free_preset
    from i2a_keras.training.evaluate import evaluate_agent

    keras.utils.set_random_seed(0)
    config = model_free_preset("small")
    env = dataclasses.replace(config.env, num_boxes=num_boxes)
    agent = build_agent("model-free", observation_shape(tuple(env.dim_room), env.observation), 5,
                        config.model)
    for weight in agent.policy_head.weights:  # zero logits: uniform over the 5 actions
        weight.assign(keras.ops.zeros_like(weight))
    return float(evaluate_agent(agent, env, num_levels, 50, greedy=False)["solve_rate"])


def _smooth(values, k=3):
    out = []
    for i in range(len(values)):
        window = values[max(0, i - k + 1): i + 1]
        out.append(sum(window) / len(window))
    return out


def plot(results, args, random_rate=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    os.makedirs(args.assets, exist_ok=True)
    title = f"Sokoban 7x7, {args.num_boxes} box{'es' if args.num_boxes > 1 else ''}"

    def curves(names, filename, heading):
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for name in names:
            if name not in results:
                continue
            runs = [r["curve"] for r in results[name].values() if r["curve"]]
            if not runs:
                continue
            n = min(len(c) for c in runs)
            frames = np.array([f for f, _ in runs[0][:n]])
            rates = np.array([_smooth([v for _, v in c[:n]]) for c in runs])
            ax.plot(frames, rates.mean(0), label=f"{RUNS[name][2]} (n={len(runs)} seeds)")
            if len(runs) > 1:
                ax.fill_between(frames, rates.min(0), rates.max(0), alpha=0.2)
        ax.set_xlabel("environment frames")
        ax.set_ylabel("training solve rate (smoothed)")
        ax.set_title(f"{heading}: {title}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(args.assets, filename), dpi=110)
        plt.close(fig)

    curves(AGENT_PLOT, f"{args.prefix}learning_curves.png", "I2A vs baselines")
    curves(TAU_PLOT, f"{args.prefix}rollout_length.png", "Rollout length")

    names = [n for n in RUNS if n in results and any(
        r["final_eval_solve_rate"] is not None for r in results[n].values())]
    if names:
        fig, ax = plt.subplots(figsize=(7.2, 4.2))
        for i, name in enumerate(names):
            vals = [r["final_eval_solve_rate"] for r in results[name].values()
                    if r["final_eval_solve_rate"] is not None]
            ax.bar(i, 100 * np.mean(vals), color=f"C{i}", alpha=0.7)
            ax.scatter([i] * len(vals), [100 * v for v in vals], color="k", s=12, zorder=3)
            ax.text(i, 100 * np.mean(vals) + 1, f"{100 * np.mean(vals):.1f}%", ha="center", fontsize=8)
        if random_rate is not None:
            ax.axhline(100 * random_rate, color="gray", ls="--", lw=1)
            ax.text(-0.45, 100 * random_rate - 3, f"uniform random policy {100 * random_rate:.1f}%",
                    ha="left", fontsize=7, color="gray")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([RUNS[n][2] for n in names], rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("held-out levels solved (%)")
        ax.set_title(f"Final held-out solve rate (sampled actions, dots = seeds): {title}", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(os.path.join(args.assets, f"{args.prefix}final_solve_rates.png"), dpi=110)
        plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-model", default=None, help="pretrained .keras env model (with reward)")
    parser.add_argument("--env-model-v2", default=None,
                        help="reward env model trained on the same data as --no-reward-env-model")
    parser.add_argument("--no-reward-env-model", default=None, help="env model trained without reward")
    parser.add_argument("--poor-env-model", default=None,
                        help="a poorly trained env model (run i2a-poor, Sec. 4.2)")
    parser.add_argument("--frames", type=int, default=100_000, help="frame budget of every run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--num-boxes", type=int, default=1)
    parser.add_argument("--runs", nargs="+", default=None, choices=list(RUNS),
                        help="subset of runs (default: all that have their env model)")
    parser.add_argument("--out", default="runs/i2a_exp")
    parser.add_argument("--assets", default=os.path.join(ROOT, "assets"))
    parser.add_argument("--lr", type=float, default=2e-3, help="A2C RMSprop learning rate (all runs)")
    parser.add_argument("--eval-levels", type=int, default=200)
    parser.add_argument("--log-interval", type=int, default=5_000)
    parser.add_argument("--checkpoint-interval", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=2, help="TF threads per run")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at the same time")
    parser.add_argument("--prefix", default="i2a_",
                        help="file-name prefix of the plots and JSON written to --assets")
    parser.add_argument("--plot-only", action="store_true")
    parser.add_argument("--random-reference", type=float, default=None,
                        help="uniform-random-policy solve rate to draw (default: measure it with "
                             "this checkout's env, which must be the code the runs used)")
    args = parser.parse_args(argv)

    names = args.runs or [n for n in RUNS if RUNS[n][3] is None or getattr(args, RUNS[n][3])]
    if not args.plot_only:
        missing = sorted({"--" + RUNS[n][3].replace("_", "-") for n in names
                          if RUNS[n][3] and not getattr(args, RUNS[n][3])})
        if missing:
            parser.error(f"runs {names} need {', '.join(missing)}")
        os.makedirs(args.out, exist_ok=True)
        run_all([(name, seed) for seed in args.seeds for name in names], args)
    results = collect(args, list(RUNS))
    os.makedirs(args.assets, exist_ok=True)
    random_rate = (args.random_reference if args.random_reference is not None
                   else random_policy_solve_rate(args.num_boxes, args.eval_levels))
    print(f"uniform random policy: {100 * random_rate:.1f}% of {args.eval_levels} held-out levels")
    with open(os.path.join(args.assets, f"{args.prefix}results.json"), "w") as fh:
        json.dump({"frames": args.frames, "num_boxes": args.num_boxes, "seeds": args.seeds,
                   "lr": args.lr, "random_policy_solve_rate": random_rate,
                   "runs": results}, fh, indent=1)
    plot(results, args, random_rate)
    print(markdown_table(results))


def markdown_table(results) -> str:
    """Held-out solve rate (mean and per seed), late training solve rate and throughput."""
    lines = ["| agent | seeds | held-out solved, mean | per seed | training solve rate, last 20% of "
             "frames | median SPS |", "|---|---|---|---|---|---|"]
    for name in RUNS:
        if name not in results:
            continue
        runs = results[name]
        finals = [r["final_eval_solve_rate"] for r in runs.values() if r["final_eval_solve_rate"] is not None]
        late = []
        for r in runs.values():
            if r["curve"]:
                cut = 0.8 * r["curve"][-1][0]
                late.extend(v for f, v in r["curve"] if f > cut)
        sps = [r["median_sps"] for r in runs.values() if r["median_sps"]]
        mean = f"{100 * sum(finals) / len(finals):.1f}%" if finals else "-"
        per_seed = ", ".join(f"{100 * v:.1f}%" for v in finals) or "-"
        late_s = f"{100 * sum(late) / len(late):.1f}%" if late else "-"
        sps_s = f"{sorted(sps)[len(sps) // 2]:.0f}" if sps else "-"
        lines.append(f"| {RUNS[name][2]} | {len(finals)} | {mean} | {per_seed} | {late_s} | {sps_s} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
