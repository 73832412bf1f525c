"""Everybody Dance Now trainer: stage 1 (pose -> frame G + temporal multi-scale D), stage 2 (face GAN).

Stage 1, per step a pair of consecutive frames (t-1, t) from each clip (t drawn from the step
key): x = rendered skeletons (in-graph), y = real frames. With `edn.temporal` (the paper),
G(x_{t-1}) is conditioned on a zero previous frame and G(x_t) on G(x_{t-1}), gradients through
both; D_k sees (x_{t-1}, x_t, y_{t-1}, y_t) vs (x_{t-1}, x_t, G(x_{t-1}), G(x_t)) on channels.
Without it (the frame-by-frame ablation, pix2pixHD) G sees only x_t and D_k sees (x_t, y_t).
  D: -L_smooth;  G: adversarial + lambda_FM L_FM + w_P lambda_P (L_P(G(x_{t-1}), y_{t-1}) + L_P(G(x_t), y_t))
w_P = `edn.vgg_global_weight` (0.5, the code's halving for the global generator; 1 for the local
enhancer). The VGG sees the [-1, 1] frames as pix2pixHD feeds them (`edn.vgg_input='raw'`).

Stage 2 (the authors' pix2pixHD_model_fullts.py): stage 1's G and temporal D are loaded from
`edn.stage1_workdir`; G stays frozen, the face generator trains. Both frames of the pair are
refined: I_{t-1} = refine(G(x_{t-1} | 0)), I_t = refine(G(x_t | I_{t-1})) (frame t conditioned
on the refined t-1), refine(F) = F with its face crop replaced by F_F + G_f(x_F, F_F). The face
generator's loss keeps every full-frame term on (I_{t-1}, I_t) and adds the face terms, 0.5 per
frame:  adversarial(D) + lambda_FM L_FM + w_P lambda_P (L_P(I_{t-1}) + L_P(I_t))
        + sum over both frames 0.5 (adversarial(D_f) + lambda_P L_P(I_F, y_F)).
D_f (on (x_F, face)) and the temporal D both train; for the first `edn.face_fix_main_steps`
steps only D_f does (the code's niter_fix_main). One iteration = one D step, then one G step
through the updated D.
"""
from __future__ import annotations

import functools
import logging
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
from jaxvid.models.layers import resolve_conv_impl
from jaxvid.poses.render import render_skeleton_jax
from jaxvid.trainers.base import Trainer, compute_dtype
from jaxvid.trainers.gan_common import adam, train_g_d

logger = logging.getLogger(__name__)

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
  d_params: PyTree  # stage 1's temporal D, trained on
  d_opt_state: PyTree
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


