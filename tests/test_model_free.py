"""Standard model-free agent (Sec. 3.3) and the agent registry."""
import numpy as np
import pytest

import keras
from i2a_keras.models import ModelFreeAgent, ModelFreeConfig, agent_names, build_agent, register_agent
from i2a_keras.models.model_free import default_model_free_config


@pytest.mark.parametrize("shape,actions", [((10, 10, 7), 5), ((7, 7, 7), 9), ((80, 80, 3), 9)])
def test_outputs_follow_agent_contract(shape, actions):
    agent = build_agent("model-free", shape, actions)
    obs = np.random.default_rng(0).integers(0, 2 if shape[-1] == 7 else 256, (3,) + shape).astype(np.uint8)
    out = agent(obs)
    assert set(out) == {"logits", "value"}
    assert tuple(out["logits"].shape) == (3, actions) and tuple(out["value"].shape) == (3,)
    assert out["logits"].dtype == "float32" and out["value"].dtype == "float32"
    assert np.all(np.isfinite(out["logits"]))


def test_default_architectures():
    grid = default_model_free_config((10, 10, 7))
    assert grid.kernel_sizes == (3, 3) and grid.obs_scale == 1.0
    pixels = default_model_free_config((80, 80, 3))
    assert pixels.kernel_sizes == (8, 4, 3) and pixels.strides == (4, 2, 1)
    assert pixels.obs_scale == pytest.approx(1 / 255)
    large = default_model_free_config((80, 80, 3), ModelFreeConfig(size="large"))
    assert len(large.conv_filters) == 4 and large.fc_units == 512
    big = build_agent("model-free-large", (10, 10, 7), 5)
    small = build_agent("model-free", (10, 10, 7), 5)
    assert big.count_params() > small.count_params()


def test_rgb_input_is_scaled():
    agent = build_agent("model-free", (80, 80, 3), 5)
    x = agent.features(np.full((1, 80, 80, 3), 255, np.uint8))
    y = np.ones((1, 80, 80, 3), np.float32)  # what the first conv must see for white pixels
    for conv in agent.convs:
        y = conv(y)
    y = agent.fc(agent.flatten(y))
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)


def test_keras_safe_mode_round_trip(tmp_path):
    agent = build_agent("model-free", (7, 7, 7), 5, ModelFreeConfig(conv_filters=(8, 8), fc_units=16))
    path = str(tmp_path / "agent.keras")
    agent.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, ModelFreeAgent)
    assert loaded.get_config()["conv_filters"] == [8, 8]
    obs = np.random.default_rng(1).integers(0, 2, (4, 7, 7, 7)).astype(np.uint8)
    for key in ("logits", "value"):
        np.testing.assert_allclose(np.asarray(loaded(obs)[key]), np.asarray(agent(obs)[key]), rtol=1e-6)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="size"):
        ModelFreeConfig(size="huge")
    with pytest.raises(ValueError, match="same length"):
        default_model_free_config((7, 7, 7), ModelFreeConfig(conv_filters=(8, 8), kernel_sizes=(3,)))
    with pytest.raises(ValueError, match="observation_shape"):
        build_agent("model-free", (7, 7), 5)
    with pytest.raises(ValueError, match="unknown agent"):
        build_agent("no-such-agent", (7, 7, 7), 5)


def test_registry_accepts_new_agents():
    name = "test-only-model-free"

    @register_agent(name, ModelFreeConfig)
    def _builder(shape, n, config):
        return ModelFreeAgent.from_arch(shape, n, config)

    assert name in agent_names() and {"model-free", "i2a"} <= set(agent_names())
    assert build_agent(name, (5, 5, 7), 3)(np.zeros((1, 5, 5, 7), np.uint8))["logits"].shape == (1, 3)
    with pytest.raises(ValueError, match="already registered"):
        register_agent(name)(lambda *a: None)


def test_residual_torso_adds_skips_around_shape_preserving_convs(tmp_path):
    """``residual=True``: x + relu(conv(x)) where the shape is kept; the stride-2 conv has none."""
    config = ModelFreeConfig(conv_filters=(8, 8, 8), strides=(1, 1, 2), fc_units=16, residual=True)
    agent = build_agent("model-free", (7, 7, 7), 4, config)
    obs = np.random.default_rng(2).integers(0, 2, (3, 7, 7, 7)).astype(np.uint8)
    x = obs.astype(np.float32)
    x = np.asarray(agent.convs[0](x))  # 7 -> 8 channels: no skip
    x = x + np.asarray(agent.convs[1](x))  # same shape: skip
    x = np.asarray(agent.convs[2](x))  # stride 2: no skip
    expected = np.asarray(agent.fc(agent.flatten(x)))
    np.testing.assert_allclose(np.asarray(agent.features(obs)), expected, rtol=1e-5, atol=1e-6)
    plain = build_agent("model-free", (7, 7, 7), 4, ModelFreeConfig(
        conv_filters=(8, 8, 8), strides=(1, 1, 2), fc_units=16))
    plain.set_weights(agent.get_weights())
    assert not np.allclose(np.asarray(plain.features(obs)), expected)
    path = str(tmp_path / "residual.keras")
    agent.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.arch.residual is True
    np.testing.assert_allclose(np.asarray(loaded(obs)["logits"]), np.asarray(agent(obs)["logits"]), rtol=1e-6)
    with pytest.raises(ValueError, match="residual"):
        ModelFreeConfig(residual="yes")


