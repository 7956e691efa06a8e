"""Shared fixtures for the tests: tiny env models, synthetic one-hot observations, reading back
a run (its curve, its checkpoint's arrays, its final evaluation recomputed), and the benchmark
scripts as modules."""
import numpy as np

from i2a_keras.models.env_model import CopyModel, EnvModel

OBS_SHAPE = (5, 5, 7)
NUM_ACTIONS = 5


def tiny_env_model(predict_reward=True, obs_shape=OBS_SHAPE):
    return EnvModel(obs_shape=obs_shape, num_actions=NUM_ACTIONS, channels=8, num_blocks=1,
                    branch_channels=(0, 8), reward_hidden=8, predict_reward=predict_reward)


def copy_model(obs_shape=OBS_SHAPE):
    return CopyModel(obs_shape=obs_shape, num_actions=NUM_ACTIONS)


def random_obs(batch, obs_shape=OBS_SHAPE, seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, obs_shape[-1], size=(batch,) + tuple(obs_shape[:2]))
    return np.eye(obs_shape[-1], dtype=np.uint8)[codes]


def reevaluate(run_dir):
    """A run's final evaluation recomputed on its own: ``checkpoints/final.keras`` played on the
    env and eval settings of its ``config.json``."""
    import json
    import os

    from i2a_keras.training.checkpoint import load_checkpoint
    from i2a_keras.training.config import EnvConfig, config_from_dict
    from i2a_keras.training.evaluate import evaluate_agent

    with open(os.path.join(run_dir, "config.json")) as fh:
        config = json.load(fh)
    agent = load_checkpoint(os.path.join(run_dir, "checkpoints", "final.keras"), compile=False)[0]
    ev = config["eval"]
    return evaluate_agent(agent, config_from_dict(EnvConfig, config["env"]), ev["num_levels"],
                          ev["num_envs"], greedy=ev["greedy"])


def curve(run_dir):
    """A run's ``metrics.jsonl`` rows without the wall-clock ``charts/SPS``: equal for two runs that
    trained identically."""
    import os

    from i2a_keras.training.run_dir import read_jsonl

    return [{k: v for k, v in r.items() if k != "charts/SPS"}
            for r in read_jsonl(os.path.join(run_dir, "metrics.jsonl"))]


def latest_arrays(run_dir):
    """``(state, arrays)`` of a run's ``checkpoints/latest.keras``: the training state and every
    weight and optimizer variable, for comparing two runs exactly."""
    import os

    from i2a_keras.training.checkpoint import load_checkpoint

    agent, state, _ = load_checkpoint(os.path.join(run_dir, "checkpoints", "latest.keras"))
    return state, agent.get_weights() + [v.numpy() for v in agent.optimizer.variables]


def assert_same_arrays(xs, ys):
    assert len(xs) == len(ys)
    for x, y in zip(xs, ys):
        np.testing.assert_array_equal(x, y)


def load_script(name, folder="benchmarks"):
    """The script ``FOLDER/NAME.py`` (``benchmarks/`` or ``assets/``) as a module (the scripts are
    not a package)."""
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), folder,
                        f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script
