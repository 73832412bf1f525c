"""Everybody Dance Now trainer: stage 1 (pose -> frame G + temporal multi-scale D), stage 2 (face GAN).

Stage 1, per step a pair of consecutive frames (t-1, t) from each clip (t drawn from the step
key): x = rendered skeletons (in-graph), y = real frames. With `edn.temporal` (the paper),
G(x_{t-1}) is conditioned on a zero previous frame and G(x_t) on G(x_{t-1}), gradients through
both; D_k sees (x_{t-1}, x_t, y_{t-1}, y_t) vs (x_{t-1}, x_t, G(x_{t-1}), G(x_t)) on channels.
Without it (the frame-by-frame ablation, pix2pixHD) G sees only x_t and D_k sees (x_t, y_t).
  D: -L_smooth;  G: adversarial + lambda_FM L_FM + lambda_P (L_P(G(x_{t-1}), y_{t-1}) + L_P(G(x_t), y_t)).
Stage 2 freezes stage 1's G (loaded from `edn.stage1_workdir`) and trains the face GAN on a
`face_size` crop around frame t's face box: r = G_f(x_F, G(x)_F), face = G(x)_F + r;
  D_f: (x_F, y_F) real vs (x_F, face) fake;  G_f: adversarial + lambda_P L_P(face, y_F).
One iteration = one D step, then one G step through the updated D.
"""
from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxvid import checkpoint as ckpt_lib
from jaxvid import losses
from jaxvid.data import pipeline
from jaxvid.errors import UserError
from jaxvid.models import pix2pixhd, vgg
from jaxvid.poses.render import render_skeleton_jax
from jaxvid.trainers.gan_common import adam, compute_dtype

PyTree = Any


@flax.struct.dataclass
class Stage1State:
  step: jax.Array
  key: jax.Array
  g_params: PyTree
  d_params: PyTree
  g_opt_state: PyTree
  d_opt_state: PyTree


@flax.struct.dataclass
class Stage2State:
  step: jax.Array
  key: jax.Array
  g_params: PyTree  # stage 1's generator, frozen
  face_g_params: PyTree
  face_d_params: PyTree
  face_g_opt_state: PyTree
  face_d_opt_state: PyTree


def crop_faces(images, boxes, size: int):
  """(B, H, W, C) images, (B, 4) boxes (x0, y0, x1, y1) px -> (B, size, size, C) crops centred on
  the boxes, shifted to stay inside the image; also returns the (top, left) corners."""
  height, width = images.shape[1:3]
  top = jnp.clip(jnp.round((boxes[:, 1] + boxes[:, 3]) / 2 - size / 2), 0, height - size)
  left = jnp.clip(jnp.round((boxes[:, 0] + boxes[:, 2]) / 2 - size / 2), 0, width - size)
  corners = jnp.stack([top, left], -1).astype(jnp.int32)
  crop = lambda img, c: jax.lax.dynamic_slice(img, (c[0], c[1], 0), (size, size, img.shape[-1]))
  return jax.vmap(crop)(images, corners), corners


def paste_faces(images, faces, corners):
  """Inverse of crop_faces: write the (refined) crops back at their corners."""
  paste = lambda img, face, c: jax.lax.dynamic_update_slice(img, face.astype(img.dtype),
                                                            (c[0], c[1], 0))
  return jax.vmap(paste)(images, faces, corners)


def generator_architecture(e) -> dict:
  return {"generator": e.generator, "ngf": int(e.ngf), "n_down": int(e.n_down),
          "n_blocks": int(e.n_blocks), "n_blocks_local": int(e.n_blocks_local),
          "temporal": bool(e.temporal)}


