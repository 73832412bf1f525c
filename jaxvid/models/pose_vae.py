"""The Pose Knows: pose-VAE for forecasting pose futures (Walker et al. 2017).

Poses are COCO-18 (x, y, conf) = 54 numbers per frame in normalised image coordinates. Motion
is the authors' code's encoding (poses/velocity_code.py): per step a 36-d direction and 2
magnitudes (38 numbers, "motion" below), predicted by two heads. As in their code
(`buildModels.lua`) every input passes a Dense layer and BatchNorm before the LSTMs. Four
recurrent parts share one hidden size (paper: 2 LSTM layers of 1024):

* past encoder: LSTM over [features of the frame X_t and its rendered pose (6 channels) ;
  emb(P_k) ; emb(motion_k)] for the past steps k = 1..t -> final state H_t (one (c, h) per layer);
* past decoder: LSTM started from H_t, fed zeros (the code), that reconstructs the past motion
  in *reverse* order (an auxiliary task that makes H_t summarise the motion; unused at test);
* future encoder Q: `posterior='code'`: one hidden layer over [H_t ; the whole future's
  directions ; its magnitudes] -> mu, log sigma^2 of every step's z at once (`buildVAE`);
  `posterior='paper'`: an LSTM started from H_t over [emb(motion_k) ; emb(P_k)] of the future
  steps, one z per step (the paper also feeds the future poses);
* future decoder: LSTM started from H_t, input [emb(z_k) ; emb(P_k)] per step -> motion_k.
  Training feeds the ground-truth poses; `forecast` integrates its own predictions instead.

The code's layer lists are options (all four on at `:paper`): `frame_encoder='code'` (its
AlexNet-like net, FC 1024 + BatchNorm over the last map, which keeps where the person is;
'small': three convolutions and a global mean), `joint_pose_features=1024` (the past encoder's
pose, direction and magnitude embeddings joined by a Dense + BatchNorm), `q_tiling=True` (Q's
directions Dense + BatchNorm tiled x10, its magnitudes x100, as `buildVAE`) and
`past_decoder_input='code'` (the past decoder's zeros pass its own pose and latent Dense +
BatchNorm, as `buildDecoder` builds it: after BatchNorm, a learned constant input).

Each part embeds its inputs with its own Dense + BatchNorm, as the code builds them
(`shared_embeddings=False`); `shared_embeddings=True` shares one pose, direction and magnitude
embedding between the past encoder, the future decoder and the LSTM posterior (jaxvid before
2026-12, kept for its checkpoints).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxvid.poses import velocity_code

NUM_JOINTS = 18
MOTION_DIM = velocity_code.DIRECTION_DIM + velocity_code.MAGNITUDE_DIM  # 38
POSTERIORS = ("code", "paper")


class _StackedLSTM(nn.Module):
  """`num_layers` LSTMs over a (B, T, F) sequence, each layer's carry given and returned."""
  hidden: int
  num_layers: int
  dtype: jnp.dtype | None = None  # compute dtype (params stay float32)

  @nn.compact
  def __call__(self, inputs, carries=None):
    new_carries = []
    x = inputs
    for layer in range(self.num_layers):
      rnn = nn.RNN(nn.OptimizedLSTMCell(self.hidden, dtype=self.dtype), return_carry=True,
                   name=f"lstm{layer}")
      carry, x = rnn(x, initial_carry=None if carries is None else carries[layer])
      new_carries.append(carry)
    return tuple(new_carries), x.astype(jnp.float32)  # the heads run in float32


class _Embed(nn.Module):
  """Dense -> BatchNorm over every leading axis (the code's Linear + BatchNormalization)."""
  features: int

  @nn.compact
  def __call__(self, x, train: bool):
    x = nn.Dense(self.features)(x)
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)(x)


