"""VGAN trainer: state, init, one D step + one G step per iteration, sampling.

Follows main.lua: z is drawn once per iteration, G runs once; D is updated on the real batch
and the (stopped-gradient) fake batch, each passed through D separately so each gets its own
BatchNorm statistics; then G is updated through the *updated* D with the non-saturating loss
plus the mask sparsity term (or, conditional, the first-frame L1); the iteration itself is
`gan_common.train_g_d`.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxvid import losses
from jaxvid.errors import UserError
from jaxvid.models import diffaugment
from jaxvid.models import vgan as vgan_models
from jaxvid.models.layers import resolve_conv_impl
from jaxvid.trainers.base import Trainer, compute_dtype
from jaxvid.trainers.gan_common import (
  GANState,
  adam,
  discriminate,
  discriminator_update,
  ema_update,
  train_g_d,
)

PyTree = Any


VGANState = GANState
# config.vgan.gan_loss -> (D's loss of (real, fake) logits, G's adversarial loss)
GAN_LOSSES = {"nonsaturating": (losses.vgan_discriminator_loss, losses.vgan_generator_loss),
              "hinge": (losses.hinge_discriminator_loss, losses.hinge_generator_loss)}


def build_models(config) -> tuple[vgan_models.Generator, vgan_models.Discriminator]:
  v, d = config.vgan, config.data
  impl = resolve_conv_impl(v.conv_impl, "config.vgan.conv_impl")
  upsample = v.get("upsample", "transposed")  # configs written before the option: the paper's
  if upsample not in vgan_models.UPSAMPLE:
    raise ValueError(f"config.vgan.upsample must be one of {vgan_models.UPSAMPLE}, got "
                     f"{upsample!r}")
  if v.conditional and len(v.encoder_channels) != len(v.g_channels):
    raise ValueError(f"conditional VGAN needs one encoder layer per generator layer: "
                     f"encoder_channels={tuple(v.encoder_channels)}, g_channels={tuple(v.g_channels)}")
  streams = v.get("streams", "two")
  if streams not in vgan_models.STREAMS:
    raise ValueError(f"config.vgan.streams must be one of {vgan_models.STREAMS}, got "
                     f"{streams!r}")
  if streams == "one" and v.conditional:
    raise ValueError("config.vgan.streams='one' (the paper's one-stream baseline) is an "
                     "unconditional model")
  g = vgan_models.Generator(
      frames=d.frames, height=d.height, width=d.width, channels=tuple(v.g_channels),
      conditional=v.conditional, encoder_channels=tuple(v.encoder_channels),
      mask_bias_init=v.get("mask_bias_init", 0.0), upsample=upsample, streams=streams,
      impl=impl, dtype=compute_dtype(config))
  disc = vgan_models.Discriminator(channels=tuple(v.d_channels),
                                   minibatch_std=bool(v.get("minibatch_std", False)),
                                   spectral_norm=bool(v.get("spectral_norm", False)), impl=impl,
                                   dtype=compute_dtype(config))
  # Fail early, with the config's names, on a clip size the architecture cannot produce.
  vgan_models.stream_base_shape(d.frames, d.height, d.width, len(v.g_channels))
  vgan_models.stream_base_shape(d.frames, d.height, d.width, len(v.d_channels))
  return g, disc


class VGANTrainer(Trainer):
  """Everything model-specific the shared loop in jaxvid/train.py needs."""

  name = "vgan"

  def __init__(self, config):
    self.config = config
    try:
      self.generator, self.discriminator = build_models(config)
    except ValueError as e:  # a config the architecture cannot be built from
      raise UserError(f"invalid VGAN config: {e}") from e
    d_rate = float(config.vgan.get("d_learning_rate", 0.0))
    if d_rate < 0:
      raise UserError(f"config.vgan.d_learning_rate must be >= 0 (0: optim.learning_rate), "
                      f"got {d_rate}")
    steps = int(config.train.num_steps)
    self.g_tx = adam(config.optim, num_steps=steps)
    self.d_tx = adam(config.optim, d_rate, num_steps=steps)
    self.ema_decay = float(config.vgan.get("ema_decay", 0.0))
    if not 0.0 <= self.ema_decay < 1.0:
      raise UserError(f"config.vgan.ema_decay must be in [0, 1), got {self.ema_decay}")
    # Stabilisers (not in the paper; off at :paper and :tiny; docs/vgan.md has their rows).
    v = config.vgan
    self.gan_loss = v.get("gan_loss", "nonsaturating")
    if self.gan_loss not in GAN_LOSSES:
      raise UserError(f"config.vgan.gan_loss must be one of {tuple(GAN_LOSSES)}, got "
                      f"{self.gan_loss!r}")
    self.r1_gamma = float(v.get("r1_gamma", 0.0))
    self.instance_noise = float(v.get("instance_noise", 0.0))
    for name, value in (("r1_gamma", self.r1_gamma), ("instance_noise", self.instance_noise)):
      if not (value >= 0 and np.isfinite(value)):
        raise UserError(f"config.vgan.{name} must be a finite number >= 0, got {value}")
    try:
      self.augment_policy = diffaugment.parse_policy(v.get("diffaugment", ""))
    except ValueError as e:
      raise UserError(f"config.vgan.diffaugment: {e}") from e
    self.two_streams = v.get("streams", "two") == "two"

  # ----- inputs -----
  def generator_inputs(self, key, real_video):
    """z ~ N(0, I), or the first real frame for the conditional model."""
    if self.config.vgan.conditional:
      return real_video[:, 0]
    return jax.random.normal(key, (real_video.shape[0], self.config.vgan.z_dim), jnp.float32)

  def metadata(self) -> dict:
    """What a checkpoint must match to be restored into this trainer."""
    v, d = self.config.vgan, self.config.data
    return {"model": self.name,
            "architecture": {"conditional": bool(v.conditional), "z_dim": int(v.z_dim),
                             "g_channels": list(v.g_channels), "d_channels": list(v.d_channels),
                             "encoder_channels": list(v.encoder_channels),
                             "clip": [int(d.frames), int(d.height), int(d.width)],
                             **self._optional_architecture()}}

  def _optional_architecture(self) -> dict:
    """Options that change the parameters, recorded only when not the paper's (so checkpoints
    written before they existed keep matching)."""
    v, out = self.config.vgan, {}
    if v.get("streams", "two") != "two":
      out["streams"] = v.streams
    if v.get("minibatch_std", False):
      out["minibatch_std"] = True
    if v.get("spectral_norm", False):  # no BatchNorm in D, power-iteration vectors instead
      out["spectral_norm"] = True
    return out

  def d_inputs(self, key, video, step):
    """What D sees of a batch: DiffAugment (`vgan.diffaugment`), then instance noise
    (`vgan.instance_noise` = its starting std, annealed linearly to 0 over train.num_steps;
    Sønderby et al. 2017); the clips themselves when both are off (the paper)."""
    aug_key, noise_key = jax.random.split(key)
    if self.augment_policy:
      video = diffaugment.diff_augment(aug_key, video, self.augment_policy)
    if self.instance_noise:
      left = jnp.maximum(0.0, 1.0 - step / max(int(self.config.train.num_steps), 1))
      video = video + self.instance_noise * left * jax.random.normal(noise_key, video.shape,
                                                                     video.dtype)
    return video

  # ----- state -----
  def init_state(self, key) -> VGANState:
    g_key, d_key, train_key = jax.random.split(key, 3)
    d = self.config.data
    video = jnp.zeros((1, d.frames, d.height, d.width, 3), jnp.float32)
    g_vars = self.generator.init(g_key, self.generator_inputs(g_key, video), train=False)
    d_vars = self.discriminator.init(d_key, video, train=False)
    return VGANState(
        step=jnp.zeros((), jnp.int32), key=jax.random.key_data(train_key),
        g_params=g_vars["params"], g_batch_stats=g_vars["batch_stats"],
        d_params=d_vars["params"], d_batch_stats=d_vars["batch_stats"],
        g_opt_state=self.g_tx.init(g_vars["params"]),
        d_opt_state=self.d_tx.init(d_vars["params"]),
        g_ema_params=g_vars["params"] if self.ema_decay else None)

  # ----- training -----
  def train_step(self, state: VGANState, batch: dict) -> tuple[VGANState, dict]:
    v = self.config.vgan
    real = batch["video"]
    step_key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step)
    g_inputs = self.generator_inputs(step_key, real)

    real_key, fake_key, g_key = jax.random.split(jax.random.fold_in(step_key, 1), 3)
    d_loss_fn, g_adv_fn = GAN_LOSSES[self.gan_loss]

    def generate(g_params):
      out, updates = self.generator.apply(
          {"params": g_params, "batch_stats": state.g_batch_stats}, g_inputs, train=True,
          mutable=["batch_stats"])
      mask = out["mask"] if self.two_streams else jnp.zeros((), out["video"].dtype)
      return (out["video"], mask), updates["batch_stats"]

    def update_d(outputs):  # real and fake through D separately (separate BatchNorm statistics)
      return discriminator_update(self.discriminator, self.d_tx, state.d_params,
                                  state.d_batch_stats, state.d_opt_state,
                                  self.d_inputs(real_key, real, state.step),
                                  self.d_inputs(fake_key, outputs[0], state.step), d_loss_fn,
                                  r1_gamma=self.r1_gamma)

    def g_loss(outputs, d):  # through the updated D (its BatchNorm statistics are not kept)
      video, m = outputs
      logits = discriminate(self.discriminator, d["params"], d["batch_stats"],
                            self.d_inputs(g_key, video, state.step))
      terms = {"g_adv_loss": g_adv_fn(logits)}
      if v.mask_weight and self.two_streams:
        terms["mask_loss"] = losses.mask_sparsity_loss(m, v.mask_weight)
      if v.l1_weight:
        terms["l1_loss"] = losses.first_frame_l1_loss(video, real[:, 0], v.l1_weight)
      return sum(terms.values()), terms

    it = train_g_d(generate, state.g_params, self.g_tx, state.g_opt_state, update_d, g_loss,
                   has_aux=True)
    d, (_, mask), g_params = it["d"], it["outputs"], it["g_params"]
    g_ema_params = (ema_update(state.g_ema_params, g_params, state.step, self.ema_decay)
                    if self.ema_decay else None)
    new_state = state.replace(
        step=state.step + 1, g_params=g_params, g_batch_stats=it["g_aux"], d_params=d["params"],
        d_batch_stats=d["batch_stats"], g_opt_state=it["g_opt_state"],
        d_opt_state=d["opt_state"], g_ema_params=g_ema_params)
    metrics = {
        "d_loss": d["loss"], "g_loss": it["g_loss"], **it["terms"],
        "d_real": jnp.mean(jax.nn.sigmoid(d["real_logits"])),
        "d_fake": jnp.mean(jax.nn.sigmoid(d["fake_logits"])),
        "mask_mean": jnp.mean(mask.astype(jnp.float32)),
        **({"r1_penalty": d["r1"]} if self.r1_gamma else {}),
        "g_grad_norm": optax.tree.norm(it["g_grads"]), "d_grad_norm": optax.tree.norm(d["grads"]),
    }
    return new_state, {k: jnp.asarray(x, jnp.float32) for k, x in metrics.items()}

  # ----- sampling -----
  def sample_inputs(self, key, sample_batch: dict):
    return self.generator_inputs(key, jnp.asarray(sample_batch["video"]))

  def sample(self, state: VGANState, inputs, running_stats: bool = False) -> dict:
    """Generator outputs; BatchNorm normalises with the batch's statistics, as during training
    (the default), or with the running averages (`running_stats`, the authors' generate.lua:
    each sample then depends on its own z only, whatever the batch). With `ema_decay` > 0 the
    generator's moving-average parameters make the samples."""
    params = state.g_params if state.g_ema_params is None else state.g_ema_params
    variables = {"params": params, "batch_stats": state.g_batch_stats}
    if running_stats:
      out = self.generator.apply(variables, inputs, train=False)
    else:
      out, _ = self.generator.apply(variables, inputs, train=True, mutable=["batch_stats"])
    return jax.tree.map(lambda x: x.astype(jnp.float32), out)

  def figure(self, outputs: dict, sample_batch: dict) -> list[list[np.ndarray]]:
    """The paper's figure layout, one row per sample, each cell a (T, H, W, 3) video in [-1, 1]:
    [input frame |] background | foreground | mask | mask x foreground | generated [| real].
    "mask x foreground" (grey where the mask is 0) is what the foreground adds to the video, the
    authors' `motion_net` display; the raw foreground is unconstrained where the mask is 0."""
    sample_video = sample_batch["video"]
    frames = outputs["video"].shape[1]
    if "mask" not in outputs:  # the one-stream baseline: its video is all there is
      return [[outputs["video"][i]] for i in range(outputs["video"].shape[0])]
    rows = []
    for i in range(outputs["video"].shape[0]):
      background = np.broadcast_to(outputs["background"][i], outputs["video"][i].shape)
      mask = np.repeat(outputs["mask"][i] * 2.0 - 1.0, 3, axis=-1)
      moving = outputs["mask"][i] * outputs["foreground"][i]
      row = [background, outputs["foreground"][i], mask, moving, outputs["video"][i]]
      if self.config.vgan.conditional:
        first = np.broadcast_to(sample_video[i, :1], (frames,) + sample_video.shape[2:])
        row = [first] + row + [sample_video[i]]
      rows.append(row)
    return rows

  @property
  def paired(self) -> bool:
    return bool(self.config.vgan.conditional)  # a future made for each real first frame

  def paired_outputs(self, outputs: dict, sample_batch: dict):
    """Conditional: (generated future, real clip) for the loop's sample metrics."""
    return (outputs["video"], sample_batch["video"]) if self.paired else None

  def figure_columns(self) -> list[str]:
    if not self.two_streams:
      return ["generated (one stream)"]
    cols = ["background", "foreground", "mask", "mask x foreground", "generated"]
    return (["input"] + cols + ["real"]) if self.config.vgan.conditional else cols
