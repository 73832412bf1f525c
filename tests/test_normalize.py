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
  # close: the 98th percentile of the ankle heights (the walker reaches 400 twice in 120 frames)
  assert s.close == pytest.approx(400, abs=1.0) and s.far == pytest.approx(300, abs=0.5)
  assert s.close_height == pytest.approx(200, rel=0.01)
  assert s.far_height == pytest.approx(200 * 250 / 350, rel=0.01)
  assert s.ankle_x == pytest.approx(100)
  # alpha bounds the far position: median 350, |close - median| 50 -> far >= 350 - 0.5 * 50
  c, m = np.percentile(ground, 98), np.median(ground)
  assert normalize.video_stats(kp, alpha=0.5).far == pytest.approx(
      ground[ground >= m - 0.5 * (c - m)].min())  # ~325: 350 - 0.5 * 50


def test_source_is_mapped_onto_target_heights_and_ground():
  source, src_ground, _ = walker(150, 100, 220, 300, x=60.0)  # short person, far camera
  target, _, _ = walker(240, 40, 280, 460, x=200.0, phase=1.0)  # tall person, close camera
  out = normalize.normalize(source, target, alpha=1.0, smooth_window=1, x_align="median",
                            recenter=False)  # stretched over the target's range
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
  with pytest.raises(ValueError, match="at least 2 plausible frames"):
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


def test_confidence_aware_smoothing_by_hand():
  """The code's rule, window 7: a joint confident in >= half the window's frames gets the
  median of those frames; fewer, and it is missing (confidence 0). A wrist OpenPose missed as
  (0, 0, 0) is never pulled towards the image corner."""
  kp = np.zeros((9, 18, 3))
  kp[..., 0], kp[..., 1], kp[..., 2] = 500.0, 700.0, 1.0
  wrist = JOINT["r_wrist"]
  kp[:, wrist, 0] = [900, 910, 920, 930, 940, 950, 960, 970, 980]
  kp[[1, 3, 5], wrist] = 0.0  # missed in 3 frames (as OpenPose writes it)
  out = normalize.median_smooth(kp, 7)
  # frame 3: window 0..6, confident frames 0, 2, 4, 6 -> x median of 900, 920, 940, 960 = 930
  assert out[3, wrist].tolist() == [930.0, 700.0, 1.0]
  # frame 0 (the window moved inside: 0..6, as frame 3), frame 8 (window 2..8: 920, 940, 960,
  # 970, 980 -> 960)
  assert out[0, wrist, 0] == 930.0 and out[8, wrist, 0] == 960.0
  kp[[0, 2, 4, 6], wrist, 2] = 0.0  # now 7 of the first 7 frames missing
  kp[7, wrist, 2] = 0.0  # window 2..8 has frame 8 only
  out = normalize.median_smooth(kp, 7)
  assert (out[:, wrist, 2] == 0).all() and (out[:, wrist, :2] == 0).all()  # missing, not drawn
  assert (out[:, JOINT["nose"]] == [500, 700, 1]).all()  # the rest untouched
  # a plain median without confidences; window 1 changes nothing
  np.testing.assert_allclose(normalize.median_smooth(kp[..., :2], 3)[7, wrist], [970, 700])
  assert normalize.median_smooth(kp[..., :2], 3)[4, wrist, 0] == 0  # (0, 0) pulls it there
  np.testing.assert_array_equal(normalize.median_smooth(kp, 1), kp)


def test_a_small_source_range_is_recentred_on_the_targets_middle():
  """Source ankles span 20 px, the target's 100 (far 300, close 400, heights 100 and 150): the
  target's range becomes 340..360 (its middle, the source's length), heights interpolated
  there: 100 + 0.4 * 50 = 120 and 100 + 0.6 * 50 = 130."""
  target = normalize.VideoStats(close=400, far=300, close_height=150, far_height=100,
                                ankle_x=0)
  source = normalize.VideoStats(close=120, far=100, close_height=60, far_height=50, ankle_x=0)
  got = normalize.recentered(target, source)
  assert (got.far, got.close) == (340, 360)
  assert got.far_height == pytest.approx(120) and got.close_height == pytest.approx(130)
  wide = normalize.VideoStats(close=400, far=200, close_height=60, far_height=50, ankle_x=0)
  assert normalize.recentered(target, wide) == target  # a longer source range: stretched
  # end to end: a dancer who stays near one spot is moved, not stretched over the floor
  src, src_ground, _ = walker(150, 100, 290, 300, x=60.0)
  tgt, _, _ = walker(240, 40, 280, 460, x=200.0, phase=1.0)
  out = normalize.normalize(src, tgt, alpha=1.0, smooth_window=1, x_align="median")
  ankle_y, _ = normalize.ankles(out)
  t = normalize.video_stats(tgt, alpha=1.0)
  middle = 0.5 * (t.close + t.far)
  assert np.ptp(ankle_y) == pytest.approx(np.ptp(src_ground), rel=0.05)  # 10 px, not 180
  assert abs(np.median(ankle_y) - middle) < 6


