"""VGAN's discriminator as an unsupervised video representation: action recognition (the
paper's second result, the authors' `main_ucf.lua`).

The classifier is VGAN's D with its logit layer replaced by volumetric dropout and a
convolution to the classes (models/vgan.py VideoClassifier). `classify.init`: 'vgan' starts the
trunk from a VGAN run's D (`classify.init_from`: a workdir or an export; its BatchNorm
statistics too), 'random' from scratch (the paper's "random init" row). `classify.train`:
'all' fine-tunes end to end (the paper's "VGAN + fine-tune"), 'head' keeps the trunk frozen
(in BatchNorm's inference mode) and trains the head alone: a linear classifier on D's features
(the paper's "VGAN + logistic regression"). Loss: softmax cross-entropy (Torch's
CrossEntropyCriterion); Adam, as the code.
"""
from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxvid import losses
from jaxvid.errors import UserError
from jaxvid.models import vgan as vgan_models
from jaxvid.trainers.base import Trainer, compute_dtype
from jaxvid.trainers.gan_common import adam

PyTree = Any


@flax.struct.dataclass
class ClassifierState:
  step: jax.Array
  key: jax.Array
  params: PyTree
  batch_stats: PyTree
  opt_state: PyTree


class VGANClassifyTrainer(Trainer):
  name = "vgan_classify"
  required_features = ("video", "label")
  evaluates_videos = False  # it makes no videos: evaluate --suite=classify measures it

  def __init__(self, config):
    self.config = config
    c = config.classify
    if c.init not in ("vgan", "random"):
      raise UserError(f"config.classify.init must be 'vgan' or 'random', got {c.init!r}")
    if c.train not in ("all", "head"):
      raise UserError(f"config.classify.train must be 'all' (fine-tune) or 'head' (a linear "
                      f"classifier on the frozen trunk), got {c.train!r}")
    if c.init == "vgan" and not c.init_from:
      raise UserError("config.classify.init='vgan' needs config.classify.init_from: a VGAN "
                      "workdir or export (or classify.init='random')")
    if int(c.num_classes) < 2:
      raise UserError(f"config.classify.num_classes must be >= 2, got {c.num_classes}")
    d = config.data
    try:
      vgan_models.stream_base_shape(d.frames, d.height, d.width, len(c.d_channels))
    except ValueError as e:
      raise UserError(f"invalid classifier config: {e}") from e
    self.model = vgan_models.VideoClassifier(
        channels=tuple(c.d_channels), num_classes=int(c.num_classes),
        dropout_rate=float(c.dropout), spectral_norm=bool(c.get("spectral_norm", False)),
        dtype=compute_dtype(config))
    tx = adam(config.optim, num_steps=int(config.train.num_steps))
    if c.train == "head":  # the trunk frozen: only the head's parameters move
      tx = optax.multi_transform({"train": tx, "freeze": optax.set_to_zero()},
                                 lambda params: {k: ("train" if k == "head" else "freeze")
                                                 for k in params})
    self.tx = tx

  def metadata(self) -> dict:
    c, d = self.config.classify, self.config.data
    return {"model": self.name,
            "architecture": {"d_channels": list(c.d_channels), "num_classes": int(c.num_classes),
                             "spectral_norm": bool(c.get("spectral_norm", False)),
                             "clip": [int(d.frames), int(d.height), int(d.width)]}}

  def init_state(self, key) -> ClassifierState:
    d = self.config.data
    init_key, key = jax.random.split(key)
    video = jnp.zeros((1, d.frames, d.height, d.width, 3))
    variables = self.model.init({"params": init_key}, video, train=False)
    return ClassifierState(step=jnp.zeros((), jnp.int32), key=jax.random.key_data(key),
                           params=variables["params"], batch_stats=variables["batch_stats"],
                           opt_state=self.tx.init(variables["params"]))

  def warm_start(self, state, load):
    """classify.init='vgan': the trunk's parameters and BatchNorm statistics from the VGAN
    run's D (its logit layer left out), checked against this classifier's trunk."""
    c = self.config.classify
    if c.init != "vgan":
      return state
    try:
      source = load(c.init_from, expected="vgan")
    except UserError as e:
      raise UserError(f"config.classify.init_from: {e}") from e
    v, d = source.config.vgan, source.config.data
    theirs = (list(v.d_channels), [int(d.frames), int(d.height), int(d.width)])
    ours = (list(c.d_channels), [int(x) for x in (self.config.data.frames,
                                                  self.config.data.height,
                                                  self.config.data.width)])
    if theirs != ours:
      raise UserError(f"{c.init_from}: its D has channels {theirs[0]} on clips {theirs[1]}; "
                      f"this classifier {ours[0]} on {ours[1]} (set classify.d_channels and "
                      f"the data's frames, height and width to the VGAN run's)")
    if bool(v.get("spectral_norm", False)) != bool(c.get("spectral_norm", False)):
      raise UserError(f"{c.init_from}: its D has vgan.spectral_norm={v.get('spectral_norm', False)}"
                      f"; set config.classify.spectral_norm to match")
    # every trunk entry of D (its logit layer, and that layer's power-iteration vector, have no
    # place here: the head is new)
    params = dict(state.params) | {k: v for k, v in source.state.d_params.items()
                                   if k in state.params and k != "head"}
    batch_stats = dict(state.batch_stats) | {k: v for k, v in source.state.d_batch_stats.items()
                                             if k in state.batch_stats and k != "sn_head"}
    return state.replace(params=params, batch_stats=batch_stats,
                         opt_state=self.tx.init(params))

  def _logits(self, params, batch_stats, video, train, key=None):
    """Logits and the BatchNorm statistics after them (unchanged unless the trunk trains)."""
    variables = {"params": params, "batch_stats": batch_stats}
    if not train:
      return self.model.apply(variables, video, train=False), batch_stats
    # 'head': dropout on, the frozen trunk's BatchNorm as it was (a spectrally normalised
    # head still steps its own power-iteration vector)
    logits, updates = self.model.apply(
        variables, video, train=True, rngs={"dropout": key}, mutable=["batch_stats"],
        train_trunk=False if self.config.classify.train == "head" else None)
    return logits, updates["batch_stats"]

  def train_step(self, state: ClassifierState, batch: dict):
    key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step)
    labels = batch["label"].astype(jnp.int32)

    def loss_fn(params):
      logits, stats = self._logits(params, state.batch_stats, batch["video"], True, key)
      return losses.classification_cross_entropy(logits, labels), (logits, stats)

    (loss, (logits, stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    accuracy = jnp.mean(jnp.argmax(logits, -1) == labels)
    return (state.replace(step=state.step + 1, params=params, batch_stats=stats,
                          opt_state=opt_state),
            {"loss": loss, "accuracy": accuracy, "grad_norm": optax.global_norm(grads)})

  def predict(self, state: ClassifierState, video):
    """(B, T, H, W, 3) clips in [-1, 1] -> (B, num_classes) logits (dropout off)."""
    logits, _ = self._logits(state.params, state.batch_stats, video, False)
    return logits

  # ----- samples: the held-out clips with what the classifier says -----
  def sample_inputs(self, key, sample_batch: dict):
    del key
    return {"video": jnp.asarray(sample_batch["video"])}

  def sample(self, state, inputs) -> dict:
    return {"logits": self.predict(state, inputs["video"])}

  def figure(self, outputs: dict, sample_batch: dict) -> list:
    """Each clip, with a border green where the predicted class is right, red where wrong."""
    right = np.argmax(np.asarray(outputs["logits"]), -1) == np.asarray(sample_batch["label"])
    rows = []
    for clip, ok in zip(np.asarray(sample_batch["video"]), right):
      framed = clip.copy()
      colour = np.array([-1.0, 1.0, -1.0] if ok else [1.0, -1.0, -1.0])
      framed[:, :2], framed[:, -2:], framed[:, :, :2], framed[:, :, -2:] = (colour,) * 4
      rows.append([framed])
    return rows

  def figure_columns(self) -> list[str]:
    return ["clip (green border: classified right; red: wrong)"]

