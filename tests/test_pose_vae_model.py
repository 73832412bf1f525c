"""Pose-VAE shapes, the reverse-order past decoder, and forecasting by integration."""
import jax
import jax.numpy as jnp
import numpy as np

from jaxvid.models.pose_vae import PoseVAE

B, PAST, FUTURE = 2, 2, 5


def _inputs(seed=0):
  rng = np.random.default_rng(seed)
  frame = jnp.asarray(rng.uniform(-1, 1, (B, 32, 32, 3)), jnp.float32)
  poses = jnp.asarray(rng.uniform(0, 1, (B, PAST + FUTURE + 1, 18, 3)), jnp.float32)
  velocities = poses[:, 1:, :, :2] - poses[:, :-1, :, :2]
  return (frame, poses[:, :PAST], velocities[:, :PAST], poses[:, PAST:PAST + FUTURE],
          velocities[:, PAST:PAST + FUTURE])


def _model(**kw):
  return PoseVAE(hidden=16, num_layers=2, latent=4, embed=8, image_features=8, **kw)


def test_training_pass_shapes():
  model = _model()
  args = _inputs()
  variables = model.init({"params": jax.random.key(0), "latent": jax.random.key(1)}, *args)
  out = model.apply(variables, *args, rngs={"latent": jax.random.key(2)})
  assert out["past_reversed"].shape == (B, PAST, 18, 2)
  assert out["mean"].shape == out["log_var"].shape == (B, FUTURE, 4)
  assert out["future_velocities"].shape == (B, FUTURE, 18, 2)
  # the posterior sees the future: changing future velocities changes mu
  frame, pp, pv, fp, fv = args
  out2 = model.apply(variables, frame, pp, pv, fp, fv + 1.0, rngs={"latent": jax.random.key(2)})
  assert not np.allclose(out["mean"], out2["mean"])
  # the code's variant: Q without future poses has fewer inputs (smaller first LSTM kernel)
  code_variant = _model(future_poses_in_q=False)
  v2 = code_variant.init({"params": jax.random.key(0), "latent": jax.random.key(1)}, *args)
  out3 = code_variant.apply(v2, frame, pp, pv, fp + 1.0, fv, rngs={"latent": jax.random.key(2)})
  out4 = code_variant.apply(v2, *args, rngs={"latent": jax.random.key(2)})
  np.testing.assert_allclose(out3["mean"], out4["mean"], atol=1e-6)  # future poses ignored by Q


def test_forecast_integrates_its_own_velocities_and_samples_diverse_futures():
  model = _model()
  frame, pp, pv, fp, fv = _inputs()
  variables = model.init({"params": jax.random.key(0), "latent": jax.random.key(1)},
                         frame, pp, pv, fp, fv)
  forecast = lambda key: model.apply(variables, frame, pp, pv, FUTURE, rngs={"latent": key},
                                     method=PoseVAE.forecast)
  velocities, poses = forecast(jax.random.key(3))
  assert velocities.shape == (B, FUTURE, 18, 2) and poses.shape == (B, FUTURE + 1, 18, 3)
  np.testing.assert_allclose(poses[:, 0], pp[:, -1])
  np.testing.assert_allclose(poses[:, 1:, :, :2] - poses[:, :-1, :, :2], velocities, atol=1e-5)
  np.testing.assert_allclose(poses[..., 2], np.broadcast_to(pp[:, -1:, :, 2], poses[..., 2].shape))
  other, _ = forecast(jax.random.key(4))
  assert not np.allclose(velocities, other)  # different z, different future
