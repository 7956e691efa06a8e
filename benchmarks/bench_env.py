"""Steps/s of our batched Sokoban vs our single env vs gym-sokoban 0.0.6, same observation kind.

Rounds of the three are interleaved and the median steps/s of each is reported. Levels come from a
pre-generated pool for all three, so only stepping + observation is timed
(episode resets included). gym-sokoban has no one-hot mode: for ``one_hot`` it steps with its
cheapest ``tiny_rgb_array`` observation and we one-hot its ``room_state``; for ``rgb`` it renders
its native 16 px frame (ours: 8 px).

    python benchmarks/bench_env.py --obs one_hot --num-envs 256
"""
import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import i2a_keras.envs as E  # noqa: E402
from i2a_keras.envs.core import state_to_rooms  # noqa: E402
from i2a_keras.envs.gym_sokoban_compat import make_reference_env, set_reference_level  # noqa: E402
from i2a_keras.envs.levels import ArraySource  # noqa: E402
from i2a_keras.envs.observations import one_hot  # noqa: E402


def _timed(fn, seconds):
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        steps += fn()
    return steps / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--obs", default="one_hot", choices=["one_hot", "tiny_rgb", "rgb"])
    p.add_argument("--num-envs", type=int, default=256)
    p.add_argument("--dim", type=int, nargs=2, default=(10, 10))
    p.add_argument("--boxes", type=int, default=4)
    p.add_argument("--action-set", default="gym_sokoban")
    p.add_argument("--max-steps", type=int, default=120)
    p.add_argument("--seconds", type=float, default=1.0, help="seconds per timed round")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    dim = tuple(args.dim)
    fixed, state = E.generate_levels(512, dim, args.boxes, seed=0)
    n_act = E.num_actions(args.action_set)
    rng = np.random.default_rng(0)
    cfg = dict(dim_room=dim, num_boxes=args.boxes, observation=args.obs, action_set=args.action_set,
               max_steps=args.max_steps)

    vec = E.SokobanVectorEnv(args.num_envs, level_source=ArraySource(fixed, state), **cfg)
    vec.reset(seed=0)
    acts = rng.integers(0, n_act, (64, args.num_envs))

    def vec_step():
        for a in acts[rng.integers(0, 64, 8)]:
            vec.step(a)
        return 8 * args.num_envs

    vec_gen = E.SokobanVectorEnv(args.num_envs, **cfg)  # default streaming generator source
    vec_gen.reset(seed=0)

    def vec_gen_step():
        for a in acts[rng.integers(0, 64, 8)]:
            vec_gen.step(a)
        return 8 * args.num_envs

    single = E.SokobanEnv(level_source=ArraySource(fixed, state), **cfg)
    single.reset(seed=0)

    def single_step():
        for a in rng.integers(0, n_act, 100):
            _, _, term, trunc, _ = single.step(int(a))
            if term or trunc:
                single.reset()
        return 100

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = make_reference_env(fixed[0], state[0], max_steps=args.max_steps)
    mode = "rgb_array" if args.obs == "rgb" else "tiny_rgb_array"
    k = [0]

    def ref_step():
        for a in rng.integers(0, 9 if args.action_set == "gym_sokoban" else 5, 20):
            obs, _, done, _ = ref.step(int(a), observation_mode=mode)
            if args.obs == "one_hot":
                obs = one_hot(state_to_rooms(ref.room_state, ref.room_fixed))
            if done:
                k[0] = (k[0] + 1) % len(fixed)
                set_reference_level(ref, fixed[k[0]], state[k[0]])
        return 20

    # Interleaved rounds (the machine is shared): median of each over --rounds.
    runs = {"ref": [], "single": [], "vec": [], "gen": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(args.rounds):
            runs["ref"].append(_timed(ref_step, args.seconds))
            runs["single"].append(_timed(single_step, args.seconds))
            runs["vec"].append(_timed(vec_step, args.seconds))
            runs["gen"].append(_timed(vec_gen_step, args.seconds))
    sps_ref, sps_single, sps_vec, sps_gen = (float(np.median(runs[k]))
                                             for k in ("ref", "single", "vec", "gen"))
    print(f"obs={args.obs} dim={dim} boxes={args.boxes} action_set={args.action_set} "
          f"num_envs={args.num_envs}")
    print(f"gym-sokoban single : {sps_ref:12.0f} steps/s")
    print(f"ours single        : {sps_single:12.0f} steps/s  ({sps_single / sps_ref:7.1f}x gym-sokoban)")
    print(f"ours batched       : {sps_vec:12.0f} steps/s  ({sps_vec / sps_ref:7.1f}x gym-sokoban, "
          f"{sps_vec / sps_single:.1f}x ours single)")
    print(f"ours batched, levels streamed from the generator (resets pay generation): "
          f"{sps_gen:12.0f} steps/s ({sps_gen / sps_ref:7.1f}x gym-sokoban)")


if __name__ == "__main__":
    main()