class EDNTrainer:
  name = "edn"

  def __init__(self, config):
    self.config = config
    e, d = config.edn, config.data
    pipeline.require_keypoints(d, "edn")
    if e.stage not in (1, 2):
      raise UserError(f"config.edn.stage must be 1 or 2, got {e.stage!r}")
    if d.frames < 2:
      raise UserError("edn trains on pairs of consecutive frames: config.data.frames >= 2")
    dtype = compute_dtype(config)
    if e.generator == "global":
      self.generator = pix2pixhd.GlobalGenerator(e.ngf, e.n_down, e.n_blocks, dtype=dtype)
      factor = 2 ** e.n_down
    elif e.generator == "local":
      self.generator = pix2pixhd.LocalEnhancer(e.ngf, e.n_down, e.n_blocks, e.n_blocks_local,
                                               dtype=dtype)
      factor = 2 ** (e.n_down + 1)
    else:
      raise UserError(f"config.edn.generator must be 'global' or 'local', got {e.generator!r}")
    if d.height % factor or d.width % factor:
      raise UserError(f"the {e.generator} generator needs height and width divisible by "
                      f"{factor}; got {d.height}x{d.width}")
    self.discriminator = pix2pixhd.MultiscaleDiscriminator(e.num_d, e.ndf, e.n_layers_d, dtype)
    self.face_generator = pix2pixhd.GlobalGenerator(e.face_ngf, e.face_n_down, e.face_n_blocks,
                                                    zero_output=True, dtype=dtype)
    self.face_discriminator = pix2pixhd.MultiscaleDiscriminator(e.face_num_d, e.ndf,
                                                                e.n_layers_d, dtype)
    if e.stage == 2 and (e.face_size > min(d.height, d.width) or e.face_size % 2 ** e.face_n_down):
      raise UserError(f"config.edn.face_size={e.face_size} must fit the frame and be divisible "
                      f"by 2^face_n_down={2 ** e.face_n_down}")
    if min(d.height, d.width) < 16 or (e.stage == 2 and e.face_size < 16):
      raise UserError("the VGG perceptual loss pools 4 times before relu5_1: frames and face crops "
                      f"need at least 16 pixels a side (frame {d.height}x{d.width}, face_size "
                      f"{e.face_size})")
    self.tx = adam(config.optim)
    self.vgg, self.vgg_params = vgg.load_backbone(e.perceptual_backbone, e.vgg19_weights)

  def metadata(self) -> dict:
    e, d = self.config.edn, self.config.data
    arch = {"stage": int(e.stage), **generator_architecture(e), "frame": [d.height, d.width]}
    if e.stage == 1:
      arch["d"] = [int(e.num_d), int(e.ndf), int(e.n_layers_d)]
    else:
      arch["face"] = [int(e.face_size), int(e.face_ngf), int(e.face_n_down), int(e.face_n_blocks),
                      int(e.face_num_d)]
    return {"model": self.name, "architecture": arch}

  # ----- pieces -----
  def skeletons(self, keypoints):
    d = self.config.data
    return render_skeleton_jax(keypoints, d.height, d.width,
                               thickness=self.config.edn.skeleton_thickness) * 2.0 - 1.0

  def generate_frame(self, g_params, pose, previous):
    """G(x_t | previous output); `previous` is ignored by the frame-by-frame model."""
    x = jnp.concatenate([pose, previous], -1) if self.config.edn.temporal else pose
    return self.generator.apply({"params": g_params}, x).astype(jnp.float32)

  def _generator_input_channels(self) -> int:
    return 6 if self.config.edn.temporal else 3

  def discriminator_input(self, x_prev, x_cur, y_prev, y_cur):
    if self.config.edn.temporal:
      return jnp.concatenate([x_prev, x_cur, y_prev, y_cur], -1)
    return jnp.concatenate([jnp.concatenate([x_prev, y_prev], -1),
                            jnp.concatenate([x_cur, y_cur], -1)], 0)

  def refine_face(self, face_g_params, pose_frame, generated_frame, boxes):
    """Stage 2 at frame t: (refined frame, face crops (pose, generated, refined), corners)."""
    size = self.config.edn.face_size
    x_f, corners = crop_faces(pose_frame, boxes, size)
    g_f, _ = crop_faces(generated_frame, boxes, size)
    face = self.face_from_crops(face_g_params, x_f, g_f)
    return paste_faces(generated_frame, face, corners), (x_f, g_f, face), corners

  def face_from_crops(self, face_g_params, pose_crop, generated_crop):
    """face = G(x)_F + r, r = G_f(x_F, G(x)_F)."""
    residual = self.face_generator.apply({"params": face_g_params},
                                         jnp.concatenate([pose_crop, generated_crop], -1))
    return generated_crop + residual.astype(jnp.float32)

  def _perceptual(self, generated, target):
    feats = lambda x: self.vgg.apply({"params": self.vgg_params}, x)
    return losses.perceptual_loss(feats(generated), feats(target))

  def _pair(self, batch, key):
    """Frames t-1, t of every clip (t from the step key): poses rendered, boxes at t."""
    t = jax.random.randint(key, (), 1, self.config.data.frames)
    take = lambda a: (jax.lax.dynamic_index_in_dim(a, t - 1, 1, False),
                      jax.lax.dynamic_index_in_dim(a, t, 1, False))
    kp_prev, kp_cur = take(batch["keypoints"])
    y_prev, y_cur = take(batch["video"])
    return {"x_prev": self.skeletons(kp_prev), "x_cur": self.skeletons(kp_cur),
            "y_prev": y_prev, "y_cur": y_cur, "box": take(batch["face_box"])[1]}

  # ----- state -----
  def init_state(self, key):
    e, d = self.config.edn, self.config.data
    g_key, d_key, fg_key, fd_key, train_key = jax.random.split(key, 5)
    image = jnp.zeros((1, d.height, d.width, 3))
    g_params = self.generator.init(g_key, jnp.zeros(image.shape[:-1] + (
        self._generator_input_channels(),)))["params"]
    common = {"step": jnp.zeros((), jnp.int32), "key": jax.random.key_data(train_key),
              "g_params": g_params}
    if e.stage == 1:
      d_channels = 12 if e.temporal else 6
      d_params = self.discriminator.init(d_key, jnp.zeros(image.shape[:-1] + (d_channels,)))
      d_params = d_params["params"]
      return Stage1State(**common, d_params=d_params, g_opt_state=self.tx.init(g_params),
                         d_opt_state=self.tx.init(d_params))
    face = jnp.zeros((1, e.face_size, e.face_size, 6))
    fg = self.face_generator.init(fg_key, face)["params"]
    fd = self.face_discriminator.init(fd_key, face)["params"]
    return Stage2State(**common, face_g_params=fg, face_d_params=fd,
                       face_g_opt_state=self.tx.init(fg), face_d_opt_state=self.tx.init(fd))

  def warm_start(self, state):
    """Stage 2 starts from stage 1's generator (the newest checkpoint in edn.stage1_workdir)."""
    e = self.config.edn
    if e.stage != 2:
      return state
    if not e.stage1_workdir:
      raise UserError("stage 2 (face GAN) needs config.edn.stage1_workdir: the workdir of a "
                      "finished stage-1 run")
    stage1_config = ckpt_lib.load_config(e.stage1_workdir)
    if stage1_config.get("model") != "edn" or stage1_config.edn.stage != 1:
      raise UserError(f"{e.stage1_workdir} is not an edn stage-1 workdir")
    ours, theirs = generator_architecture(e), generator_architecture(stage1_config.edn)
    if ours != theirs:
      raise UserError(f"stage-1 generator in {e.stage1_workdir} is {theirs}; this config has "
                      f"{ours}")
    step, stage1 = ckpt_lib.load_latest(EDNTrainer(stage1_config), e.stage1_workdir)
    print(f"stage 2: generator from {e.stage1_workdir} step {step} (frozen)", flush=True)
    params = jax.device_put(stage1.g_params, jax.tree.leaves(state.g_params)[0].sharding)
    return state.replace(g_params=params)

  # ----- training -----
  def train_step(self, state, batch):
    key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step)
    pair = self._pair(batch, key)
    if self.config.edn.stage == 1:
      return self._stage1_step(state, pair)
    return self._stage2_step(state, pair)

  def _stage1_step(self, state: Stage1State, p):
    e = self.config.edn

    def generate(g_params):
      prev = self.generate_frame(g_params, p["x_prev"], jnp.zeros_like(p["y_prev"]))
      return prev, self.generate_frame(g_params, p["x_cur"], prev)

    (g_prev, g_cur), g_vjp = jax.vjp(generate, state.g_params)
    real_in = self.discriminator_input(p["x_prev"], p["x_cur"], p["y_prev"], p["y_cur"])
    disc = lambda params, x: self.discriminator.apply({"params": params}, x)

    def d_loss_fn(d_params):
      fake_in = self.discriminator_input(p["x_prev"], p["x_cur"], jax.lax.stop_gradient(g_prev),
                                         jax.lax.stop_gradient(g_cur))
      real_out, fake_out = disc(d_params, real_in), disc(d_params, fake_in)
      return losses.smoothing_discriminator_loss(real_out, fake_out, e.gan_loss), (
          real_out, fake_out)

    (d_loss, (real_out, fake_out)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
        state.d_params)
    d_updates, d_opt_state = self.tx.update(d_grads, state.d_opt_state, state.d_params)
    d_params = optax.apply_updates(state.d_params, d_updates)

    def g_loss_fn(outputs):
      prev, cur = outputs
      fake = disc(d_params, self.discriminator_input(p["x_prev"], p["x_cur"], prev, cur))
      real = disc(d_params, real_in)
      terms = {"g_adv": losses.multiscale_gan_loss(fake, True, e.gan_loss),
               "g_fm": e.lambda_fm * losses.feature_matching_loss(real, fake),
               "g_vgg": e.lambda_p * (self._perceptual(prev, p["y_prev"])
                                      + self._perceptual(cur, p["y_cur"]))}
      return sum(terms.values()), terms

    (g_loss, terms), out_grads = jax.value_and_grad(g_loss_fn, has_aux=True)((g_prev, g_cur))
    (g_grads,) = g_vjp(out_grads)
    g_updates, g_opt_state = self.tx.update(g_grads, state.g_opt_state, state.g_params)
    new_state = state.replace(step=state.step + 1,
                              g_params=optax.apply_updates(state.g_params, g_updates),
                              d_params=d_params, g_opt_state=g_opt_state, d_opt_state=d_opt_state)
    metrics = {"d_loss": d_loss, "g_loss": g_loss, **terms,
               "l1_cur": jnp.mean(jnp.abs(g_cur - p["y_cur"])),
               "d_real_out": jnp.mean(jnp.asarray([jnp.mean(o[-1]) for o in real_out])),
               "d_fake_out": jnp.mean(jnp.asarray([jnp.mean(o[-1]) for o in fake_out])),
               "g_grad_norm": optax.tree.norm(g_grads), "d_grad_norm": optax.tree.norm(d_grads)}
    return new_state, {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}

  def _stage2_step(self, state: Stage2State, p):
    e = self.config.edn
    g_prev = self.generate_frame(state.g_params, p["x_prev"], jnp.zeros_like(p["y_prev"]))
    g_cur = jax.lax.stop_gradient(self.generate_frame(state.g_params, p["x_cur"], g_prev))
    size = e.face_size
    x_f, _ = crop_faces(p["x_cur"], p["box"], size)
    g_f, _ = crop_faces(g_cur, p["box"], size)
    y_f, _ = crop_faces(p["y_cur"], p["box"], size)

    face, fg_vjp = jax.vjp(lambda params: self.face_from_crops(params, x_f, g_f),
                           state.face_g_params)
    disc = lambda params, y: self.face_discriminator.apply({"params": params},
                                                           jnp.concatenate([x_f, y], -1))

    def d_loss_fn(fd_params):
      return losses.smoothing_discriminator_loss(disc(fd_params, y_f),
                                                 disc(fd_params, jax.lax.stop_gradient(face)),
                                                 e.gan_loss)

    d_loss, d_grads = jax.value_and_grad(d_loss_fn)(state.face_d_params)
    d_updates, fd_opt = self.tx.update(d_grads, state.face_d_opt_state, state.face_d_params)
    fd_params = optax.apply_updates(state.face_d_params, d_updates)

    def g_loss_fn(refined):
      terms = {"face_adv": losses.multiscale_gan_loss(disc(fd_params, refined), True, e.gan_loss),
               "face_vgg": e.lambda_p * self._perceptual(refined, y_f)}
      return sum(terms.values()), terms

    (g_loss, terms), face_grad = jax.value_and_grad(g_loss_fn, has_aux=True)(face)
    (g_grads,) = fg_vjp(face_grad)
    g_updates, fg_opt = self.tx.update(g_grads, state.face_g_opt_state, state.face_g_params)
    new_state = state.replace(
        step=state.step + 1, face_g_params=optax.apply_updates(state.face_g_params, g_updates),
        face_d_params=fd_params, face_g_opt_state=fg_opt, face_d_opt_state=fd_opt)
    metrics = {"face_d_loss": d_loss, "face_g_loss": g_loss, **terms,
               "face_l1_stage1": jnp.mean(jnp.abs(g_f - y_f)),
               "face_l1": jnp.mean(jnp.abs(face - y_f)),
               "face_g_grad_norm": optax.tree.norm(g_grads)}
    return new_state, {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}

  # ----- whole videos: sampling and transfer -----
  def generate_video(self, g_params, skeleton_video, face_g_params=None, face_boxes=None):
    """Frame by frame, each conditioned on the previous output: skeleton_video (B, T, H, W, 3) in
    [-1, 1] -> {'video': (B, T, H, W, 3)[, 'refined': with the face GAN's faces pasted in]}."""

    def step(previous, inputs):
      pose, box = inputs
      frame = self.generate_frame(g_params, pose, previous)
      out = {"video": frame}
      if face_g_params is not None:
        out["refined"] = self.refine_face(face_g_params, pose, frame, box)[0]
      return frame, out

    poses = jnp.moveaxis(skeleton_video, 1, 0)
    boxes = (jnp.moveaxis(face_boxes, 1, 0) if face_boxes is not None
             else jnp.zeros(poses.shape[:2] + (4,)))
    _, out = jax.lax.scan(step, jnp.zeros_like(poses[0]), (poses, boxes))
    return jax.tree.map(lambda v: jnp.moveaxis(v, 0, 1), out)

  def sample_inputs(self, key, sample_batch: dict):
    del key
    return {k: jnp.asarray(sample_batch[k]) for k in ("video", "keypoints", "face_box")}

  def sample(self, state, inputs) -> dict:
    skeletons = self.skeletons(inputs["keypoints"])
    face = state.face_g_params if self.config.edn.stage == 2 else None
    out = self.generate_video(state.g_params, skeletons, face, inputs["face_box"])
    return {**out, "skeletons": skeletons}

  def figure(self, outputs: dict, sample_batch: dict) -> list[list[np.ndarray]]:
    """Per sample: pose | generated [| + face GAN] | real."""
    rows = []
    for i in range(outputs["video"].shape[0]):
      row = [outputs["skeletons"][i], outputs["video"][i]]
      if "refined" in outputs:
        row.append(outputs["refined"][i])
      rows.append(row + [sample_batch["video"][i]])
    return rows

  def paired_outputs(self, outputs: dict, sample_batch: dict):
    """(generated, real) videos for the loop's sample metrics."""
    return outputs.get("refined", outputs["video"]), sample_batch["video"]

  def figure_columns(self) -> list[str]:
    face = ["+ face GAN"] if self.config.edn.stage == 2 else []
    return ["pose", "generated"] + face + ["real"]
