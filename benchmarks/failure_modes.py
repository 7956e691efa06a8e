"""Why do the Boxoban agents fail? Dead ends against time-outs, on shared held-out levels.

Sokoban's moves are often irreversible: a box pushed into a corner off target, or frozen against
another box, can never be solved again. Avoiding "irreversible, poor decisions" is what Weber et
al. (2017, Sec. 1) expect of imagining before acting. This script plays each agent on the same fixed list of held-out
levels as ``benchmarks/paired_evaluation.py`` and, for every level it fails, asks the push-BFS
solver (``i2a_keras.envs.solver.solve``) about the room the episode ended in:

* **dead end**: no solution is left (an irreversible mistake was made);
* **still solvable**: the agent ran out of steps in a room it could still have solved;
* **unknown**: the search passed ``--max-states`` without deciding.

    V=../shared/data/boxoban-levels/unfiltered
    python benchmarks/failure_modes.py --levels 1000 --num-envs 200 \\
        --agent "12-conv tower=assets/pretrained/mf_boxoban_res12_vtrace.keras" \\
        --agent "I2A=assets/pretrained/i2a_boxoban.keras" \\
        --set env.levels=boxoban:$V/train env.eval_levels=boxoban:$V/valid \\
        --out results/boxoban_failure_modes_sampled.json

Prints one markdown row per agent and writes, per agent, the counts and one letter per level
(``s`` solved, ``d`` dead end, ``a`` still solvable, ``u`` unknown) to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from paired_evaluation import (add_held_out_arguments, check_held_out_arguments, evaluate,  # noqa: E402
                               held_out_key)  # a sibling script

LETTERS = {"solved": "a", "unsolvable": "d", "limit": "u"}  # the solver's status of a failed room


def room_state(room_fixed, room) -> np.ndarray:
    """The gym-sokoban ``room_state`` of a combined ``room`` (an observation decoded to tile codes)
    on its level's ``room_fixed``: boxes (3 on a target, 4 off), the player 5, the rest fixed."""
    from i2a_keras.envs.core import BOX, BOX_ON_TARGET, PLAYER, PLAYER_ON_TARGET, TARGET

    room, room_fixed = np.asarray(room), np.asarray(room_fixed)
    state = room_fixed.astype(np.uint8)
    boxes = (room == BOX) | (room == BOX_ON_TARGET)
    state[boxes] = np.where(room_fixed[boxes] == TARGET, BOX_ON_TARGET, BOX)
    state[(room == PLAYER) | (room == PLAYER_ON_TARGET)] = PLAYER
    return state


def classify(fixed, solved_by_level: str, final_rooms, max_states: int) -> str:
    """One letter per level: ``s`` solved, else the solver's verdict on the room the episode ended in."""
    from i2a_keras.envs.solver import solve

    letters = []
    for f, outcome, room in zip(fixed, solved_by_level, final_rooms):
        if outcome == "1":
            letters.append("s")
        else:
            letters.append(LETTERS[solve(f, room_state(f, room), max_states=max_states).status])
    return "".join(letters)


def summary(letters: str) -> dict:
    count = Counter(letters)
    failed = len(letters) - count["s"]
    return {"levels": len(letters), "solved": count["s"], "failed": failed, "dead_end": count["d"],
            "still_solvable": count["a"], "unknown": count["u"],
            "dead_end_share_of_failures": count["d"] / failed if failed else None}


def table(results: dict) -> str:
    lines = ["| agent | frames | solved | failed | dead end | still solvable | unknown | dead ends per failure |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        s, n = r["summary"], r["summary"]["levels"]
        frames = f"{r['frames']:,}" if r.get("frames") else "?"
        share = s["dead_end_share_of_failures"]
        lines.append(f"| {name} | {frames} | {100 * s['solved'] / n:.1f}% | {s['failed']} | {s['dead_end']} | "
                     f"{s['still_solvable']} | {s['unknown']} | {'-' if share is None else f'{100 * share:.0f}%'} |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_held_out_arguments(parser, "an agent checkpoint (repeatable)")
    parser.add_argument("--max-states", type=int, default=50_000,
                        help="the solver's budget per failed room ('unknown' past it)")
    args = parser.parse_args(argv)
    from i2a_keras.training.evaluate import evaluation_levels

    agents = check_held_out_arguments(parser, args)
    if args.max_states < 1:
        parser.error("--max-states must be >= 1")
    key, fixed, results = None, None, {}
    for name, path in agents.items():
        start = time.time()
        env, result = evaluate(path, args.set, args.levels, args.num_envs, args.greedy, args.seed,
                               final_rooms=True)
        env_key = json.loads(json.dumps(held_out_key(env)))
        if key is None:
            key = env_key
            fixed = evaluation_levels(env, args.levels, args.seed)[0]
        elif env_key != key:
            raise SystemExit(f"{name} plays other held-out levels than {next(iter(results))}: {env_key} "
                             f"vs {key}; pass --set env.KEY=VALUE so that they match")
        letters = classify(fixed, result["solved_by_level"], result["final_rooms"], args.max_states)
        results[name] = {"checkpoint": os.path.abspath(path), "frames": result["frames"],
                         "summary": summary(letters), "by_level": letters}
        print(f"{name}: {time.time() - start:.0f} s", flush=True)
    text = table(results)
    print(text)
    report = {"levels": args.levels, "greedy": args.greedy, "seed": args.seed, "env": key,
              "max_states": args.max_states, "agents": results, "table": text}
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=1)
    return report


if __name__ == "__main__":
    main()
