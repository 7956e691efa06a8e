"""Box-count generalisation (Weber et al., 2017, Sec. 4.1): agents trained on 4 boxes, played on
generated 10x10 levels with 1 to 7 boxes.

The paper trains on 4-box levels and reports that the I2A keeps its lead over the model-free
baseline at every box count from 1 to 7 (above 50% at 7 boxes). Boxoban has 4-box levels only, so
the other counts come from this project's generator (the same reverse-play procedure; the Boxoban
agents never trained on generated levels, so every one is held out). For each box count a pool of
``--levels`` levels is generated once (``envs.levels.build_pool``, seed ``--level-seed`` + box
count, cached under ``--cache``) and every agent plays each of its ``--levels`` levels once (the
evaluation deals a seeded permutation of the pool; before 2026-11-27 it drew them with
replacement), with its run's env settings (``moves`` actions, one-hot, 120 steps), actions sampled
by default. The same levels and evaluation seed serve every agent.

    python benchmarks/box_count_generalisation.py \\
        --agent "model-free=assets/pretrained/model_free_boxoban.keras" \\
        --agent "I2A=assets/pretrained/i2a_boxoban.keras" \\
        --levels 500 --out results/box_count_generalisation.json

Prints a markdown table (agents x box counts) and writes the numbers to ``--out``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def level_pool(boxes: int, num_levels: int, level_seed: int, cache: str) -> str:
    """A cached pool of ``num_levels`` generated 10x10 levels with ``boxes`` boxes."""
    from i2a_keras.envs.levels import build_pool

    path = os.path.join(cache, f"box_counts_10x10_b{boxes}_n{num_levels}_s{level_seed + boxes}.npz")
    if not os.path.isfile(path):
        os.makedirs(cache, exist_ok=True)
        build_pool(path, num_levels, (10, 10), boxes, seed=level_seed + boxes, progress=False)
    return path


def evaluate_box_counts(path: str, pools: dict, num_levels: int, num_envs: int, greedy: bool,
                        seed: int | None) -> dict:
    """Solve rate of the agent at ``path`` on the level pool of each box count."""
    from i2a_keras.training.checkpoint import load_checkpoint
    from i2a_keras.training.evaluate import checkpoint_kind, evaluate_agent, run_env_config

    agent, state, _ = load_checkpoint(path, compile=False)
    if checkpoint_kind(agent, state) == "env-model":
        raise SystemExit(f"{path} is an environment model, not an agent")
    env = run_env_config(path, state)
    if env is None:
        raise SystemExit(f"{path} carries no training config (env settings unknown)")
    out = {"checkpoint": os.path.abspath(path), "frames": state.get("frames"), "rates": {}}
    for boxes, pool in pools.items():
        start = time.time()
        # The run's own level folders (maybe another machine's) play no part: the pool is the
        # held-out set.
        level_env = dataclasses.replace(env, num_boxes=int(boxes), levels="generator",
                                        eval_levels=f"pool:{pool}")
        result = evaluate_agent(agent, level_env, num_levels, num_envs, greedy=greedy, seed=seed)
        out["rates"][str(boxes)] = result["solve_rate"]
        print(f"{os.path.basename(path)}: {boxes} box(es): {100 * result['solve_rate']:.1f}% of "
              f"{num_levels} ({time.time() - start:.0f} s)", flush=True)
    return out


def markdown_table(results: dict, box_counts) -> str:
    head = "| agent | frames | " + " | ".join(f"{b} box{'es' if b > 1 else ''}" for b in box_counts) + " |"
    lines = [head, "|---|---|" + "---|" * len(box_counts)]
    for name, r in results.items():
        cells = " | ".join(f"{100 * r['rates'][str(b)]:.1f}%" for b in box_counts)
        lines.append(f"| {name} | {r['frames']:,} | {cells} |" if r["frames"] else f"| {name} | ? | {cells} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", action="append", required=True, metavar="NAME=CHECKPOINT",
                        help="an agent checkpoint trained on 4 boxes (repeatable)")
    parser.add_argument("--boxes", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 7])
    parser.add_argument("--levels", type=int, default=500, help="held-out levels per box count")
    parser.add_argument("--num-envs", type=int, default=100)
    parser.add_argument("--greedy", action="store_true", help="arg-max actions (default: sampled)")
    parser.add_argument("--seed", type=int, default=None, help="evaluation seed (default: the env's)")
    parser.add_argument("--level-seed", type=int, default=20171, help="level pools use this + box count")
    parser.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "i2a_keras"),
                        help="folder for the generated level pools")
    parser.add_argument("--out", default=None, help="JSON file for the results")
    args = parser.parse_args(argv)
    from i2a_keras.training.evaluate import named_checkpoints

    try:
        agents = named_checkpoints(args.agent)
    except ValueError as exc:
        parser.error(str(exc))
    if min(args.boxes) < 1 or args.levels < 1:
        parser.error("--boxes and --levels must be >= 1")
    pools = {b: level_pool(b, args.levels, args.level_seed, args.cache) for b in args.boxes}
    results = {name: evaluate_box_counts(path, pools, args.levels, args.num_envs, args.greedy,
                                         args.seed)
               for name, path in agents.items()}
    table = markdown_table(results, args.boxes)
    print(table)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump({"levels_per_count": args.levels, "greedy": args.greedy, "seed": args.seed,
                       "level_seed": args.level_seed,
                       "box_counts": args.boxes, "agents": results, "table": table}, fh, indent=2)


if __name__ == "__main__":
    main()
