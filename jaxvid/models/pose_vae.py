"""The Pose Knows: pose-VAE for forecasting pose futures (Walker et al. 2017).

Poses are COCO-18 (x, y, conf) = 54 numbers per frame, velocities (dx, dy) = 36, both in
normalized image coordinates. Four recurrent parts share one hidden size (paper: 2 LSTM layers
of 1024):

* past encoder: LSTM over [image features of the current frame X_t ; emb(P_k) ; emb(Y_k)] for
  the past steps k = 1..t -> final state H_t (one (c, h) per layer);
* past decoder: LSTM started from H_t that reconstructs the past velocities in *reverse* order
  (an auxiliary task that makes H_t summarise the motion; unused at test time);
* future encoder Q: LSTM started from H_t over [emb(Y_k) ; emb(P_k)] for the future steps
  (the paper also feeds the future poses; `future_poses_in_q=False` is the code's variant) ->
  mu, log sigma^2 of a `latent`-d z_k per step;
* future decoder: LSTM started from H_t, input [z_k ; emb(P_k)] per step -> velocity Y_k.
  Training feeds the ground-truth poses; `forecast` integrates its own predictions instead.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

NUM_JOINTS = 18


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


class FrameFeatures(nn.Module):
  """A small conv net: the image features of the current frame (the paper uses a CNN too)."""
  features: int = 256
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, frame):
    x = frame
    for i, c in enumerate((32, 64, 128)):
      x = nn.relu(nn.Conv(c, (4, 4), (2, 2), dtype=self.dtype, name=f"conv{i}")(x))
    return nn.Dense(self.features, name="proj")(jnp.mean(x.astype(jnp.float32), axis=(1, 2)))


class PoseVAE(nn.Module):
  hidden: int = 1024
  num_layers: int = 2
  latent: int = 4
  embed: int = 128
  image_features: int = 256
  future_poses_in_q: bool = True
  dtype: jnp.dtype | None = None  # compute dtype of the frame CNN and the LSTMs

  def setup(self):
    self.frame_features = FrameFeatures(self.image_features, self.dtype)
    self.pose_embed = nn.Dense(self.embed)
    self.velocity_embed = nn.Dense(self.embed)
    self.past_encoder = _StackedLSTM(self.hidden, self.num_layers, self.dtype)
    self.past_decoder = _StackedLSTM(self.hidden, self.num_layers, self.dtype)
    self.past_out = nn.Dense(NUM_JOINTS * 2)
    self.future_encoder = _StackedLSTM(self.hidden, self.num_layers, self.dtype)
    self.posterior = nn.Dense(2 * self.latent)
    self.future_decoder = _StackedLSTM(self.hidden, self.num_layers, self.dtype)
    self.future_out = nn.Dense(NUM_JOINTS * 2)

  def _flat(self, x):
    return x.reshape(x.shape[:2] + (-1,))

  def encode_past(self, frame, past_poses, past_velocities):
    """frame (B, H, W, 3); past_poses (B, t, 18, 3); past_velocities (B, t, 18, 2) -> H_t."""
    steps = past_poses.shape[1]
    image = jnp.broadcast_to(self.frame_features(frame)[:, None],
                             (frame.shape[0], steps, self.image_features))
    inputs = jnp.concatenate([image, self.pose_embed(self._flat(past_poses)),
                              self.velocity_embed(self._flat(past_velocities))], -1)
    carries, _ = self.past_encoder(inputs)
    return carries

  def reconstruct_past(self, state, past_velocities):
    """Past velocities in reverse order, decoded from H_t (teacher-forced by the previous
    reversed velocity, zeros first). Returns (B, t, 18, 2), reversed in time."""
    reversed_velocities = past_velocities[:, ::-1]
    shifted = jnp.concatenate([jnp.zeros_like(reversed_velocities[:, :1]),
                               reversed_velocities[:, :-1]], axis=1)
    _, out = self.past_decoder(self.velocity_embed(self._flat(shifted)), state)
    return self.past_out(out).reshape(reversed_velocities.shape)

  def posterior_params(self, state, future_poses, future_velocities):
    parts = [self.velocity_embed(self._flat(future_velocities))]
    if self.future_poses_in_q:
      parts.append(self.pose_embed(self._flat(future_poses)))
    _, out = self.future_encoder(jnp.concatenate(parts, -1), state)
    mean, log_var = jnp.split(self.posterior(out), 2, axis=-1)
    return mean, log_var

  def decode_future(self, state, z, poses):
    """z (B, T, latent); poses (B, T, 18, 3), the pose each velocity starts from."""
    _, out = self.future_decoder(jnp.concatenate([z, self.pose_embed(self._flat(poses))], -1),
                                 state)
    return self.future_out(out).reshape(poses.shape[:2] + (NUM_JOINTS, 2))

  def __call__(self, frame, past_poses, past_velocities, future_poses, future_velocities):
    """Training pass: returns the past reconstruction (reversed), mu, log sigma^2 and the
    future velocities decoded from z ~ Q (reparameterised with the 'latent' rng)."""
    state = self.encode_past(frame, past_poses, past_velocities)
    mean, log_var = self.posterior_params(state, future_poses, future_velocities)
    eps = jax.random.normal(self.make_rng("latent"), mean.shape, mean.dtype)
    z = mean + jnp.exp(0.5 * log_var) * eps
    return {"past_reversed": self.reconstruct_past(state, past_velocities), "mean": mean,
            "log_var": log_var, "future_velocities": self.decode_future(state, z, future_poses)}

  def forecast(self, frame, past_poses, past_velocities, num_steps: int):
    """Test time: z_k ~ N(0, I) (the 'latent' rng), poses integrated from the predicted
    velocities step by step. Returns (velocities (B, T, 18, 2), poses (B, T + 1, 18, 3))."""
    state = self.encode_past(frame, past_poses, past_velocities)
    batch = frame.shape[0]
    z = jax.random.normal(self.make_rng("latent"), (batch, num_steps, self.latent))
    pose = past_poses[:, -1]
    poses, velocities = [pose], []
    for k in range(num_steps):  # short horizons (5 steps in the code): a Python loop is fine
      state, out = self.future_decoder(
          jnp.concatenate([z[:, k:k + 1], self.pose_embed(self._flat(pose[:, None]))], -1), state)
      velocity = self.future_out(out).reshape(batch, NUM_JOINTS, 2)
      pose = pose.at[..., :2].add(velocity)
      velocities.append(velocity)
      poses.append(pose)
    return jnp.stack(velocities, 1), jnp.stack(poses, 1)