class EDNTrainer(Trainer):
  name = "edn"
  required_features = ("video", "keypoints", "face_box")

  def __init__(self, config):
    self.config = config
    e, d = config.edn, config.data
    pipeline.require_features(d, self.required_features, self.name)
    if e.stage not in (1, 2):
      raise UserError(f"config.edn.stage must be 1 or 2, got {e.stage!r}")
    if d.frames < 2:
      raise UserError("edn trains on pairs of consecutive frames: config.data.frames >= 2")
    dtype = compute_dtype(config)
    impl = resolve_conv_impl(e.get("conv_impl", "auto"), "config.edn.conv_impl")
    if e.generator == "global":
      self.generator = pix2pixhd.GlobalGenerator(e.ngf, e.n_down, e.n_blocks, dtype=dtype,
                                                 conv_impl=impl)
      factor = 2 ** e.n_down
    elif e.generator == "local":
      self.generator = pix2pixhd.LocalEnhancer(e.ngf, e.n_down, e.n_blocks, e.n_blocks_local,
                                               dtype=dtype, conv_impl=impl)
      factor = 2 ** (e.n_down + 1)
    else:
      raise UserError(f"config.edn.generator must be 'global' or 'local', got {e.generator!r}")
    if d.height % factor or d.width % factor:
      raise UserError(f"the {e.generator} generator needs height and width divisible by "
                      f"{factor}; got {d.height}x{d.width}")
    self.discriminator = pix2pixhd.MultiscaleDiscriminator(e.num_d, e.ndf, e.n_layers_d, dtype,
                                                           impl)
    output_init = e.get("face_output_init", "zeros")  # runs made before the option: zeros
    if output_init not in ("normal", "zeros"):
      raise UserError(f"config.edn.face_output_init must be 'normal' (the code's N(0, 0.02)) or "
                      f"'zeros', got {output_init!r}")
    self.face_generator = pix2pixhd.GlobalGenerator(e.face_ngf, e.face_n_down, e.face_n_blocks,
                                                    zero_output=output_init == "zeros",
                                                    dtype=dtype, conv_impl=impl)
    self.face_discriminator = pix2pixhd.MultiscaleDiscriminator(e.face_num_d, e.ndf,
                                                                e.n_layers_d, dtype, impl)
    if e.stage == 2 and (e.face_size > min(d.height, d.width) or e.face_size % 2 ** e.face_n_down):
      raise UserError(f"config.edn.face_size={e.face_size} must fit the frame and be divisible "
                      f"by 2^face_n_down={2 ** e.face_n_down}")
    if min(d.height, d.width) < 16 or (e.stage == 2 and e.face_size < 16):
      raise UserError("the VGG perceptual loss pools 4 times before relu5_1: frames and face crops "
                      f"need at least 16 pixels a side (frame {d.height}x{d.width}, face_size "
                      f"{e.face_size})")
    if e.face_fix_main_steps < 0:
      raise UserError(f"config.edn.face_fix_main_steps must be >= 0, got {e.face_fix_main_steps}")
    self.tx = adam(config.optim, num_steps=int(config.train.num_steps))

  @functools.cached_property
  def perceptual_backbone(self):
    """(module, params) of the perceptual loss's backbone, read when training first needs it:
    loading a model for inference (an export from another machine among them) never reads the
    weights file its config names."""
    e = self.config.edn
    return vgg.load_backbone(e.perceptual_backbone, e.vgg19_weights, e.vgg_input)

  def check_for_training(self) -> None:
    self.perceptual_backbone  # the weights file's errors at start-up, before any dataset build

  def metadata(self) -> dict:
    e, d = self.config.edn, self.config.data
    arch = {"stage": int(e.stage), **generator_architecture(e), "frame": [d.height, d.width]}
    arch["d"] = [int(e.num_d), int(e.ndf), int(e.n_layers_d)]
    if e.stage == 2:
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
    module, params = self.perceptual_backbone
    feats = lambda x: module.apply({"params": params}, x)
    return losses.perceptual_loss(feats(generated), feats(target))

  def _pair(self, batch, key):
    """Frames t-1, t of every clip (t from the step key): poses rendered, boxes at t."""
    t = jax.random.randint(key, (), 1, self.config.data.frames)
    take = lambda a: (jax.lax.dynamic_index_in_dim(a, t - 1, 1, False),
                      jax.lax.dynamic_index_in_dim(a, t, 1, False))
    kp_prev, kp_cur = take(batch["keypoints"])
    y_prev, y_cur = take(batch["video"])
    box_prev, box_cur = take(batch["face_box"])
    return {"x_prev": self.skeletons(kp_prev), "x_cur": self.skeletons(kp_cur),
            "y_prev": y_prev, "y_cur": y_cur, "box_prev": box_prev, "box_cur": box_cur}

  # ----- state -----
  def init_state(self, key):
    e, d = self.config.edn, self.config.data
    g_key, d_key, fg_key, fd_key, train_key = jax.random.split(key, 5)
    image = jnp.zeros((1, d.height, d.width, 3))
    g_params = self.generator.init(g_key, jnp.zeros(image.shape[:-1] + (
        self._generator_input_channels(),)))["params"]
    d_channels = 12 if e.temporal else 6
    d_params = self.discriminator.init(d_key, jnp.zeros(image.shape[:-1] + (d_channels,)))
    common = {"step": jnp.zeros((), jnp.int32), "key": jax.random.key_data(train_key),
              "g_params": g_params, "d_params": d_params["params"],
              "d_opt_state": self.tx.init(d_params["params"])}
    if e.stage == 1:
      return Stage1State(**common, g_opt_state=self.tx.init(g_params))
    face = jnp.zeros((1, e.face_size, e.face_size, 6))
    fg = self.face_generator.init(fg_key, face)["params"]
    fd = self.face_discriminator.init(fd_key, face)["params"]
    return Stage2State(**common, face_g_params=fg, face_d_params=fd,
                       face_g_opt_state=self.tx.init(fg), face_d_opt_state=self.tx.init(fd))

  def warm_start(self, state, load):
    """Stage 2 starts from stage 1's generator and temporal D (the newest checkpoint in
    edn.stage1_workdir, read by `load`: jaxvid.load); the D's optimizer starts afresh, as in
    the code."""
    e = self.config.edn
    if e.stage != 2:
      return state
    if not e.stage1_workdir:
      raise UserError("stage 2 (face GAN) needs config.edn.stage1_workdir: the workdir of a "
                      "finished stage-1 run")
    stage1 = load(e.stage1_workdir, expected="edn")
    if stage1.config.edn.stage != 1:
      raise UserError(f"{e.stage1_workdir} is not an edn stage-1 workdir")
    ours, theirs = generator_architecture(e), generator_architecture(stage1.config.edn)
    if ours != theirs:
      raise UserError(f"stage-1 generator in {e.stage1_workdir} is {theirs}; this config has "
                      f"{ours}")
    ours_d = [int(e.num_d), int(e.ndf), int(e.n_layers_d)]
    theirs_d = [int(stage1.config.edn.num_d), int(stage1.config.edn.ndf),
                int(stage1.config.edn.n_layers_d)]
    if ours_d != theirs_d:
      raise UserError(f"stage-1 discriminator in {e.stage1_workdir} is (num_d, ndf, n_layers_d) "
                      f"= {theirs_d}; this config has {ours_d}")
    if stage1.state.d_params is None:
      raise UserError(f"{e.stage1_workdir} is an export (no discriminator): stage 2 starts from "
                      f"stage 1's training workdir")
    logger.info("stage 2: generator (frozen) and temporal D from %s step %d", e.stage1_workdir,
                 stage1.step)
    return ckpt_lib.copy_params(state, stage1.state, fields=("g_params", "d_params"))[0]

  # ----- training -----
  def train_step(self, state, batch):
    key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step)
    pair = self._pair(batch, key)
    if self.config.edn.stage == 1:
      return self._stage1_step(state, pair)
    return self._stage2_step(state, pair)

  def _disc(self, d_params, x):
    return self.discriminator.apply({"params": d_params}, x)

  def _temporal_d_loss(self, d_params, p, fake_prev, fake_cur):
    """D's -L_smooth on the real pair vs the (stopped) generated pair; also D's outputs."""
    real_out = self._disc(d_params, self.discriminator_input(p["x_prev"], p["x_cur"], p["y_prev"],
                                                             p["y_cur"]))
    fake_out = self._disc(d_params, self.discriminator_input(
        p["x_prev"], p["x_cur"], jax.lax.stop_gradient(fake_prev), jax.lax.stop_gradient(fake_cur)))
    return losses.smoothing_discriminator_loss(real_out, fake_out, self.config.edn.gan_loss), (
        real_out, fake_out)

  def _full_frame_terms(self, d_params, p, prev, cur) -> dict:
    """G's full-frame loss terms on a generated pair through (updated) D."""
    e = self.config.edn
    fake = self._disc(d_params, self.discriminator_input(p["x_prev"], p["x_cur"], prev, cur))
    real = self._disc(d_params, self.discriminator_input(p["x_prev"], p["x_cur"], p["y_prev"],
                                                         p["y_cur"]))
    weight = e.vgg_global_weight if e.generator == "global" else 1.0
    return {"g_adv": losses.multiscale_gan_loss(fake, True, e.gan_loss),
            "g_fm": e.lambda_fm * losses.feature_matching_loss(real, fake),
            "g_vgg": weight * e.lambda_p * (self._perceptual(prev, p["y_prev"])
                                            + self._perceptual(cur, p["y_cur"]))}

  def _adam_step(self, params, grads, opt_state):
    updates, opt_state = self.tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  def _stage1_step(self, state: Stage1State, p):
    def generate(g_params):
      prev = self.generate_frame(g_params, p["x_prev"], jnp.zeros_like(p["y_prev"]))
      return prev, self.generate_frame(g_params, p["x_cur"], prev)

    def update_d(outputs):
      (loss, (real_out, fake_out)), grads = jax.value_and_grad(
          self._temporal_d_loss, has_aux=True)(state.d_params, p, *outputs)
      params, opt_state = self._adam_step(state.d_params, grads, state.d_opt_state)
      return {"params": params, "opt_state": opt_state, "loss": loss, "grads": grads,
              "real_out": real_out, "fake_out": fake_out}

    def g_loss(outputs, d):
      terms = self._full_frame_terms(d["params"], p, *outputs)
      return sum(terms.values()), terms

    it = train_g_d(generate, state.g_params, self.tx, state.g_opt_state, update_d, g_loss)
    d, (_, g_cur) = it["d"], it["outputs"]
    new_state = state.replace(step=state.step + 1, g_params=it["g_params"], d_params=d["params"],
                              g_opt_state=it["g_opt_state"], d_opt_state=d["opt_state"])
    metrics = {"d_loss": d["loss"], "g_loss": it["g_loss"], **it["terms"],
               "l1_cur": jnp.mean(jnp.abs(g_cur - p["y_cur"])),
               "d_real_out": jnp.mean(jnp.asarray([jnp.mean(o[-1]) for o in d["real_out"]])),
               "d_fake_out": jnp.mean(jnp.asarray([jnp.mean(o[-1]) for o in d["fake_out"]])),
               "g_grad_norm": optax.tree.norm(it["g_grads"]),
               "d_grad_norm": optax.tree.norm(d["grads"])}
    return new_state, {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}

  def refined_pair(self, g_params, face_g_params, p):
    """Both frames through the frozen G and the face generator, t conditioned on the refined
    t-1: {'prev', 'cur': refined frames; 'face_*', 'x_f_*', 'g_f_*': the refined face, pose and
    stage-1 face crops}."""
    out, previous = {}, jnp.zeros_like(p["y_prev"])
    for name in ("prev", "cur"):
      pose, box = p[f"x_{name}"], p[f"box_{name}"]
      # G's weights are frozen (not differentiated) but the gradient of frame t's loss reaches
      # the face generator through G's input, the refined t-1, as in the code.
      frame = self.generate_frame(g_params, pose, previous)
      refined, (x_f, g_f, face), _ = self.refine_face(face_g_params, pose, frame, box)
      out[name], out[f"face_{name}"], out[f"x_f_{name}"], out[f"g_f_{name}"] = (
          refined, face, x_f, g_f)
      previous = refined
    return out

  def _stage2_step(self, state: Stage2State, p):
    e = self.config.edn
    size = e.face_size
    y_f = {k: crop_faces(p[f"y_{k}"], p[f"box_{k}"], size)[0] for k in ("prev", "cur")}
    face_disc = lambda params, x_f, face: self.face_discriminator.apply(
        {"params": params}, jnp.concatenate([x_f, face], -1))

    def update_d(r):  # the face D, then the full-frame D (frozen for face_fix_main_steps)
      def face_d_loss_fn(fd_params):
        return sum(0.5 * losses.smoothing_discriminator_loss(
            face_disc(fd_params, r[f"x_f_{k}"], y_f[k]),
            face_disc(fd_params, r[f"x_f_{k}"], jax.lax.stop_gradient(r[f"face_{k}"])),
            e.gan_loss) for k in ("prev", "cur"))

      face_d_loss, fd_grads = jax.value_and_grad(face_d_loss_fn)(state.face_d_params)
      fd_params, fd_opt = self._adam_step(state.face_d_params, fd_grads, state.face_d_opt_state)
      (d_loss, _), d_grads = jax.value_and_grad(self._temporal_d_loss, has_aux=True)(
          state.d_params, p, r["prev"], r["cur"])
      trained_d, trained_d_opt = self._adam_step(state.d_params, d_grads, state.d_opt_state)
      main_d_on = state.step >= e.face_fix_main_steps  # the code's niter_fix_main
      keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(main_d_on, a, b), new, old)
      return {"face_params": fd_params, "face_opt_state": fd_opt, "face_loss": face_d_loss,
              "params": keep(trained_d, state.d_params),
              "opt_state": keep(trained_d_opt, state.d_opt_state), "loss": d_loss}

    def g_loss(refined, d):
      terms = self._full_frame_terms(d["params"], p, refined["prev"], refined["cur"])
      for k in ("prev", "cur"):
        face, x_f = refined[f"face_{k}"], refined[f"x_f_{k}"]
        terms[f"face_adv_{k}"] = 0.5 * losses.multiscale_gan_loss(
            face_disc(d["face_params"], x_f, face), True, e.gan_loss)
        terms[f"face_vgg_{k}"] = 0.5 * e.lambda_p * self._perceptual(face, y_f[k])
      return sum(terms.values()), terms

    # G's weights are frozen at stage 2: the face generator is the "G" of this iteration
    it = train_g_d(lambda params: self.refined_pair(state.g_params, params, p),
                   state.face_g_params, self.tx, state.face_g_opt_state, update_d, g_loss)
    d, r, terms = it["d"], it["outputs"], it["terms"]
    new_state = state.replace(step=state.step + 1, face_g_params=it["g_params"],
                              face_d_params=d["face_params"], face_g_opt_state=it["g_opt_state"],
                              face_d_opt_state=d["face_opt_state"], d_params=d["params"],
                              d_opt_state=d["opt_state"])
    metrics = {"face_d_loss": d["face_loss"], "d_loss": d["loss"], "face_g_loss": it["g_loss"],
               "face_adv": terms["face_adv_prev"] + terms["face_adv_cur"],
               "face_vgg": terms["face_vgg_prev"] + terms["face_vgg_cur"],
               **{k: terms[k] for k in ("g_adv", "g_fm", "g_vgg")},
               "face_l1_stage1": jnp.mean(jnp.abs(r["g_f_cur"] - y_f["cur"])),
               "face_l1": jnp.mean(jnp.abs(r["face_cur"] - y_f["cur"])),
               "face_g_grad_norm": optax.tree.norm(it["g_grads"])}
    return new_state, {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}

  # ----- whole videos: sampling and transfer -----
  def generate_video(self, g_params, skeleton_video, face_g_params=None, face_boxes=None):
    """Frame by frame, each conditioned on the previous output: skeleton_video (B, T, H, W, 3) in
    [-1, 1] -> {'video': (B, T, H, W, 3) the output (with the face GAN: its faces pasted in)
    [, 'stage1': stage 1's frames before the face GAN]}."""

    out, _ = self.generate_chunk(g_params, skeleton_video, face_g_params, face_boxes)
    return out

  def generate_chunk(self, g_params, skeleton_video, face_g_params=None, face_boxes=None,
                     previous=None):
    """generate_video from a given previous output frame (zeros: the start), returning the
    last output too, so a long video is generated chunk by chunk. With the face GAN the
    refined frame is what the next frame is conditioned on (the code's inference)."""

    def step(previous, inputs):
      pose, box = inputs
      frame = self.generate_frame(g_params, pose, previous)
      if face_g_params is None:
        return frame, {"video": frame}
      refined = self.refine_face(face_g_params, pose, frame, box)[0]
      return refined, {"video": refined, "stage1": frame}

    poses = jnp.moveaxis(skeleton_video, 1, 0)
    boxes = (jnp.moveaxis(face_boxes, 1, 0) if face_boxes is not None
             else jnp.zeros(poses.shape[:2] + (4,)))
    previous = jnp.zeros_like(poses[0]) if previous is None else previous
    last, out = jax.lax.scan(step, previous, (poses, boxes))
    return jax.tree.map(lambda v: jnp.moveaxis(v, 0, 1), out), last

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
      row = [outputs["skeletons"][i]]
      if "stage1" in outputs:
        row.append(outputs["stage1"][i])
      rows.append(row + [outputs["video"][i], sample_batch["video"][i]])
    return rows

  paired = True  # each video is made for a real clip (its first frame / poses)

  def paired_outputs(self, outputs: dict, sample_batch: dict):
    """(generated, real) videos for the loop's sample metrics."""
    return outputs["video"], sample_batch["video"]

  def figure_columns(self) -> list[str]:
    face = ["+ face GAN"] if self.config.edn.stage == 2 else []
    return ["pose", "generated"] + face + ["real"]