class FrameFeatures(nn.Module):
  """A small conv net over the frame X_t and its rendered pose (the code's 6-channel input)."""
  features: int = 256
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, frame, train: bool):
    x = frame
    for i, c in enumerate((32, 64, 128)):
      x = nn.relu(nn.Conv(c, (4, 4), (2, 2), dtype=self.dtype, name=f"conv{i}")(x))
    x = nn.Dense(self.features, name="proj")(jnp.mean(x.astype(jnp.float32), axis=(1, 2)))
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                        name="proj_bn")(x)


class FrameFeaturesCode(nn.Module):
  """The code's frame encoder (`buildEncoder`): conv 7x7/4 (32), max-pool 3/2, conv 5x5 (128),
  max-pool, conv 3x3 (192, 192, 128), max-pool, each conv -> ReLU -> BatchNorm; then the map
  flattened (6 x 9 x 128 on 240 x 320 frames) -> Dense 1024 -> BatchNorm."""
  features: int = 1024
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, frame, train: bool):
    bn = lambda x, name: nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                                      name=name)(x)
    pool = lambda x: nn.max_pool(x, (3, 3), (2, 2), padding="VALID")  # Torch: floor, no pad
    layers = ((32, 7, 4, 2), (128, 5, 1, 2), (192, 3, 1, 1), (192, 3, 1, 1), (128, 3, 1, 1))
    x = frame
    for i, (c, k, s, p) in enumerate(layers):
      x = nn.Conv(c, (k, k), (s, s), padding=((p, p), (p, p)), dtype=self.dtype,
                  name=f"conv{i}")(x)
      x = bn(nn.relu(x).astype(jnp.float32), f"bn{i}")
      if i in (0, 1, 4):
        x = pool(x)
    x = nn.Dense(self.features, name="fc")(x.reshape(x.shape[0], -1))
    return bn(x, "fc_bn")


