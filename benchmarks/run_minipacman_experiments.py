"""Multi-task MiniPacman (Weber et al., 2017, Sec. 5, Fig. 6): every agent on every task.

One environment model, trained on the events of all five tasks (``python -m i2a_keras.train
env-model --preset minipacman ...``), serves every I2A: only the reward weights of the task change
(``model.reward_task``). With the same frame budget, the script trains through ``python -m
i2a_keras.train`` each (task, agent) of

    tasks:  regular | avoid | hunt | ambush | rush
    agents: model-free (standard baseline) | copy-model I2A | I2A

and writes, like the paper's Fig. 6 (rows tasks, columns agents; the score is the mean episode
return of the final evaluation, actions sampled from the policy):

    OUT/minipacman_results.md       the table (markdown)
    OUT/minipacman_results.json     the numbers and each run's learning curve
    OUT/minipacman_curves.png       training episodic return vs frames, one panel per task
    OUT/minipacman_episodes.gif     with --gif: one evaluation game per run, played by its final
                                    agent (rows tasks, columns agents, same game seed in a row)

Finished runs (``summary.json``) are skipped and interrupted ones resumed, so the script can be
re-run after a kill. The paper's own Fig. 6 numbers are not reproduced here.

    nice -n 10 python benchmarks/run_minipacman_experiments.py --preset minipacman \\
        --env-model runs/env_model_minipacman/checkpoints/final.keras --frames 1000000 \\
        --i2a-set model.frame_decoding=probs --out runs/minipacman_exp
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from i2a_keras.envs.minipacman_core import TASKS  # noqa: E402

# column -> (agent kind of the i2a subcommand, needs the env model)
AGENTS = {"model-free": ("model-free", False), "copy-model I2A": ("i2a-copy-model", False),
          "I2A": ("i2a", True)}


def run_dir_of(args, task: str, agent: str) -> str:
    return os.path.join(args.out, f"{task}_{AGENTS[agent][0]}")


def train_command(args, task: str, agent: str) -> list[str] | None:
    """The CLI call that trains (or resumes) one run; None if it has finished."""
    run_dir = run_dir_of(args, task, agent)
    if os.path.isfile(os.path.join(run_dir, "summary.json")):
        return None
    base = [sys.executable, "-m", "i2a_keras.train", "i2a"]
    if os.path.isfile(os.path.join(run_dir, "checkpoints", "latest.keras")):
        return base + ["--resume", run_dir, "--threads", str(args.threads)]
    kind, needs_model = AGENTS[agent]
    cmd = base + ["--agent", kind, "--preset", args.preset, "--run-dir", run_dir,
                  "--total-frames", str(args.frames), "--seed", str(args.seed),
                  "--threads", str(args.threads)]
    if needs_model:
        cmd += ["--env-model", args.env_model]
    model_sets = args.i2a_set if kind != "model-free" else []
    return cmd + ["--set", f"env.task={task}", *args.set, *model_sets]


def read_run(run_dir: str) -> dict:
    from i2a_keras.training.run_dir import read_jsonl

    with open(os.path.join(run_dir, "summary.json")) as fh:
        summary = json.load(fh)
    rows = [r for r in read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
            if "charts/episodic_return" in r]
    return {"mean_return": summary["eval"]["mean_return"], "mean_length": summary["eval"]["mean_length"],
            "mean_events": summary["eval"].get("mean_events"), "frames": summary["frames"],
            "curve": [[r["frames"], r["charts/episodic_return"]] for r in rows]}


def markdown_table(results: dict, tasks, agents) -> str:
    """Rows tasks, columns agents (the layout of Fig. 6): mean episode return per task."""
    lines = ["| task | " + " | ".join(agents) + " |", "|---" * (len(agents) + 1) + "|"]
    for task in tasks:
        cells = [f"{results[task][a]['mean_return']:.2f}" if a in results.get(task, {}) else "-"
                 for a in agents]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_curves(results: dict, tasks, agents, path: str) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.2 * len(tasks), 3.0))
    axes = fig.subplots(1, len(tasks), squeeze=False)[0]
    for ax, task in zip(axes, tasks):
        for agent in agents:
            curve = results.get(task, {}).get(agent, {}).get("curve")
            if curve:
                ax.plot(*zip(*curve), label=agent)
        ax.set(title=task, xlabel="frames")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("training episodic return")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def episodes_gif(args, tasks, agents, path: str) -> str:
    """One evaluation game per finished run (sampled actions, the run's ``eval_seed``), tiled with
    rows tasks and columns agents; a run without a final checkpoint leaves its cell empty."""
    from i2a_keras.training.checkpoint import load_checkpoint
    from i2a_keras.training.evaluate import episode_frames, run_env_config
    from i2a_keras.training.media import save_gif, tile_frames
    from i2a_keras.training.run_dir import RunDir

    grid = []
    for task in tasks:
        row = []
        for agent in agents:
            checkpoint = RunDir(run_dir_of(args, task, agent)).final_checkpoint
            if not os.path.isfile(checkpoint):
                row.append(None)
                continue
            model, state, _ = load_checkpoint(checkpoint, compile=False)
            row.append(episode_frames(model, run_env_config(checkpoint, state)))
        grid.append(row)
    return save_gif(tile_frames(grid), path)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-model", default=None, help="MiniPacman env model (.keras) for the I2A")
    parser.add_argument("--preset", default="minipacman",
                        choices=["minipacman_tiny", "minipacman", "minipacman_paper"])
    parser.add_argument("--frames", type=int, default=1_000_000, help="frame budget of every run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--agents", nargs="+", default=list(AGENTS), choices=list(AGENTS))
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="config overrides for every run (e.g. eval.num_levels=200)")
    parser.add_argument("--i2a-set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="config overrides for the two I2A agents only (e.g. "
                             "model.frame_decoding=probs; the model-free config has no such keys)")
    parser.add_argument("--threads", type=int, default=2, help="TF threads per run")
    parser.add_argument("--out", default="runs/minipacman_exp")
    parser.add_argument("--report-only", action="store_true", help="only read runs and write the table")
    parser.add_argument("--gif", action="store_true",
                        help="also write OUT/minipacman_episodes.gif (a game per run, rows tasks)")
    args = parser.parse_args(argv)
    if "I2A" in args.agents and not args.env_model and not args.report_only:
        parser.error("the I2A needs --env-model (train one with `python -m i2a_keras.train env-model "
                     "--preset minipacman --data ...`)")
    os.makedirs(args.out, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    results: dict = {}
    for task in args.tasks:
        for agent in args.agents:
            cmd = None if args.report_only else train_command(args, task, agent)
            if cmd is not None:
                print(f"[{task} / {agent}] {' '.join(cmd)}", flush=True)
                subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
            run_dir = run_dir_of(args, task, agent)
            if os.path.isfile(os.path.join(run_dir, "summary.json")):
                results.setdefault(task, {})[agent] = read_run(run_dir)
    table = markdown_table(results, args.tasks, args.agents)
    with open(os.path.join(args.out, "minipacman_results.md"), "w") as fh:
        fh.write(f"Mean episode return (final evaluation, sampled actions), {args.frames} frames "
                 f"per run, preset {args.preset}, seed {args.seed}\n\n{table}\n")
    with open(os.path.join(args.out, "minipacman_results.json"), "w") as fh:
        json.dump({"frames": args.frames, "preset": args.preset, "seed": args.seed,
                   "env_model": args.env_model, "set": args.set, "i2a_set": args.i2a_set,
                   "results": results}, fh, indent=2)
    plot_curves(results, args.tasks, args.agents, os.path.join(args.out, "minipacman_curves.png"))
    if args.gif:
        episodes_gif(args, args.tasks, args.agents, os.path.join(args.out, "minipacman_episodes.gif"))
    print(table)
    return results


if __name__ == "__main__":
    main()
