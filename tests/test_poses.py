"""COCO-18 pose algebra and skeleton rendering."""
import numpy as np
import pytest

from jaxvid.poses import keypoints as kp
from jaxvid.poses import render


def test_velocities_and_integration_are_inverse():
  rng = np.random.default_rng(0)
  poses = rng.uniform(0, 100, (7, 18, 2))
  vel = kp.velocities(poses)
  assert vel.shape == (6, 18, 2)
  np.testing.assert_allclose(vel[2], poses[3] - poses[2])
  np.testing.assert_allclose(kp.integrate(poses[0], vel), poses, atol=1e-9)
  # confidences are ignored, batched inputs work
  with_conf = np.concatenate([poses, np.ones((7, 18, 1))], -1)[None]
  np.testing.assert_allclose(kp.velocities(with_conf)[0], vel)
  np.testing.assert_allclose(kp.integrate(with_conf[:, 0], vel[None])[0], poses, atol=1e-9)


def test_flip_mirrors_x_and_swaps_sides():
  rng = np.random.default_rng(1)
  pose = np.concatenate([rng.uniform(0, 63, (18, 2)), rng.uniform(0, 1, (18, 1))], -1)
  flipped = kp.flip_horizontal(pose, width=64)
  r, l = kp.JOINT["r_wrist"], kp.JOINT["l_wrist"]
  np.testing.assert_allclose(flipped[r], [63 - pose[l, 0], pose[l, 1], pose[l, 2]], rtol=1e-6)
  np.testing.assert_allclose(flipped[kp.JOINT["nose"], 0], 63 - pose[kp.JOINT["nose"], 0],
                             rtol=1e-6)
  np.testing.assert_allclose(kp.flip_horizontal(flipped, 64), pose, rtol=1e-6)
  assert sorted(kp.MIRROR) == list(range(18))


def test_limbs_connect_every_joint():
  reached, frontier = {kp.JOINT["neck"]}, [kp.JOINT["neck"]]
  while frontier:
    j = frontier.pop()
    for a, b in kp.LIMBS:
      for x, y in ((a, b), (b, a)):
        if x == j and y not in reached:
          reached.add(y)
          frontier.append(y)
  assert reached == set(range(18)) and len(kp.LIMBS) == 17


def _t_pose(height=64, width=64):
  pose = np.zeros((18, 3))
  pose[:, 2] = 1.0
  cx = width / 2
  coords = {"nose": (cx, 10), "neck": (cx, 18), "r_shoulder": (cx - 8, 18),
            "r_elbow": (cx - 16, 18), "r_wrist": (cx - 24, 18), "l_shoulder": (cx + 8, 18),
            "l_elbow": (cx + 16, 18), "l_wrist": (cx + 24, 18), "r_hip": (cx - 5, 38),
            "r_knee": (cx - 5, 48), "r_ankle": (cx - 5, 58), "l_hip": (cx + 5, 38),
            "l_knee": (cx + 5, 48), "l_ankle": (cx + 5, 58), "r_eye": (cx - 2, 8),
            "l_eye": (cx + 2, 8), "r_ear": (cx - 4, 9), "l_ear": (cx + 4, 9)}
  for name, xy in coords.items():
    pose[kp.JOINT[name], :2] = xy
  return pose


def test_render_skeleton_draws_each_limb_in_its_colour():
  pose = _t_pose()
  video = render.render_skeleton(np.stack([pose, pose]), 64, 64, thickness=1.5)
  assert video.shape == (2, 64, 64, 3) and video.dtype == np.uint8
  limb = kp.LIMBS.index((kp.JOINT["r_knee"], kp.JOINT["r_ankle"]))
  colour = np.round(np.asarray(render.LIMB_COLOURS[limb]) * 255)
  np.testing.assert_allclose(video[0, 53, 27], colour, atol=1)  # middle of the right shin
  assert video[0, 30, 5].sum() == 0  # background stays black
  assert 0.03 < (video[0].sum(-1) > 0).mean() < 0.3


