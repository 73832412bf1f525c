"""Pose-conditioned video GAN trainer (The Pose Knows): frames from a first frame and a pose video.

`split_batch='halves'` (the paper's equations): a batch of M clips is split in halves; the first
M/2 clips are the real videos D sees; for the last M/2, G(I, S_T) generates each clip from its
own first frame I and its rendered skeleton video S_T (drawn in-graph from the clip's keypoints),
and the L1 term compares G's output with that clip. `split_batch='none'` (the authors' code): G
generates all M clips and D sees all M real clips and all M fakes. One iteration: one D step,
then one G step through the updated D (gan_common). Losses: losses.pose_gan_discriminator_loss /
pose_gan_generator_loss.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxvid import losses
from jaxvid.data import pipeline
from jaxvid.errors import UserError
from jaxvid.models import diffaugment, unet3d
from jaxvid.models import vgan as vgan_models
from jaxvid.models.layers import resolve_conv_impl
from jaxvid.poses.render import render_skeleton_jax
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


PoseGANState = GANState


SPLITS = ("halves", "none")
OUTPUTS = ("frames", "composite")  # G's last layer: the paper's clip, or masked over the input


def build_models(config):
  p, d = config.pose_gan, config.data
  impl = resolve_conv_impl(p.conv_impl, "config.pose_gan.conv_impl")
  unet3d.check_clip_shape(d.frames, d.height, d.width, len(p.g_channels))
  vgan_models.stream_base_shape(d.frames, d.height, d.width, len(p.d_channels))
  if not 0.0 <= p.g_dropout < 1.0:
    raise ValueError(f"config.pose_gan.g_dropout must be in [0, 1), got {p.g_dropout}")
  output = p.get("output", "frames")  # workdirs before 2026-12-04 have no such key
  if output not in OUTPUTS:
    raise ValueError(f"config.pose_gan.output must be 'frames' (the paper) or 'composite' (G "
                     f"paints a masked foreground over the input frame), got {output!r}")
  dtype = compute_dtype(config)
  return (unet3d.UNet3D(channels=tuple(p.g_channels), bottleneck=p.g_bottleneck,
                        dropout=p.g_dropout, composite=output == "composite", impl=impl,
                        dtype=dtype),
          vgan_models.Discriminator(channels=tuple(p.d_channels), impl=impl, dtype=dtype))


class PoseGANTrainer(Trainer):
  name = "pose_gan"
  required_features = ("video", "keypoints")

  def __init__(self, config):
    self.config = config
    pipeline.require_features(config.data, self.required_features, self.name)
    if config.pose_gan.split_batch not in SPLITS:
      raise UserError(f"config.pose_gan.split_batch must be 'halves' (the paper) or 'none' (the "
                      f"code); got {config.pose_gan.split_batch!r}")
    if config.pose_gan.split_batch == "halves" and config.train.batch_size % 2:
      raise UserError(f"pose_gan splits each batch into a real and a generated half: "
                      f"config.train.batch_size={config.train.batch_size} must be even")
    if config.pose_gan.reduction not in ("mean", "sum"):
      raise UserError(f"config.pose_gan.reduction must be 'mean' or 'sum', got "
                      f"{config.pose_gan.reduction!r}")
    span = config.pose_gan.get("alpha_pixel_span", 2.0)
    if not span > 0:
      raise UserError(f"config.pose_gan.alpha_pixel_span must be > 0 (1: the code's pixels / "
                      f"255, 2: [-1, 1]), got {span}")
    try:
      self.generator, self.discriminator = build_models(config)
    except ValueError as e:
      raise UserError(f"invalid pose_gan config: {e}") from e
    # CPU-demo stabilisers from the literature, as VGAN's (configs/vgan.py), none in the paper:
    # an EMA of G's parameters for sampling (Karras et al. 2018) and DiffAugment of every clip
    # D sees (Zhao et al. 2020; with pose_in_discriminator the skeletons move with the video).
    self.ema_decay = float(config.pose_gan.get("ema_decay", 0.0))
    if not 0.0 <= self.ema_decay < 1.0:
      raise UserError(f"config.pose_gan.ema_decay must be in [0, 1), got {self.ema_decay}")
    try:
      self.augment_policy = diffaugment.parse_policy(config.pose_gan.get("diffaugment", ""))
    except ValueError as e:
      raise UserError(f"config.pose_gan.diffaugment: {e}") from e
    steps = int(config.train.num_steps)
    self.g_tx, self.d_tx = adam(config.optim, num_steps=steps), adam(config.optim, num_steps=steps)

  def metadata(self) -> dict:
    p, d = self.config.pose_gan, self.config.data
    architecture = {
        "g_channels": list(p.g_channels), "g_bottleneck": int(p.g_bottleneck),
        "g_dropout": float(p.g_dropout), "d_channels": list(p.d_channels),
        "pose_in_discriminator": bool(p.pose_in_discriminator),
        "clip": [int(d.frames), int(d.height), int(d.width)]}
    if self.composite:  # recorded when on: older checkpoints stay valid
      architecture["output"] = "composite"
    return {"model": self.name, "architecture": architecture}

  # ----- conditioning -----
  def skeletons(self, keypoints) -> jax.Array:
    """S_T: keypoints (B, T, 18, 3) in pixels -> stick-figure video (B, T, H, W, 3) in [-1, 1]."""
    d = self.config.data
    return render_skeleton_jax(keypoints, d.height, d.width,
                               thickness=self.config.pose_gan.skeleton_thickness) * 2.0 - 1.0

  @property
  def composite(self) -> bool:
    return self.generator.composite

  def generate(self, variables, first_frame, skeleton_video, key, train: bool = True,
               with_mask: bool = False):
    """G(I, S_T) -> (video, new batch_stats[, mask (B, T, H, W, 1) with pose_gan.output=
    'composite']). `key` drives the decoder's dropout (pix2pix keeps it on when sampling, as
    its noise source)."""
    x = unet3d.generator_input(first_frame, skeleton_video)
    mutable = ["batch_stats", "intermediates"] if with_mask else ["batch_stats"]
    video, updates = self.generator.apply(variables, x, train=train, mutable=mutable,
                                          rngs={"dropout": key})
    if with_mask:
      return video, updates["batch_stats"], updates["intermediates"]["mask"][0]
    return video, updates["batch_stats"]

  def discriminator_input(self, video, skeleton_video, augment_key=None):
    """What D sees: the video (and its skeletons with pose_in_discriminator), DiffAugmented
    when `augment_key` is given and pose_gan.diffaugment is set."""
    if self.config.pose_gan.pose_in_discriminator:
      video = jnp.concatenate([video, skeleton_video.astype(video.dtype)], axis=-1)
    if augment_key is not None and self.augment_policy:
      video = diffaugment.diff_augment(augment_key, video, self.augment_policy)
    return video

  # ----- state -----
  def init_state(self, key) -> PoseGANState:
    g_key, d_key, train_key = jax.random.split(key, 3)
    d = self.config.data
    video = jnp.zeros((1, d.frames, d.height, d.width, 3), jnp.float32)
    g_vars = self.generator.init(g_key, unet3d.generator_input(video[:, 0], video), train=False)
    d_vars = self.discriminator.init(d_key, self.discriminator_input(video, video), train=False)
    return PoseGANState(
        step=jnp.zeros((), jnp.int32), key=jax.random.key_data(train_key),
        g_params=g_vars["params"], g_batch_stats=g_vars["batch_stats"],
        d_params=d_vars["params"], d_batch_stats=d_vars["batch_stats"],
        g_opt_state=self.g_tx.init(g_vars["params"]), d_opt_state=self.d_tx.init(d_vars["params"]),
        g_ema_params=g_vars["params"] if self.ema_decay else None)

  # ----- training -----
  def train_step(self, state: PoseGANState, batch: dict):
    p = self.config.pose_gan
    video = batch["video"]
    half = video.shape[0] // 2 if p.split_batch == "halves" else 0
    skeletons = self.skeletons(batch["keypoints"])
    real_end = half or video.shape[0]  # 'none': D sees every real clip, G makes every clip
    real, target = video[:real_end], video[half:]
    dropout_key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step)
    real_key, fake_key = jax.random.split(jax.random.fold_in(dropout_key, 1))  # DiffAugment's
    real_d_input = self.discriminator_input(real, skeletons[:real_end], real_key)

    def generate(g_params):
      return self.generate({"params": g_params, "batch_stats": state.g_batch_stats},
                           target[:, 0], skeletons[half:], dropout_key)

    def d_loss(real_logits, fake_logits):
      return losses.pose_gan_discriminator_loss(jnp.concatenate([real_logits, fake_logits]),
                                                p.reduction)

    def update_d(fake):
      return discriminator_update(self.discriminator, self.d_tx, state.d_params,
                                  state.d_batch_stats, state.d_opt_state, real_d_input,
                                  self.discriminator_input(fake, skeletons[half:], fake_key),
                                  d_loss)

    def g_loss(generated, d):
      fake_logits = discriminate(self.discriminator, d["params"], d["batch_stats"],
                                 self.discriminator_input(generated, skeletons[half:], fake_key))
      # The real half's logits are not part of L_G (the loss reads only the second half).
      logits = jnp.concatenate([jax.lax.stop_gradient(d["real_logits"]), fake_logits])
      total = losses.pose_gan_generator_loss(logits, generated, target, p.alpha, p.reduction,
                                             p.get("alpha_pixel_span", 2.0))  # older: [-1, 1]
      return total, {"g_l1_mean": jnp.mean(jnp.abs(generated - target))}

    it = train_g_d(generate, state.g_params, self.g_tx, state.g_opt_state, update_d, g_loss,
                   has_aux=True)
    d = it["d"]
    new_state = state.replace(
        step=state.step + 1, g_params=it["g_params"], g_batch_stats=it["g_aux"],
        d_params=d["params"], d_batch_stats=d["batch_stats"], g_opt_state=it["g_opt_state"],
        d_opt_state=d["opt_state"],
        g_ema_params=(ema_update(state.g_ema_params, it["g_params"], state.step, self.ema_decay)
                      if self.ema_decay else None))
    metrics = {"d_loss": d["loss"], "g_loss": it["g_loss"], **it["terms"],
               "d_real": jnp.mean(jax.nn.sigmoid(d["real_logits"])),
               "d_fake": jnp.mean(jax.nn.sigmoid(d["fake_logits"])),
               "g_grad_norm": optax.tree.norm(it["g_grads"]),
               "d_grad_norm": optax.tree.norm(d["grads"])}
    return new_state, {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}

  # ----- sampling -----
  def sample_inputs(self, key, sample_batch: dict):
    return {"video": jnp.asarray(sample_batch["video"]),
            "keypoints": jnp.asarray(sample_batch["keypoints"]), "key": jax.random.key_data(key)}

  def sampling_variables(self, state: PoseGANState) -> dict:
    """G's variables to sample with: its moving-average parameters when pose_gan.ema_decay > 0
    (what every picture and metric shows), else its parameters."""
    params = state.g_params if state.g_ema_params is None else state.g_ema_params
    return {"params": params, "batch_stats": state.g_batch_stats}

  def sample(self, state: PoseGANState, inputs: dict) -> dict:
    """G(I, S_T) for each sample clip; BatchNorm in batch-statistics mode and dropout on, as in
    training (and as pix2pix tests); with pose_gan.ema_decay > 0 G's moving-average parameters."""
    skeletons = self.skeletons(inputs["keypoints"])
    video, _, *mask = self.generate(self.sampling_variables(state), inputs["video"][:, 0],
                                    skeletons,
                                    jax.random.wrap_key_data(inputs["key"]),
                                    with_mask=self.composite)
    outputs = {"video": video.astype(jnp.float32), "skeletons": skeletons}
    if mask:  # composite: where G paints over the input frame, white = its foreground
      outputs["mask"] = jnp.broadcast_to(mask[0] * 2.0 - 1.0, video.shape).astype(jnp.float32)
    return outputs

  def figure(self, outputs: dict, sample_batch: dict) -> list[list[np.ndarray]]:
    """Per sample: input frame I (tiled) | skeleton video S_T | generated | real [| mask]."""
    real = sample_batch["video"]
    rows = []
    for i in range(outputs["video"].shape[0]):
      first = np.broadcast_to(real[i, :1], real[i].shape)
      row = [first, outputs["skeletons"][i], outputs["video"][i], real[i]]
      rows.append(row + [outputs["mask"][i]] if "mask" in outputs else row)
    return rows

  paired = True  # each video is made for a real clip (its first frame / poses)

  def paired_outputs(self, outputs: dict, sample_batch: dict):
    """(generated, real) clips for the loop's sample metrics."""
    return outputs["video"], sample_batch["video"]

  def figure_columns(self) -> list[str]:
    return ["input frame", "poses", "generated", "real"] + (["mask"] if self.composite else [])
