"""Pose-VAE shapes, the two posteriors, the zero-fed past decoder, and forecasting by
integration of the decoded (direction, magnitude) motion."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvid.models.pose_vae import MOTION_DIM, PoseVAE
from jaxvid.poses import velocity_code

B, PAST, FUTURE = 3, 2, 5


def _inputs(seed=0):
  rng = np.random.default_rng(seed)
  frame = jnp.asarray(rng.uniform(-1, 1, (B, 32, 32, 6)), jnp.float32)  # RGB + rendered pose
  poses = jnp.asarray(rng.uniform(0, 1, (B, PAST + FUTURE + 1, 18, 3)), jnp.float32)
  motion = velocity_code.encode_flat(poses[:, 1:, :, :2] - poses[:, :-1, :, :2])
  return (frame, poses[:, :PAST], motion[:, :PAST], poses[:, PAST:PAST + FUTURE],
          motion[:, PAST:PAST + FUTURE])


def _model(**kw):
  return PoseVAE(hidden=16, num_layers=2, latent=4, embed=8, image_features=8,
                 posterior_hidden=16, future_steps=FUTURE, **kw)


def _init(model, args):
  return model.init({"params": jax.random.key(0), "latent": jax.random.key(1)}, *args)


@pytest.mark.parametrize("posterior", ["code", "paper"])
def test_training_pass_shapes_and_what_each_posterior_sees(posterior):
  model = _model(posterior=posterior)
  args = _inputs()
  variables = _init(model, args)
  assert "batch_stats" in variables  # the embeddings' BatchNorm (the code)
  apply = lambda *a: model.apply(variables, *a, rngs={"latent": jax.random.key(2)},
                                 mutable=["batch_stats"])[0]
  out = apply(*args)
  assert out["past_reversed"].shape == (B, PAST, MOTION_DIM)
  assert out["mean"].shape == out["log_var"].shape == (B, FUTURE, 4)
  assert out["future_motion"].shape == (B, FUTURE, MOTION_DIM)
  frame, pp, pm, fp, fm = args
  moved = apply(frame, pp, pm, fp, fm.at[:, -1].add(1.0))  # Q sees the future motion
  assert not np.allclose(out["mean"], moved["mean"])
  poses_moved = apply(frame, pp, pm, fp.at[:, 1:].add(0.5), fm)
  if posterior == "code":  # the code's Q: H_t and the future motion only, all steps at once
    np.testing.assert_allclose(out["mean"], poses_moved["mean"], atol=1e-6)
    only_last = apply(frame, pp, pm, fp, fm.at[:, -1].add(1.0))
    assert not np.allclose(out["mean"][:, 0], only_last["mean"][:, 0])  # one layer, every step
  else:  # the paper's Q also sees the future poses
    assert not np.allclose(out["mean"], poses_moved["mean"])


def test_past_decoder_is_fed_zeros_not_the_past():
  """The code feeds its past decoder zeros: the reconstruction depends on H_t alone, so the same
  H_t gives the same reconstruction whatever past motion is to be reconstructed."""
  model = _model()
  args = _inputs()
  variables = _init(model, args)
  run = lambda state: model.apply(variables, state, PAST, method=PoseVAE.reconstruct_past)
  state = model.apply(variables, *args[:3], method=PoseVAE.encode_past)
  np.testing.assert_array_equal(run(state), run(state))
  other = model.apply(variables, *_inputs(seed=5)[:3], method=PoseVAE.encode_past)
  assert not np.allclose(run(state), run(other))


def test_forecast_integrates_the_decoded_velocities_and_z_sets_the_future():
  model = _model()
  frame, pp, pm, fp, fm = _inputs()
  variables = _init(model, (frame, pp, pm, fp, fm))
  forecast = lambda key, z=None: model.apply(variables, frame, pp, pm, FUTURE, z,
                                             rngs={"latent": key}, method=PoseVAE.forecast)
  velocities, poses = forecast(jax.random.key(3))
  assert velocities.shape == (B, FUTURE, 18, 2) and poses.shape == (B, FUTURE + 1, 18, 3)
  np.testing.assert_allclose(poses[:, 0], pp[:, -1])
  np.testing.assert_allclose(poses[:, 1:, :, :2] - poses[:, :-1, :, :2], velocities, atol=1e-5)
  np.testing.assert_allclose(poses[..., 2], np.broadcast_to(pp[:, -1:, :, 2], poses[..., 2].shape))
  other, _ = forecast(jax.random.key(4))
  assert not np.allclose(velocities, other)  # different z, different future
  z = jnp.ones((B, FUTURE, 4))
  np.testing.assert_allclose(forecast(jax.random.key(3), z)[0], forecast(jax.random.key(9), z)[0])


def test_code_posterior_is_built_for_its_horizon():
  model = _model()
  frame, pp, pm, fp, fm = _inputs()
  with pytest.raises(ValueError, match="5 future steps"):
    _init(model, (frame, pp, pm, fp[:, :3], fm[:, :3]))
  with pytest.raises(ValueError, match="posterior must be one of"):
    _init(_model(posterior="lstm"), (frame, pp, pm, fp, fm))


@pytest.mark.parametrize("posterior", ["code", "paper"])
def test_every_part_has_its_own_embeddings_as_the_code_unless_shared(posterior):
  """buildModels.lua gives the past encoder, the future decoder and (an LSTM) Q their own
  Linear + BatchNorm of the pose and motion; shared_embeddings=True keeps one of each."""
  args = _inputs()
  own = _init(_model(posterior=posterior), args)["params"]
  shared = _init(_model(posterior=posterior, shared_embeddings=True), args)["params"]
  extra = {"decoder_pose_embed"} | ({"q_pose_embed", "q_direction_embed", "q_magnitude_embed"}
                                    if posterior == "paper" else set())
  assert set(own) - set(shared) == extra and not set(shared) - set(own)
  for name in extra:  # a Dense over the flattened pose (54) or motion, then BatchNorm
    assert set(own[name]) == {"Dense_0", "BatchNorm_0"}
  assert own["decoder_pose_embed"]["Dense_0"]["kernel"].shape == (54, 8)
  # the decoder reads its own embedding: changing the encoder's leaves the forecast's first
  # decoder input, but not H_t, the same -- so perturb the decoder's and see the output move
  model = _model(posterior=posterior)
  variables = _init(model, args)
  frame, pp, pm = args[:3]
  z = jnp.zeros((B, FUTURE, 4))
  run = lambda v: model.apply(v, frame, pp, pm, FUTURE, z, method=PoseVAE.forecast)[1]
  base = run(variables)
  bumped = jax.tree_util.tree_map(lambda x: x, variables)
  bumped["params"]["decoder_pose_embed"]["Dense_0"]["bias"] = (
      bumped["params"]["decoder_pose_embed"]["Dense_0"]["bias"] + 1.0)
  assert not np.allclose(base, run(bumped))
  np.testing.assert_allclose(base[:, 0], run(bumped)[:, 0])  # the present pose is given
