"""i2a_keras.training.inspect_i2a: imagined vs real rollouts and the rollout ablation."""
from pathlib import Path

import numpy as np
import pytest

from i2a_keras.envs import generate_levels
from i2a_keras.models.env_model import load_env_model
from i2a_keras.models.i2a import I2AAgent, I2AConfig
from i2a_keras.training.inspect_i2a import ablate_rollouts, imagined_vs_real

ENV_MODEL = Path(__file__).resolve().parents[1] / "assets" / "pretrained" / "env_model_small.keras"


@pytest.fixture(scope="module")
def agent():
    if not ENV_MODEL.exists():
        pytest.skip("assets/pretrained/env_model_small.keras not found")
    return I2AAgent((7, 7, 7), 5, load_env_model(str(ENV_MODEL)),
                    I2AConfig.preset("tiny", rollout_length=3, rollout_sampling="argmax"))


def test_imagined_vs_real_replays_the_imagined_actions(agent):
    fixed, state = generate_levels(3, (7, 7), 1, seed=5)
    agreements = []
    for i in range(3):
        out = imagined_vs_real(agent, fixed[i], state[i])
        assert out["actions"].shape == (5, 3) and list(out["actions"][:, 0]) == list(range(5))
        assert out["imagined_frames"].shape == out["real_frames"].shape == (5, 3, 7, 7, 7)
        ended_before = np.pad(out["real_done"][:, :-1], ((0, 0), (1, 0)))
        live = ~ended_before  # steps up to the one that ended the episode
        same = (out["imagined_frames"] == out["real_frames"]).all(axis=(2, 3, 4))
        agreements.append(same[live].mean())
    # the pretrained env model is ~99.8% frame-accurate: nearly every imagined frame is the real one
    assert np.mean(agreements) > 0.9


def test_ablation_zeroes_one_embedding_at_a_time(agent):
    obs = np.stack([np.eye(7, dtype=np.uint8)[np.ones((7, 7), int)]] * 2)
    out = ablate_rollouts(agent, obs)
    assert out["logits"].shape == (2, 5) and out["ablated"].shape == (5, 2, 5)
    assert out["no_imagination"].shape == (2, 5)
    full = np.asarray(agent(obs)["logits"])
    np.testing.assert_allclose(out["logits"], full, atol=1e-5)
