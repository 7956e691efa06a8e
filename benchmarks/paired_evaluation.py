"""Paired evaluation: several agents on the same held-out levels, with each level's outcome.

Every agent plays the same fixed list of ``--levels`` held-out levels (``evaluate_agent`` deals one
list per evaluation seed, whatever the agent), so two agents can be compared level by level: the
difference of their solve rates has the standard error of a paired difference, and the exact
McNemar test (a two-sided binomial test on the levels that exactly one of the two solves) says
whether it could be chance. This is how the Boxoban agents of docs/results.md are set side by
side.

    python benchmarks/paired_evaluation.py \\
        --agent "MF res6 V-trace=assets/pretrained/model_free_res6_vtrace_boxoban.keras" \\
        --agent "I2A=assets/pretrained/i2a_boxoban.keras" \\
        --levels 1000 --greedy --out results/paired_valid_greedy.json

The agents must share their held-out env (rooms, boxes, step limit, level source); ``--set
env.KEY=VALUE`` items apply to every agent (e.g. ``env.max_steps=240``, or
``env.eval_levels=boxoban:FOLDER`` where a run's saved folder is another machine's). Prints two
markdown tables (solve rates; pairwise differences) and writes them, with every agent's
``solved_by_level`` and its checkpoint's path and SHA-256, to ``--out``.

``--add-to RESULTS.json`` adds agents to an earlier result file of this script without playing
its agents again: the new agents must play the same levels (``--levels``, ``--greedy``,
``--seed`` and the held-out env), and the pairs are compared over all the agents. One new
agent is enough then. For example, a later checkpoint against the agents above:

    python benchmarks/paired_evaluation.py --add-to results/paired_valid_greedy.json --greedy \\
        --agent "MF res12=assets/pretrained/mf_boxoban_res12_vtrace.keras" \\
        --out results/paired_valid_greedy.json
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import math
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value: a binomial(only_a + only_b, 1/2) test of the discordant
    levels."""
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n
    return min(1.0, 2.0 * tail)


def compare(a: str, b: str) -> dict:
    """Paired comparison of two ``solved_by_level`` strings."""
    if len(a) != len(b):
        raise ValueError(f"the agents played {len(a)} and {len(b)} levels")
    n = len(a)
    only_a = sum(x == "1" and y == "0" for x, y in zip(a, b))
    only_b = sum(x == "0" and y == "1" for x, y in zip(a, b))
    diff = (only_a - only_b) / n
    var = ((only_a + only_b) / n - diff ** 2) / n  # variance of the mean of per-level differences
    return {"difference": diff, "standard_error": math.sqrt(max(var, 0.0) * n / max(n - 1, 1)),
            "only_first": only_a, "only_second": only_b, "both": sum(x == y == "1" for x, y in zip(a, b)),
            "mcnemar_p": mcnemar_p(only_a, only_b)}


def evaluate(path: str, overrides, num_levels: int, num_envs: int, greedy: bool, seed, final_rooms=False):
    """``(env, result)``: the agent at ``path`` on its run's held-out levels, each level's outcome
    (and the room each episode ended in, with ``final_rooms``)."""
    from i2a_keras.training.checkpoint import load_checkpoint
    from i2a_keras.training.evaluate import (check_agent_fits, checkpoint_kind, evaluate_agent,
                                             held_out_run_env)

    agent, state, _ = load_checkpoint(path, compile=False)
    if checkpoint_kind(agent, state) == "env-model":
        raise SystemExit(f"{path} is an environment model, not an agent")
    try:
        env = held_out_run_env(path, state, overrides)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    if env.game != "sokoban":
        raise SystemExit(f"{path}: paired evaluation needs Sokoban levels, its env is {env.game}")
    check_agent_fits(agent, env, path)
    result = evaluate_agent(agent, env, num_levels, num_envs, greedy=greedy, seed=seed, per_level=True,
                            final_rooms=final_rooms)
    result["frames"] = state.get("frames")
    return env, result


def file_sha256(path: str) -> str:
    """The checkpoint file's SHA-256: a result stays tied to its weights when the file is replaced."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def held_out_key(env) -> dict:
    """The env settings that decide which levels are played and how: equal for every agent."""
    d = dataclasses.asdict(env)
    keys = ("dim_room", "num_boxes", "max_steps", "action_set", "eval_levels", "eval_seed")
    if not env.eval_levels:
        keys += ("levels", "holdout_fraction")
    return {k: d[k] for k in keys}


def previous_results(path: str, levels: int, greedy: bool, seed) -> tuple[dict, dict]:
    """``(held-out key, {name: result})`` of an earlier result file, whose evaluation settings must
    be this call's."""
    with open(path) as fh:
        data = json.load(fh)
    asked = {"levels": levels, "greedy": greedy, "seed": seed}
    differ = {k: (data.get(k), v) for k, v in asked.items() if data.get(k) != v}
    if differ:
        raise ValueError(f"{path} was played with other settings: "
                         + ", ".join(f"{k} {a!r} there, {b!r} here" for k, (a, b) in differ.items()))
    return data["env"], data["agents"]