class PoseVAE(nn.Module):
  hidden: int = 1024
  num_layers: int = 2
  latent: int = 4
  embed: int = 128
  image_features: int = 256
  posterior: str = "code"  # 'code' (one hidden layer over the whole future) | 'paper' (an LSTM)
  posterior_hidden: int = 256  # the code's opt.vaeHidden (posterior='code')
  future_steps: int = 5  # posterior='code' emits every step's z at once
  shared_embeddings: bool = False  # the code: every part its own embeddings
  frame_encoder: str = "small"  # 'small' | 'code' (FrameFeaturesCode)
  joint_pose_features: int = 0  # > 0: the code's Dense + BatchNorm over the joined embeddings
  q_tiling: bool = False  # the code's Q: directions tiled x10, magnitudes x100
  past_decoder_input: str = "zeros"  # 'zeros' | 'code' (zeros through Dense + BatchNorm)
  dtype: jnp.dtype | None = None  # compute dtype of the frame CNN and the LSTMs

  def setup(self):
    if self.posterior not in POSTERIORS:
      raise ValueError(f"posterior must be one of {POSTERIORS}, got {self.posterior!r}")
    if self.frame_encoder not in ("small", "code"):
      raise ValueError(f"frame_encoder must be 'small' or 'code', got {self.frame_encoder!r}")
    self.frame_features = (FrameFeaturesCode(self.image_features, self.dtype)
                           if self.frame_encoder == "code"
                           else FrameFeatures(self.image_features, self.dtype))
    if self.joint_pose_features:
      self.joint_pose = _Embed(self.joint_pose_features)
    self.pose_embed = _Embed(self.embed)
    self.direction_embed = _Embed(self.embed)
    self.magnitude_embed = _Embed(self.embed)
    self.latent_embed = _Embed(self.embed)
    if self.shared_embeddings:
      self.decoder_pose_embed = self.pose_embed
    else:
      self.decoder_pose_embed = _Embed(self.embed)
    self.past_encoder = _StackedLSTM(self.hidden, self.num_layers, self.dtype)
    self.past_decoder = _StackedLSTM(self.hidden, self.num_layers, self.dtype)
    if self.past_decoder_input not in ("zeros", "code"):
      raise ValueError(f"past_decoder_input must be 'zeros' or 'code', got "
                       f"{self.past_decoder_input!r}")
    if self.past_decoder_input == "code":
      self.past_latent_embed, self.past_pose_embed = _Embed(self.embed), _Embed(self.embed)
    self.future_decoder = _StackedLSTM(self.hidden, self.num_layers, self.dtype)
    self.past_direction_out = nn.Dense(velocity_code.DIRECTION_DIM)
    self.past_magnitude_out = nn.Dense(velocity_code.MAGNITUDE_DIM)
    self.direction_out = nn.Dense(velocity_code.DIRECTION_DIM)
    self.magnitude_out = nn.Dense(velocity_code.MAGNITUDE_DIM)
    if self.posterior == "code" and self.q_tiling:  # buildVAE: Linear(n, n) + BN, tiled
      self.q_directions = _Embed(velocity_code.DIRECTION_DIM * self.future_steps)
      self.q_magnitudes = _Embed(velocity_code.MAGNITUDE_DIM * self.future_steps)
      self.q_hidden = nn.Dense(self.posterior_hidden)
    elif self.posterior == "code":
      self.q_directions = _Embed(self.embed)
      self.q_magnitudes = _Embed(self.embed)
      self.q_hidden = nn.Dense(self.posterior_hidden)
    else:
      self.future_encoder = _StackedLSTM(self.hidden, self.num_layers, self.dtype)
      if self.shared_embeddings:
        self.q_pose_embed, self.q_direction_embed, self.q_magnitude_embed = (
            self.pose_embed, self.direction_embed, self.magnitude_embed)
      else:
        self.q_pose_embed, self.q_direction_embed, self.q_magnitude_embed = (
            _Embed(self.embed), _Embed(self.embed), _Embed(self.embed))
    out = self.latent * (self.future_steps if self.posterior == "code" else 1)
    self.q_mean = nn.Dense(out)
    self.q_log_var = nn.Dense(out)

  def _flat(self, x):
    return x.reshape(x.shape[:2] + (-1,))

  def _motion_embed(self, motion, train, direction_embed, magnitude_embed):
    d = velocity_code.DIRECTION_DIM
    return [direction_embed(motion[..., :d], train), magnitude_embed(motion[..., d:], train)]

  def _heads(self, out, direction_out, magnitude_out):
    return jnp.concatenate([direction_out(out), magnitude_out(out)], axis=-1)

  def encode_past(self, frame, past_poses, past_motion, train: bool = False):
    """frame (B, H, W, 6) = X_t and its rendered pose; past_poses (B, t, 18, 3); past_motion
    (B, t, 38) -> H_t."""
    steps = past_poses.shape[1]
    image = jnp.broadcast_to(self.frame_features(frame, train)[:, None],
                             (frame.shape[0], steps, self.image_features))
    poses = jnp.concatenate([self.pose_embed(self._flat(past_poses), train),
                             *self._motion_embed(past_motion, train, self.direction_embed,
                                                 self.magnitude_embed)], -1)
    if self.joint_pose_features:
      poses = self.joint_pose(poses, train)
    inputs = jnp.concatenate([image, poses], -1)
    carries, _ = self.past_encoder(inputs)
    return carries

  def reconstruct_past(self, state, steps: int, train: bool = False):
    """The past motion in reverse order, decoded from H_t alone (zeros in, as in the code).
    Returns (B, t, 38), reversed in time."""
    batch = state[0][0].shape[0]
    inputs = jnp.zeros((batch, steps, 2 * self.embed), jnp.float32)
    if self.past_decoder_input == "code":
      inputs = jnp.concatenate(
          [self.past_latent_embed(jnp.zeros((batch, steps, self.latent)), train),
           self.past_pose_embed(jnp.zeros((batch, steps, 3 * NUM_JOINTS)), train)], -1)
    _, out = self.past_decoder(inputs, state)
    return self._heads(out, self.past_direction_out, self.past_magnitude_out)

  def posterior_params(self, state, future_poses, future_motion, train: bool = False):
    """mu, log sigma^2 of Q(z | H_t, future), each (B, T, latent)."""
    batch, steps = future_motion.shape[:2]
    if self.posterior == "code":
      d = velocity_code.DIRECTION_DIM
      summary = [self.q_directions(future_motion[..., :d].reshape(batch, -1), train),
                 self.q_magnitudes(future_motion[..., d:].reshape(batch, -1), train)]
      if self.q_tiling:
        summary = [jnp.tile(summary[0], (1, 10)), jnp.tile(summary[1], (1, 100))]
      summary += [carry[1].astype(jnp.float32) for carry in state]  # h of every layer
      hidden = nn.relu(self.q_hidden(jnp.concatenate(summary, -1)))
      if steps != self.future_steps:
        raise ValueError(f"posterior='code' is built for {self.future_steps} future steps, "
                         f"got {steps}")
      shape = (batch, steps, self.latent)
      return self.q_mean(hidden).reshape(shape), self.q_log_var(hidden).reshape(shape)
    inputs = jnp.concatenate([*self._motion_embed(future_motion, train, self.q_direction_embed,
                                                  self.q_magnitude_embed),
                              self.q_pose_embed(self._flat(future_poses), train)], -1)
    _, out = self.future_encoder(inputs, state)
    return self.q_mean(out), self.q_log_var(out)

  def decode_future(self, state, z, poses, train: bool = False):
    """z (B, T, latent); poses (B, T, 18, 3), the pose each step starts from -> (B, T, 38)."""
    inputs = jnp.concatenate([self.latent_embed(z, train),
                              self.decoder_pose_embed(self._flat(poses), train)], -1)
    _, out = self.future_decoder(inputs, state)
    return self._heads(out, self.direction_out, self.magnitude_out)

  def __call__(self, frame, past_poses, past_motion, future_poses, future_motion,
               train: bool = True):
    """Training pass: the past reconstruction (reversed), mu, log sigma^2 and the future motion
    decoded from z ~ Q (reparameterised with the 'latent' rng)."""
    state = self.encode_past(frame, past_poses, past_motion, train)
    mean, log_var = self.posterior_params(state, future_poses, future_motion, train)
    eps = jax.random.normal(self.make_rng("latent"), mean.shape, mean.dtype)
    z = mean + jnp.exp(0.5 * log_var) * eps
    return {"past_reversed": self.reconstruct_past(state, past_poses.shape[1], train),
            "mean": mean,
            "log_var": log_var, "future_motion": self.decode_future(state, z, future_poses, train)}

  def posterior_sample(self, frame, past_poses, past_motion, future_poses, future_motion):
    """z ~ Q(z | past, true future) (the 'latent' rng), at test time: (B, T, latent)."""
    state = self.encode_past(frame, past_poses, past_motion)
    mean, log_var = self.posterior_params(state, future_poses, future_motion)
    return mean + jnp.exp(0.5 * log_var) * jax.random.normal(self.make_rng("latent"), mean.shape)

  def forecast(self, frame, past_poses, past_motion, num_steps: int, z=None):
    """Test time: z_k ~ N(0, I) (the 'latent' rng) unless `z` (B, num_steps, latent) is given;
    poses integrated from the decoded velocities step by step. Returns (velocities
    (B, T, 18, 2), poses (B, T + 1, 18, 3))."""
    state = self.encode_past(frame, past_poses, past_motion)
    batch = frame.shape[0]
    if z is None:
      z = jax.random.normal(self.make_rng("latent"), (batch, num_steps, self.latent))
    pose = past_poses[:, -1]
    poses, velocities = [pose], []
    for k in range(num_steps):  # short horizons (5 steps in the code): a Python loop is fine
      inputs = jnp.concatenate([self.latent_embed(z[:, k:k + 1], False),
                                self.decoder_pose_embed(self._flat(pose[:, None]), False)], -1)
      state, out = self.future_decoder(inputs, state)
      motion = self._heads(out, self.direction_out, self.magnitude_out)[:, 0]
      velocity = velocity_code.decode_flat(motion)
      pose = pose.at[..., :2].add(velocity)
      velocities.append(velocity)
      poses.append(pose)
    return jnp.stack(velocities, 1), jnp.stack(poses, 1)
