"""Everybody Dance Now's global pose normalization: make the source's poses look like the target's
body shape and place in the frame before transfer (Chan et al. 2019, sec. 3.3 / supp.).

Per video, from the ankle heights y_a (the lower ankle per frame, image y grows downwards) of
its *plausible* frames only (ankle and head confident, a positive height within
[0.4, 2.5] x the video's median height, and, where the frame size is known, every confident joint
inside the frame: a folded, upside-down or half-detected skeleton never enters the statistics):
  close = the 98th percentile of y_a         (nearest the camera; robust to a stray low ankle)
  med   = median_t y_a
  far   = min { y_a(t) : y_a(t) >= med - alpha |close - med| }   (far position, bounded)
Person height h = ankle y - head y (head: nose, else neck) is taken, at close and far, as the
median height over the frames whose ankle lies within `tolerance` of that position, and at least
the `min_frames` nearest ones (a median of several frames, so no single detection rescales the
video). Small range (the authors' graph_posenorm.py): when the source's close-far range is
shorter than the target's, the target's range is re-centred on its middle with the source's
length (heights there interpolated linearly between the target's far and close heights), so a
dancer who stays near one spot is moved, not stretched over the target's floor; `recenter=False`
stretches.
A source frame with ankle y is then mapped with
  u     = (y - far_s) / (close_s - far_s)  clipped to [-0.5, 1.5]   (position between far and close)
  scale = far_t_h / far_s_h + u * (close_t_h / close_s_h - far_t_h / far_s_h)
  y'    = far_t + u * (close_t - far_t)                          (ankle onto the target's range)
and every joint moves with its frame's ankle and scales about it:
  (x', y_j') = (cx_t + scale (x - cx_s),  y' + scale (y_j - y))
cx = the frame's horizontal centre (x_align='center', the default): horizontal positions are
scaled by the same factor as the body, so a dancer who crosses the source frame crosses the
target's and one in the middle stays in the middle (the authors' code scales about the frame's
centre too; neither it nor the paper translates in x). When frames differ in aspect (a 16:9
source, a square target) that path can run past the target's edges: `fit_width` (default)
then compresses the horizontal travel (the anchor's offsets from the centre, one factor for
the whole video; the body keeps its scale) just enough that every confident joint stays inside
the target frame, so the dancer still crosses it edge to edge. x_align='median' puts the source's
median ankle x on the target's instead (useful when the target danced off-centre). Source and
target may have any frame size: the statistics are in each video's own pixels. u is clipped
so a detection far outside the source's range (a bad ankle) cannot flip or explode the scale.
The result is smoothed over time as the code does (`median_smooth`): per joint, the median of
its confident detections in a window of `smooth_window` (7) frames, or missing when fewer than
half of the window's frames have it.
alpha: 0.7 in the paper (the default), 0.5 in the code.
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from jaxvid.poses.keypoints import JOINT, NUM_JOINTS


@dataclasses.dataclass(frozen=True)
class VideoStats:
  close: float  # ankle y nearest the camera
  far: float  # ankle y of the bounded far position
  close_height: float  # person height (px) at the close position
  far_height: float
  ankle_x: float  # median ankle x


def _valid(keypoints, joint, min_conf):
  kp = keypoints[:, JOINT[joint]]
  return kp[:, 2] >= min_conf if keypoints.shape[-1] == 3 else np.ones(len(kp), bool)


def ankles(keypoints: np.ndarray, min_conf: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
  """(T,) ankle y (the lower confident ankle) and its x; NaN where no ankle is confident."""
  ys, xs = [], []
  for joint in ("r_ankle", "l_ankle"):
    ok = _valid(keypoints, joint, min_conf)
    ys.append(np.where(ok, keypoints[:, JOINT[joint], 1], np.nan))
    xs.append(np.where(ok, keypoints[:, JOINT[joint], 0], np.nan))
  ys, xs = np.stack(ys), np.stack(xs)
  lower = np.nanargmax(np.where(np.isnan(ys), -np.inf, ys), axis=0)
  cols = np.arange(ys.shape[1])
  return ys[lower, cols], xs[lower, cols]


def person_heights(keypoints: np.ndarray, min_conf: float = 0.1) -> np.ndarray:
  """(T,) ankle y minus head y (nose, else neck); NaN where either is missing."""
  ankle_y, _ = ankles(keypoints, min_conf)
  nose, neck = _valid(keypoints, "nose", min_conf), _valid(keypoints, "neck", min_conf)
  head = np.where(nose, keypoints[:, JOINT["nose"], 1],
                  np.where(neck, keypoints[:, JOINT["neck"], 1], np.nan))
  return ankle_y - head


# A plausible skeleton's height lies within these factors of the video's median height.
PLAUSIBLE_HEIGHT = (0.4, 2.5)
CLOSE_PERCENTILE = 98


def plausible_frames(keypoints: np.ndarray, min_conf: float = 0.1,
                     frame_size: tuple[int, int] | None = None) -> np.ndarray:
  """(T,) bool: the frames whose skeleton may enter the statistics: ankle and head confident,
  height > 0 and within PLAUSIBLE_HEIGHT of the median of such frames, and (with frame_size,
  (height, width)) every confident joint inside the frame."""
  keypoints = np.asarray(keypoints, np.float64)
  ankle_y, _ = ankles(keypoints, min_conf)
  heights = person_heights(keypoints, min_conf)
  ok = ~np.isnan(ankle_y) & ~np.isnan(heights) & (heights > 0)
  if frame_size is not None:
    conf = (keypoints[..., 2] >= min_conf if keypoints.shape[-1] == 3
            else np.ones(keypoints.shape[:2], bool))
    x, y = keypoints[..., 0], keypoints[..., 1]
    inside = (x >= 0) & (x <= frame_size[1] - 1) & (y >= 0) & (y <= frame_size[0] - 1)
    ok &= np.all(inside | ~conf, axis=1)
  if ok.any():
    typical = np.median(heights[ok])
    ok &= (heights >= PLAUSIBLE_HEIGHT[0] * typical) & (heights <= PLAUSIBLE_HEIGHT[1] * typical)
  return ok


def video_stats(keypoints: np.ndarray, alpha: float = 0.7, tolerance: float = 0.05,
                min_conf: float = 0.1, frame_size: tuple[int, int] | None = None,
                min_frames: int = 5) -> VideoStats:
  """The close/far ankle positions and heights of one video's poses (T, 18, 2|3), pixels, from
  its plausible frames (module doc). tolerance: a fraction of the close-far span (at least
  1 px) for frames 'at' a position (the code's 5 %); min_frames: at least that many of the
  nearest frames enter each height's median."""
  keypoints = np.asarray(keypoints, np.float64)
  ankle_y, ankle_x = ankles(keypoints, min_conf)
  heights = person_heights(keypoints, min_conf)
  ok = plausible_frames(keypoints, min_conf, frame_size)
  if ok.sum() < 2:
    raise ValueError(f"pose normalization needs ankles and a head in at least 2 plausible "
                     f"frames; found {int(ok.sum())} of {len(keypoints)}")
  y, h = ankle_y[ok], heights[ok]
  close, med = float(np.percentile(y, CLOSE_PERCENTILE)), float(np.median(y))
  far = float(y[y >= med - alpha * abs(close - med)].min())
  tol = max(1.0, tolerance * (close - far))

  def at(pos):
    distance = np.abs(y - pos)
    nearest = np.argsort(distance, kind="stable")[:min(min_frames, len(y))]
    return float(np.median(h[(distance <= tol) | np.isin(np.arange(len(y)), nearest)]))

  return VideoStats(close=close, far=far, close_height=at(close), far_height=at(far),
                    ankle_x=float(np.nanmedian(ankle_x[ok])))


def recentered(target: VideoStats, source: VideoStats) -> VideoStats:
  """The authors' small-range rule: a source range (close - far) shorter than the target's maps
  onto the target's range re-centred on its middle with the source's length, the heights there
  interpolated linearly between the target's far and close heights; otherwise the target as
  it is."""
  span_t, span_s = target.close - target.far, source.close - source.far
  if span_s >= span_t:
    return target
  middle, half = 0.5 * (target.close + target.far), 0.5 * span_s
  def height(y):
    u = (y - target.far) / span_t
    return target.far_height + u * (target.close_height - target.far_height)
  return dataclasses.replace(target, close=middle + half, far=middle - half,
                             close_height=height(middle + half),
                             far_height=height(middle - half))


def median_smooth(keypoints: np.ndarray, window: int = 7, min_conf: float = 0.1) -> np.ndarray:
  """Temporal median of each joint as the authors' code smooths (renderopenpose.py,
  getmedians_adapt), over full windows of `window` frames (near the ends the window is moved
  inside the video, not cut; the code drops those frames). With confidences (T, 18, 3): a joint
  confident (>= min_conf) in at least half the window's frames gets the median of those frames'
  (x, y, confidence) — a joint missed in some frames is not dragged towards (0, 0) — and is
  missing (confidence 0, not drawn) otherwise. Without (T, 18, 2): the plain median."""
  keypoints = np.asarray(keypoints)
  if window <= 1 or len(keypoints) < 2:
    return keypoints.copy()
  n = min(window, len(keypoints))
  out = keypoints.copy()
  for t in range(len(keypoints)):
    start = min(max(0, t - n // 2), len(keypoints) - n)
    part = keypoints[start:start + n]
    if keypoints.shape[-1] < 3:
      out[t] = np.median(part, axis=0)
      continue
    confident = part[..., 2] >= min_conf  # (n, J)
    values = np.where(confident[..., None], part, np.nan)
    with warnings.catch_warnings():  # a joint no frame has: an all-NaN median, not kept
      warnings.simplefilter("ignore", RuntimeWarning)
      median = np.nanmedian(values, axis=0)
    kept = confident.sum(0) * 2 >= n
    out[t] = np.where(kept[:, None], median, 0.0)
  return out


def normalize(source: np.ndarray, target: np.ndarray | VideoStats, alpha: float = 0.7,
              smooth_window: int = 7, min_conf: float = 0.1, source_width: float | None = None,
              target_width: float | None = None, x_align: str = "center",
              fit_width: bool = True, recenter: bool = True,
              source_size: tuple[int, int] | None = None) -> np.ndarray:
  """Map source poses (T, 18, 2|3), pixels of a frame `source_width` wide, onto the target
  video's scale, ground positions and frame (`target_width` wide); see the module doc.
  source_size (height, width): leave skeletons with joints outside it out of the statistics."""
  if x_align not in ("center", "median"):
    raise ValueError(f"x_align must be 'center' or 'median', got {x_align!r}")
  if x_align == "center" and (not source_width or not target_width):
    raise ValueError("x_align='center' needs source_width and target_width")
  source = np.asarray(source, np.float64)
  # the statistics are the body's (COCO-18); face and hand points (poses/keypoints.py) move
  # with it by the same per-frame scale and translation
  s = video_stats(source[..., :NUM_JOINTS, :], alpha, min_conf=min_conf, frame_size=source_size)
  t = (target if isinstance(target, VideoStats)
       else video_stats(np.asarray(target)[..., :NUM_JOINTS, :], alpha, min_conf=min_conf))
  if recenter:
    t = recentered(t, s)
  ankle_y, ankle_x = ankles(source, min_conf)
  ankle_y = np.where(np.isnan(ankle_y), np.nanmedian(ankle_y), ankle_y)
  ankle_x = np.where(np.isnan(ankle_x), np.nanmedian(ankle_x), ankle_x)[:, None]
  span = s.close - s.far
  u = np.clip((ankle_y - s.far) / span, -0.5, 1.5) if span > 1e-6 else np.ones_like(ankle_y)
  far_ratio, close_ratio = t.far_height / s.far_height, t.close_height / s.close_height
  scale = (far_ratio + u * (close_ratio - far_ratio))[:, None]
  new_ankle_y = (t.far + u * (t.close - t.far))[:, None]
  if x_align == "center":
    centre_s, centre_t = source_width / 2, target_width / 2
  else:
    centre_s, centre_t = s.ankle_x, t.ankle_x
  travel = scale * (ankle_x - centre_s)  # the anchor's offset from the target's centre
  body = scale * (source[..., 0] - ankle_x)  # each joint's offset from the anchor
  if fit_width and target_width:
    travel = travel * _travel_fit(travel, body, source[..., 2] >= min_conf if source.shape[-1] == 3
                                  else np.ones(body.shape, bool), centre_t, target_width)
  out = source.copy()
  out[..., 0] = centre_t + travel + body
  out[..., 1] = new_ankle_y + scale * (source[..., 1] - ankle_y[:, None])
  return median_smooth(out, smooth_window, min_conf).astype(np.float32)


def _travel_fit(travel, body, confident, centre: float, width: float) -> float:
  """The largest factor <= 1 on the horizontal travel that keeps every confident joint inside
  [0, width - 1] (where the body itself fits at all)."""
  right = np.where(confident, body, -np.inf).max(-1)  # (T,) extents about the anchor
  left = np.where(confident, body, np.inf).min(-1)
  factor = 1.0
  t = travel[:, 0]
  for room, go in ((width - 1 - centre - right, t > 1e-6), (centre + left, t < -1e-6)):
    ok = go & np.isfinite(room) & (room > 0)
    if ok.any():
      factor = min(factor, float(np.min(room[ok] / np.abs(t[ok]))))
  return factor