def tables(results: dict, comparisons: dict) -> str:
    lines = ["| agent | frames | solved | standard error |", "|---|---|---|---|"]
    for name, r in results.items():
        p, n = r["solve_rate"], r["num_levels"]
        frames = f"{r['frames']:,}" if r["frames"] else "?"
        lines.append(f"| {name} | {frames} | {100 * p:.1f}% | {100 * math.sqrt(p * (1 - p) / n):.1f} |")
    lines += ["", "| first | second | difference | paired s.e. | only first | only second | both | "
              "McNemar p |", "|---|---|---|---|---|---|---|---|"]
    for (a, b), c in comparisons.items():
        lines.append(f"| {a} | {b} | {100 * c['difference']:+.1f} | {100 * c['standard_error']:.1f} | "
                     f"{c['only_first']} | {c['only_second']} | {c['both']} | {c['mcnemar_p']:.2g} |")
    return "\n".join(lines)


def add_held_out_arguments(parser, agent_help: str) -> None:
    """The options of the scripts that play agents on one shared list of held-out levels."""
    parser.add_argument("--agent", action="append", required=True, metavar="NAME=CHECKPOINT", help=agent_help)
    parser.add_argument("--levels", type=int, default=1000, help="held-out levels, the same for every agent")
    parser.add_argument("--num-envs", type=int, default=200)
    parser.add_argument("--greedy", action="store_true", help="arg-max actions (default: sampled)")
    parser.add_argument("--seed", type=int, default=None, help="evaluation seed (default: the env's)")
    parser.add_argument("--set", nargs="*", default=[], metavar="env.KEY=VALUE",
                        help="env settings applied to every agent's run env")
    parser.add_argument("--out", default=None, help="JSON file for the results")


def check_held_out_arguments(parser, args) -> dict:
    """``{NAME: CHECKPOINT}`` of the ``--agent`` items; a usage error on bad values of
    :func:`add_held_out_arguments`' options."""
    from i2a_keras.training.evaluate import named_checkpoints

    try:
        agents = named_checkpoints(args.agent)
    except ValueError as exc:
        parser.error(str(exc))
    if args.levels < 1 or args.num_envs < 1:
        parser.error("--levels and --num-envs must be >= 1")
    bad = [item for item in args.set if not item.startswith("env.") or "=" not in item]
    if bad:
        parser.error(f"--set takes env.KEY=VALUE items, got {bad}")
    return agents


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_held_out_arguments(parser, "an agent checkpoint (repeatable; at least 2 agents in all)")
    parser.add_argument("--add-to", default=None, metavar="JSON",
                        help="an earlier result file of this script: its agents are kept, not played again")
    args = parser.parse_args(argv)
    agents = check_held_out_arguments(parser, args)
    key, first, results, sources = None, None, {}, {}  # sources: each agent's checkpoint path and hash
    if args.add_to:
        try:
            key, results = previous_results(args.add_to, args.levels, args.greedy, args.seed)
        except (OSError, ValueError, KeyError) as exc:
            parser.error(f"--add-to: {exc}")
        first = f"the agents of {args.add_to}"
        sources = {name: {k: r.pop(k) for k in ("checkpoint", "checkpoint_sha256") if k in r}
                   for name, r in results.items()}
        if set(results) & set(agents):
            parser.error(f"--add-to {args.add_to} already has agents {sorted(set(results) & set(agents))}")
    if len(results) + len(agents) < 2:
        parser.error("give at least 2 --agent items to compare (or one with --add-to)")
    for name, path in agents.items():
        start = time.time()
        sources[name] = {"checkpoint": os.path.abspath(path), "checkpoint_sha256": file_sha256(path)}
        env, results[name] = evaluate(path, args.set, args.levels, args.num_envs, args.greedy, args.seed)
        env_key = json.loads(json.dumps(held_out_key(env)))  # as a result file holds it
        if key is None:
            key, first = env_key, name
        elif env_key != key:
            raise SystemExit(f"{name} plays other held-out levels than {first}: {env_key} vs "
                             f"{key}; pass --set env.KEY=VALUE so that they match")
        print(f"{name}: {100 * results[name]['solve_rate']:.1f}% of {args.levels} "
              f"({time.time() - start:.0f} s)", flush=True)
    comparisons = {(a, b): compare(results[a]["solved_by_level"], results[b]["solved_by_level"])
                   for a, b in itertools.combinations(results, 2)}
    table = tables(results, comparisons)
    print(table)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump({"levels": args.levels, "greedy": args.greedy, "seed": args.seed, "env": key,
                       "agents": {name: {**sources[name], **r} for name, r in results.items()},
                       "comparisons": [{"first": a, "second": b, **c} for (a, b), c in comparisons.items()],
                       "table": table}, fh, indent=2)


if __name__ == "__main__":
    main()
