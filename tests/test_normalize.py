"""EDN pose normalization on synthetic people of known heights and camera placements."""
import numpy as np
import pytest

from jaxvid.poses import normalize
from jaxvid.poses.keypoints import JOINT


def walker(height_px, horizon, ground_far, ground_close, frames=120, x=100.0, phase=0.0):
  """Poses of a person walking between two ground lines (y of the ankles), with perspective:
  the apparent height grows linearly with the distance of the ankles below the horizon."""
  t = np.arange(frames)
  ground = ground_far + (ground_close - ground_far) * (0.5 - 0.5 * np.cos(2 * np.pi * t / 60 + phase))
  h = height_px * (ground - horizon) / (ground_close - horizon)
  kp = np.zeros((frames, 18, 3))
  kp[..., 2] = 1.0
  kp[..., 0] = x
  for name, frac in (("nose", 1.0), ("neck", 0.87), ("r_hip", 0.5), ("l_hip", 0.5),
                     ("r_knee", 0.27), ("l_knee", 0.27), ("r_ankle", 0.0), ("l_ankle", 0.0)):
    kp[:, JOINT[name], 1] = ground - frac * h
  kp[:, JOINT["l_ankle"], 1] -= 3.0  # one foot slightly raised: the lower one counts
  return kp, ground, h


def test_stats_find_close_far_and_heights():
  kp, ground, h = walker(200, 50, 300, 400)
  s = normalize.video_stats(kp, alpha=1.0)
  assert s.close == pytest.approx(400, abs=0.1) and s.far == pytest.approx(300, abs=0.5)
  assert s.close_height == pytest.approx(200, rel=0.01)
  assert s.far_height == pytest.approx(200 * 250 / 350, rel=0.01)
  assert s.ankle_x == pytest.approx(100)
  # alpha bounds the far position: median 350, |close - median| 50 -> far >= 350 - 0.5 * 50
  assert normalize.video_stats(kp, alpha=0.5).far == pytest.approx(325, abs=1.0)


def test_source_is_mapped_onto_target_heights_and_ground():
  source, src_ground, _ = walker(150, 100, 220, 300, x=60.0)  # short person, far camera
  target, _, _ = walker(240, 40, 280, 460, x=200.0, phase=1.0)  # tall person, close camera
  out = normalize.normalize(source, target, alpha=1.0, smooth_window=1, x_align="median")
  t = normalize.video_stats(target, alpha=1.0)
  ankle_y, ankle_x = normalize.ankles(out)
  heights = normalize.person_heights(out)
  # ground positions land on the target's range, linearly
  u = (src_ground - 220) / 80
  np.testing.assert_allclose(ankle_y, t.far + u * (t.close - t.far), atol=0.5)
  np.testing.assert_allclose(np.median(ankle_x), 200, atol=0.5)
  # heights: the target's own height at that ground position (exact at far/close, within 3%
  # between, where the interpolated scale is linear and the perspective height is not)
  target_height_there = 240 * (ankle_y - 40) / (460 - 40)
  assert np.abs(heights / target_height_there - 1).max() < 0.03
  ends = (u < 0.01) | (u > 0.99)
  assert np.abs(heights[ends] / target_height_there[ends] - 1).max() < 0.01


def test_median_smoothing_removes_a_glitch_and_missing_poses_are_clear_errors():
  kp, _, _ = walker(200, 50, 300, 400)
  glitched = kp.copy()
  glitched[30, JOINT["nose"], 1] -= 80
  out = normalize.normalize(glitched, kp, alpha=1.0, smooth_window=5, x_align="median")
  clean = normalize.normalize(kp, kp, alpha=1.0, smooth_window=5, x_align="median")
  assert abs(out[30, JOINT["nose"], 1] - clean[30, JOINT["nose"], 1]) < 2.0
  blind = kp.copy()
  blind[..., 2] = 0.0
  with pytest.raises(ValueError, match="at least 2 frames"):
    normalize.video_stats(blind)


def test_a_wide_source_lands_in_a_small_target_frame_and_crosses_it():
  """A 640x360 source whose dancer walks from the left third to the right third, onto a 64x64
  target: every joint inside the frame, the crossing scaled by the body's factor about the
  centre, the body at the target's heights."""
  source, _, _ = walker(200, 40, 250, 340, frames=60)
  source[..., 0] = np.linspace(200, 440, 60)[:, None]  # crosses the source frame's middle
  target, _, _ = walker(40, 10, 50, 60, x=32.0, phase=0.5)
  out = normalize.normalize(source, target, alpha=1.0, smooth_window=1, source_width=640,
                            target_width=64)
  body = out[:, [JOINT[j] for j in ("nose", "neck", "r_hip", "r_knee", "r_ankle", "l_ankle")]]
  assert (body[..., 0] >= 0).all() and (body[..., 0] < 64).all()
  assert (body[..., 1] >= 0).all() and (body[..., 1] < 64).all()
  heights = normalize.person_heights(out)
  scale = heights / normalize.person_heights(source)
  # x about the centres: x' - 32 = scale (x - 320)
  np.testing.assert_allclose(out[:, 0, 0] - 32, scale * (source[:, 0, 0] - 320), atol=1e-3)
  assert out[0, 0, 0] < 32 < out[-1, 0, 0]
  t = normalize.video_stats(target, alpha=1.0)
  assert t.far_height * 0.97 < heights.min() and heights.max() < t.close_height * 1.03
  with pytest.raises(ValueError, match="source_width"):
    normalize.normalize(source, target)


def test_one_bad_ankle_far_outside_the_range_cannot_flip_the_body():
  source, _, _ = walker(200, 40, 250, 340, frames=60)
  source[10, JOINT["r_ankle"], 1] = -5000.0  # a wild detection
  source[10, JOINT["l_ankle"], 1] = -5000.0
  target, _, _ = walker(40, 10, 50, 60, x=32.0)
  out = normalize.normalize(source, target, alpha=1.0, smooth_window=1, source_width=640,
                            target_width=64)
  assert (normalize.person_heights(out[[9, 11]]) > 0).all()
  assert np.isfinite(out).all()


def test_a_dancer_crossing_a_wide_frame_crosses_a_square_one_and_stays_inside():
  """16:9 source, edge to edge; square target: the travel is compressed to fit, the body's
  scale is not."""
  source, _, _ = walker(200, 40, 250, 340, frames=60)
  placed = [JOINT[j] for j in ("nose", "neck", "r_hip", "l_hip", "r_knee", "l_knee", "r_ankle",
                                "l_ankle")]
  source[:, [j for j in range(18) if j not in placed], 2] = 0.0  # only joints the walker places
  source[..., 0] = np.linspace(40, 600, 60)[:, None] + np.linspace(-20, 20, 18)[None]
  target, _, _ = walker(40, 10, 50, 60, x=32.0, phase=0.5)
  kwargs = dict(alpha=1.0, smooth_window=1, source_width=640, target_width=64)
  loose = normalize.normalize(source, target, fit_width=False, **kwargs)
  fitted = normalize.normalize(source, target, **kwargs)
  loose, fitted = loose[:, placed], fitted[:, placed]
  assert loose[..., 0].min() < 0 and loose[..., 0].max() > 63  # runs past both edges
  assert fitted[..., 0].min() >= -1e-4 and fitted[..., 0].max() <= 63 + 1e-4
  assert fitted[0, :, 0].min() < 8 and fitted[-1, :, 0].max() > 56  # still edge to edge
  width = lambda kp: kp[..., 0].max(-1) - kp[..., 0].min(-1)
  np.testing.assert_allclose(width(fitted), width(loose), rtol=1e-4)  # the body keeps its scale