def test_outlier_skeletons_do_not_decide_the_statistics():
  """A street video's detections: a skeleton of 10 px where the person is ~150, two upside
  down (negative heights), one with joints outside the frame and several with no head. The
  statistics equal the clean video's (within 2 %), and the source's normalised body keeps the
  target's height."""
  clean, _, _ = walker(150, 100, 220, 300, x=60.0)
  noisy = clean.copy()
  noisy[5, :, 1] = noisy[5, JOINT["r_ankle"], 1] - 0.07 * (noisy[5, :, 1] - noisy[5, JOINT["r_ankle"], 1])
  noisy[[10, 70], JOINT["nose"], 1] = noisy[[10, 70], JOINT["r_ankle"], 1] + 40  # upside down
  noisy[[10, 70], JOINT["neck"], 1] = noisy[[10, 70], JOINT["r_ankle"], 1] + 30
  noisy[40, JOINT["r_wrist"]] = [-300.0, 50.0, 1.0]  # far outside a 640-wide frame
  noisy[41, JOINT["l_ankle"], 1] = 2000.0  # below the frame
  noisy[[20, 21, 22], JOINT["nose"], 2] = 0.0
  noisy[[20, 21, 22], JOINT["neck"], 2] = 0.0
  size = (360, 640)
  plausible = normalize.plausible_frames(noisy, frame_size=size)
  assert not plausible[[5, 10, 70, 40, 41, 20]].any() and plausible.sum() == 120 - 8
  want, got = normalize.video_stats(clean, 0.7), normalize.video_stats(noisy, 0.7, frame_size=size)
  for field in ("close", "far", "close_height", "far_height"):
    assert getattr(got, field) == pytest.approx(getattr(want, field), rel=0.02), field
  target, _, _ = walker(40, 10, 50, 60, x=32.0)
  out = normalize.normalize(noisy, target, source_width=640, target_width=64, source_size=size)
  heights = normalize.person_heights(out)[normalize.plausible_frames(noisy, frame_size=size)]
  t = normalize.video_stats(target)
  assert t.far_height * 0.85 < np.median(heights) < t.close_height * 1.15


# ---------------------------------------------------------------- detector-like poses

def test_detector_noise_gives_its_rates_and_keeps_missing_joints_missing():
  from jaxvid.poses import detector_noise
  from jaxvid.poses.keypoints import JOINT, MIRROR
  rng = np.random.default_rng(0)
  n, t = 400, 16
  truth = np.zeros((n, t, 18, 3), np.float32)
  truth[..., 0] = rng.uniform(20, 40, (n, t, 18))
  truth[..., 1] = np.linspace(10, 50, 18)  # every person 40 px tall
  truth[..., 2] = 1.0
  truth[:, :, JOINT["l_ear"], 2] = 0.0  # not confident in the truth: stays missing
  jitter = tuple(0.05 if j == JOINT["r_wrist"] else 0.0 for j in range(18))
  joint_miss = tuple(0.2 if j == JOINT["nose"] else 0.0 for j in range(18))
  noise = detector_noise.DetectorNoise(frame_miss=0.1, joint_miss=joint_miss, jitter=jitter,
                                       swap=0.25)
  out = detector_noise.apply(truth, noise, np.random.default_rng(1))
  seen = out[..., JOINT["neck"], 2] > 0
  assert abs((~seen).mean() - 0.1) < 0.01  # whole frames missed
  nose_seen = out[..., JOINT["nose"], 2] > 0
  assert abs(1 - nose_seen[seen].mean() - 0.2) < 0.015  # the nose, in frames that were seen
  missing = out[..., 2] == 0
  assert (out[missing][:, :2] == 0).all() and (out[..., JOINT["l_ear"], 2] == 0).all()
  # swaps: the left shoulder holds the right one's x in a quarter of the frames seen
  swapped = out[..., JOINT["l_shoulder"], 0] == truth[..., JOINT["r_shoulder"], 0]
  assert abs(swapped[seen].mean() - 0.25) < 0.015
  # jitter: 5 % of the height (the confident joints' extent: 37.6 px) on the right wrist's
  # slot (holding the left wrist where swapped), none elsewhere
  held = np.where(swapped, truth[..., JOINT["l_wrist"], 0], truth[..., JOINT["r_wrist"], 0])
  moved = out[..., JOINT["r_wrist"], 0] - held
  assert abs(moved[seen].std() - 0.05 * (np.linspace(10, 50, 18)[16] - 10)) < 0.05
  unmoved = ~swapped & seen
  np.testing.assert_array_equal(out[unmoved][:, JOINT["neck"], :2],
                                truth[unmoved][:, JOINT["neck"], :2])
  assert list(MIRROR)[JOINT["r_wrist"]] == JOINT["l_wrist"]
  with pytest.raises(ValueError, match="18 values"):
    detector_noise.DetectorNoise(0.0, (0.0,), jitter, 0.0)


def test_the_measured_noise_model_is_the_one_the_note_gives():
  from jaxvid.poses import detector_noise
  m = detector_noise.MEDIAPIPE_DANCER_64
  assert m.frame_miss == 0.0 and m.swap == 0.26 and max(m.joint_miss) < 0.02 + 1e-9
  wrists = [m.jitter[i] for i in (4, 7)]
  assert min(wrists) > 0.08 and max(m.jitter) == max(wrists) and min(m.jitter) < 0.01


def test_a_street_videos_detections_land_inside_the_target_at_its_height():
  """experiments/street_outliers: a small pedestrian missed in 40 % of the frames, another
  person, folded, upside-down and off-frame skeletons; onto a 64x64 target."""
  from experiments.street_outliers import SIZE, height_ratios, street_source
  from jaxvid.inference.edn import inside_fraction
  keypoints, truth = street_source(seed=1)
  target_poses, _, _ = walker(40, 10, 50, 60, x=32.0)
  out = normalize.normalize(keypoints, target_poses, source_width=SIZE[1], target_width=64,
                            source_size=SIZE)
  assert inside_fraction(out, 64, 64) >= 0.9
  t = normalize.recentered(normalize.video_stats(target_poses),
                           normalize.video_stats(keypoints, frame_size=SIZE))
  ratio = height_ratios(out, t)[truth]
  ratio = ratio[np.isfinite(ratio)]
  assert len(ratio) > 50 and np.mean(np.abs(ratio - 1) <= 0.15) >= 0.9