def test_resnet_tower_is_the_learned_planner_resnet(tmp_path):
    """``size="resnet"``: 9 stride-1 4x4 convs (32, 32, 64 x 7), each followed by two blocks
    x + conv(relu(x)), a relu, FC 256 (Guez et al., 2019; the learned-planner Boxoban agents)."""
    arch = default_model_free_config((10, 10, 7), ModelFreeConfig(size="resnet"))
    assert arch.conv_filters == (32, 32) + (64,) * 7 and arch.kernel_sizes == (4,) * 9
    assert arch.strides == (1,) * 9 and arch.residual_blocks == 2 and arch.fc_units == 256
    agent = build_agent("model-free", (10, 10, 7), 4, ModelFreeConfig(size="resnet"))
    assert len(agent.convs) == 9 * 3 + 1 and isinstance(agent.convs[-1], keras.layers.ReLU)
    convs, c_in = 0, 7
    for c_out in arch.conv_filters:  # each stage: its conv and two blocks of c_out -> c_out
        convs += 16 * c_in * c_out + c_out + 2 * (16 * c_out * c_out + c_out)
        c_in = c_out
    heads = 100 * 64 * 256 + 256 + 257 * 4 + 257
    assert agent.count_params() == convs + heads  # 27 convs, about 3.1M weights with the FC

    obs = np.random.default_rng(3).integers(0, 2, (2, 10, 10, 7)).astype(np.uint8)
    x = obs.astype(np.float32)
    for layer in agent.convs:  # by hand: linear stage convs, pre-activation blocks, final relu
        if isinstance(layer, keras.layers.Conv2D):
            x = np.asarray(layer.convolution_op(x, layer.kernel) + layer.bias)
        elif isinstance(layer, keras.layers.ReLU):
            x = np.maximum(x, 0)
        else:  # x + conv(relu(x)), the conv linear
            assert layer.conv.activation is keras.activations.linear
            x = x + np.asarray(layer.conv.convolution_op(np.maximum(x, 0), layer.conv.kernel) + layer.conv.bias)
    expected = np.asarray(agent.fc(agent.flatten(x)))
    np.testing.assert_allclose(np.asarray(agent.features(obs)), expected, rtol=1e-4, atol=1e-5)

    path = str(tmp_path / "resnet.keras")
    agent.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.arch.residual_blocks == 2 and loaded.count_params() == agent.count_params()
    np.testing.assert_allclose(np.asarray(loaded(obs)["logits"]), np.asarray(agent(obs)["logits"]), rtol=1e-5)


@pytest.mark.parametrize("config,shape,message", [
    (ModelFreeConfig(size="resnet"), (80, 80, 3), "grid observations"),
    (dict(residual=True, residual_blocks=2), None, "choose one"),
    (dict(residual_blocks=-1), None, "integer >= 0"),
    (dict(size="huge"), None, "standard, large, resnet"),
])
def test_bad_tower_settings_are_refused(config, shape, message):
    with pytest.raises(ValueError, match=message):
        default_model_free_config(shape, config) if shape else ModelFreeConfig(**config)


def test_residual_block_saves_alone_and_keeps_its_dtype_policy(tmp_path):
    """The block round-trips through a .keras file in safe mode by itself (its own config), and its
    conv follows the block's dtype policy (bfloat16 compute, float32 weights)."""
    from i2a_keras.models.model_free import PreActivationResidualBlock

    block = PreActivationResidualBlock(6, 3, dtype="mixed_bfloat16", name="block")
    model = keras.Sequential([keras.Input((5, 5, 6)), block])
    x = np.random.default_rng(4).normal(size=(2, 5, 5, 6)).astype(np.float32)
    assert block.conv.compute_dtype == "bfloat16" and block.conv.kernel.dtype == "float32"
    path = str(tmp_path / "block.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    again = loaded.get_layer("block")
    assert isinstance(again, PreActivationResidualBlock) and (again.filters, again.kernel_size) == (6, 3)
    assert again.conv.compute_dtype == "bfloat16"
    np.testing.assert_allclose(np.asarray(loaded(x), np.float32), np.asarray(model(x), np.float32))


def test_the_i2a_refuses_the_resnet_tower_for_its_model_free_path():
    from i2a_keras.models.i2a import I2AConfig

    with pytest.raises(ValueError, match="mf_size='resnet'"):
        I2AConfig(mf_size="resnet")