def test_render_skeleton_leaves_out_unconfident_joints_and_checks_shapes():
  pose = _t_pose()
  pose[kp.JOINT["r_ankle"], 2] = 0.0
  video = render.render_skeleton(pose[None], 64, 64, thickness=1.5)
  assert video[0, 55, 27].sum() == 0  # shin gone with its ankle
  assert video[0, 43, 27].sum() > 0  # thigh still there
  assert render.render_skeleton(np.zeros((1, 18, 3)), 8, 8).sum() == 0
  with pytest.raises(ValueError, match="keypoints must be"):
    render.render_skeleton(np.zeros((1, 17, 2)), 8, 8)


def test_jax_renderer_matches_the_numpy_one():
  from jaxvid.data import synthetic_dancer
  clip = synthetic_dancer.render_clip(3, 5, 4, 48, 40, subject_id=1)
  keypoints = clip["keypoints"].copy()
  keypoints[1, 4, 2] = 0.0  # a joint the renderer must leave out
  expected = render.render_skeleton(keypoints, 48, 40)
  got = np.asarray(render.render_skeleton_jax(keypoints[None], 48, 40))[0]
  assert got.shape == (4, 48, 40, 3) and got.dtype == np.float32
  got_uint8 = np.round(got * 255).astype(np.int32)
  assert np.abs(got_uint8 - expected).max() <= 1
  assert (got_uint8 != expected).mean() < 0.01
  assert expected.sum() > 0  # the figure is really drawn


# ---------------------------------------------------------------- the code's velocity encoding

def test_velocity_code_matches_the_authors_formula_and_inverts_exactly():
  from jaxvid.poses import velocity_code as vc
  rng = np.random.default_rng(0)
  velocities = rng.normal(0, 0.02, (4, 5, 18, 2)).astype(np.float32)
  direction, magnitude = vc.encode(velocities)
  dx, dy = velocities[..., 0], velocities[..., 1]
  ndx, ndy = np.linalg.norm(dx, axis=-1), np.linalg.norm(dy, axis=-1)
  np.testing.assert_allclose(direction[..., :18], 5 * dx / ndx[..., None], rtol=1e-5)
  np.testing.assert_allclose(direction[..., 18:], 5 * dy / ndy[..., None], rtol=1e-5)
  np.testing.assert_allclose(magnitude, (np.exp(np.stack([ndx, ndy], -1)) - 1.1) / 0.1,
                             atol=1e-5)
  np.testing.assert_allclose(vc.decode(direction, magnitude), velocities, atol=1e-7)
  np.testing.assert_allclose(vc.decode_flat(vc.encode_flat(velocities)), velocities, atol=1e-7)
  still = np.zeros((2, 18, 2), np.float32)  # no motion: direction 0, magnitude -1, decodes to 0
  d0, m0 = vc.encode(still)
  assert np.all(np.asarray(d0) == 0) and np.allclose(m0, -1.0)
  np.testing.assert_array_equal(vc.decode(d0, m0), still)


def test_velocity_code_cleans_glitches_and_clamps_negative_norms():
  from jaxvid.poses import velocity_code as vc
  glitch = np.zeros((2, 18, 2), np.float32)
  glitch[0, 3, 0] = np.nan
  glitch[1] = 0.3  # |dx| = |dy| = 0.3 * sqrt(18): exp(1.27) -> magnitude 24.6, beyond 10
  direction, magnitude = vc.encode(glitch)
  assert np.all(np.isfinite(direction)) and np.all(np.isfinite(magnitude))
  assert np.all(np.asarray(direction[0]) == 0) and np.all(np.asarray(magnitude[1]) == 0)
  # a predicted magnitude below -1 would be a negative norm: clamped to norm 0
  np.testing.assert_array_equal(vc.decode(np.ones((1, 36)), np.full((1, 2), -3.0)),
                                np.zeros((1, 18, 2)))
