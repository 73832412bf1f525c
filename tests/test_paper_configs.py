"""Every `:paper*` config against the authors' code, value by value, and the epoch schedules.

The tables are the code's values, written out here from its sources (read, not run):
carolineec/EverybodyDanceNow (a pix2pixHD fork: options/*.py, models/pix2pixHD_model_fullts.py,
data_prep/graph_train.py), puffin444/poseknows (opts.lua, buildModels.lua, trainGAN.lua,
optimizeGAN.lua) and cvondrick/videogan (main.lua). A value that differs must be one of the
named departures (each under "Differences from the paper" in docs/<model>.md).
"""
import math

import pytest

from configs import edn, pose_gan, pose_vae, vgan
from jaxvid import config_defaults, schedule
from jaxvid.errors import UserError

EDN_GLOBAL = {  # train_fullts.py at 512 x 256 (the global stage)
    "data.height": 256, "data.width": 512, "edn.generator": "global", "edn.ngf": 64,
    "edn.n_down": 4, "edn.n_blocks": 9, "edn.num_d": 2, "edn.ndf": 64, "edn.n_layers_d": 3,
    "edn.lambda_fm": 10.0, "edn.lambda_p": 10.0, "edn.gan_loss": "lsgan",
    "edn.label": "body_face_hands", "edn.temporal": True, "edn.vgg_input": "raw",
    "edn.vgg_global_weight": 0.5, "train.batch_size": 1, "optim.learning_rate": 2e-4,
    "optim.b1": 0.5, "optim.b2": 0.999, "train.num_epochs": 200, "optim.decay_epochs": 100,
    "train.num_steps": 0, "edn.face_size": 128, "edn.face_ngf": 64, "edn.face_n_down": 3,
    "edn.face_n_blocks": 5, "edn.face_num_d": 1, "edn.face_output_init": "normal"}
EDN_LOCAL = EDN_GLOBAL | {"data.height": 512, "data.width": 1024, "edn.generator": "local",
                          "edn.ngf": 32, "edn.num_d": 3, "edn.n_blocks_local": 3}
EDN_FACE = EDN_LOCAL | {"edn.stage": 2, "edn.face_fix_main_epochs": 10}
POSE_VAE = {  # opts.lua
    "pose_vae.hidden": 1024, "pose_vae.num_layers": 2, "pose_vae.posterior_hidden": 512,
    "pose_vae.past_steps": 2, "pose_vae.future_steps": 5, "pose_vae.frames_per_step": 6,
    "pose_vae.reconstruction_weight": 0.99975, "pose_vae.kl_weight": 0.00025,
    "pose_vae.weight_switch_step": 60_000, "pose_vae.late_kl_weight": 0.0005,
    "pose_vae.kl_reduction": "sum", "pose_vae.posterior": "code", "train.batch_size": 32,
    "optim.learning_rate": 1e-3, "optim.decay_steps": 0, "train.num_steps": 80_005}
POSE_GAN = {  # opts.lua, trainGAN.lua, optimizeGAN.lua
    "data.frames": 32, "data.height": 64, "data.width": 80, "train.batch_size": 16,
    "train.num_steps": 500_000, "pose_gan.output": "frames", "pose_gan.ema_decay": 0.0,
    "pose_gan.diffaugment": ""}
# Named departures of :paper from the code, each with its reason in the docs:
DEPARTURES = {
    "edn.perceptual_backbone": "vgg16_lpips",  # VGG19's weights cannot be fetched offline
}


def _get(config, dotted):
  node = config
  for part in dotted.split("."):
    node = node[part]
  return node


@pytest.mark.parametrize("module, variant, table", [
    (edn, "paper", EDN_GLOBAL), (edn, "paper_local", EDN_LOCAL), (edn, "paper_face", EDN_FACE),
    (pose_vae, "paper", POSE_VAE), (pose_gan, "paper", POSE_GAN)])
def test_paper_configs_hold_the_authors_values(module, variant, table):
  config = module.get_config(variant)
  wrong = {k: (_get(config, k), v) for k, v in table.items() if _get(config, k) != v}
  assert not wrong, f"{module.__name__}:{variant} differs from the code: {wrong}"
  for key, value in DEPARTURES.items():
    if key.split(".")[0] in config:
      assert _get(config, key) == value  # a new departure must be named here and in the docs


def test_every_paper_variant_passes_validation():
  for module, variants in ((edn, ("paper", "paper_local", "paper_face", "paper_face_global")),
                           (pose_vae, ("paper",)), (pose_gan, ("paper",)), (vgan, ("paper",))):
    for variant in variants:
      config_defaults.validate(module.get_config(variant))


def test_epochs_become_steps_from_the_frames_and_a_users_steps_win():
  config = edn.get_config("paper_face")
  lines = []
  resolved = schedule.resolve(config, frames=1734, log=lines.append)
  assert resolved.train.num_steps == 200 * 1734 and resolved.optim.decay_steps == 100 * 1734
  assert resolved.edn.face_fix_main_steps == 10 * 1734
  assert "200 epochs of 1,734 frames at batch 1 = 346,800 steps, decay from step 173,400" in lines[0]
  config.train.batch_size = 4  # a partly filled last batch still counts as a step
  assert schedule.resolve(config, frames=10, log=lines.append).train.num_steps == 200 * math.ceil(10 / 4)
  config.train.num_steps, config.optim.decay_steps = 5000, 1000
  assert schedule.resolve(config, frames=10, log=lines.append) is config  # given steps win
  config.train.num_steps, config.train.num_epochs = 0, 0
  with pytest.raises(UserError, match="num_epochs"):
    schedule.resolve(config, frames=10)


def _linear(n_in, n_out):  # nn.Linear: weight + bias
  return n_in * n_out + n_out


def _bn(n):  # (Spatial)BatchNormalization's affine scale and shift
  return 2 * n


def _conv(c_in, c_out, k):  # cudnn.SpatialConvolution: weight + bias
  return c_in * c_out * k * k + c_out


def _cudnn_lstm(n_in, hidden, layers):
  """cudnn.LSTM: per layer 4 gates' input and recurrent weights and two bias vectors (b_ih and
  b_hh; they only ever add up, so Flax's LSTM has one: see _REDUNDANT_LSTM_BIASES)."""
  total = 0
  for layer in range(layers):
    width = n_in if layer == 0 else hidden
    total += 4 * hidden * (width + hidden) + 2 * 4 * hidden
  return total


# puffin444/poseknows buildModels.lua at opts.lua's values (hiddenSizeFeatures 1024, 2 layers,
# numSteps 5, vaeHidden 512, encoderSize 20, 240 x 320 frames), the networks train.lua trains:
CODE_ENCODER = (  # buildEncoder
    _linear(54, 54) + _bn(54) + _linear(36, 54) + _bn(54) + _linear(2, 54) + _bn(54)
    + _linear(162, 1024) + _bn(1024)
    + _conv(6, 32, 7) + _bn(32) + _conv(32, 128, 5) + _bn(128) + _conv(128, 192, 3) + _bn(192)
    + _conv(192, 192, 3) + _bn(192) + _conv(192, 128, 3) + _bn(128)
    + _linear(6 * 9 * 128, 1024) + _bn(1024)
    + _cudnn_lstm(2048, 1024, 2))
CODE_DECODER = (  # buildDecoder: `lstm` (the future) and `lstm_decoder` (the past) alike
    _linear(54, 54) + _bn(54) + _linear(4, 54) + _bn(54) + _cudnn_lstm(108, 1024, 2)
    + _linear(1024, 36) + _linear(1024, 2))
CODE_VAE = (  # buildVAE + VAE.get_encoder(4848 -> 512 -> 2 x 20)
    _linear(180, 180) + _bn(180) + _linear(10, 10) + _bn(10)
    + _linear(100 * 2 * 5 + 10 * 36 * 5 + 1024 * 2, 512) + 2 * _linear(512, 20))
CODE_PARAMETERS = CODE_ENCODER + 2 * CODE_DECODER + CODE_VAE
_REDUNDANT_LSTM_BIASES = 3 * 2 * 4 * 1024  # b_hh of 3 two-layer LSTMs


def test_pose_vae_paper_has_the_codes_parameters():
  import jax
  import numpy as np
  from jaxvid.trainers import get_trainer
  state = jax.eval_shape(get_trainer(pose_vae.get_config("paper")).init_state, jax.random.key(0))
  ours = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(state.params))
  assert ours == CODE_PARAMETERS - _REDUNDANT_LSTM_BIASES  # 57,811,088 = 57,835,664 - 24,576


@pytest.mark.parametrize("name, shrink", [
    ("pose_vae.py", dict(data__height=64, data__width=96, train__batch_size=2)),
    ("pose_gan.py", dict(data__frames=16, data__height=32, data__width=48, train__batch_size=2))])
def test_pose_knows_paper_configs_take_a_finite_step_at_reduced_size(name, shrink):
  """The code's layers (pose-VAE: its frame encoder, joint FC, tiling; the pose GAN's widths)
  on smaller clips: one training step, every metric finite."""
  import jax
  import numpy as np
  from jaxvid.data import pipeline
  from jaxvid.trainers import get_trainer
  from helpers import load_config
  config = load_config(name, "paper", data__num_clips=4, data__num_test=2, **shrink)
  trainer = get_trainer(config)
  state = jax.jit(trainer.init_state)(jax.random.key(0))
  batch = next(pipeline.make_train_iterator(config, 0, 1))
  _, metrics = jax.jit(trainer.train_step)(state, batch)
  assert all(np.isfinite(float(v)) for v in metrics.values())
