"""Following one person when several are in view (jaxvid/poses/track.py): two synthetic dancers
that cross, and the choice of whom to follow."""
import numpy as np
import pytest

from jaxvid.data import synthetic_dancer, synthetic_scenes
from jaxvid.errors import UserError
from jaxvid.poses import extract, track

H, W, T = 256, 448, 40


def crossing_dancers(frames=T):
  """Two dancers of other clothes walking past each other: subject 0 (red shirt) from the left
  to the right, subject 3 (blue, in front) the other way; they overlap mid-clip. Returns the
  video and each one's true hip centres (T, 2)."""
  rng = np.random.default_rng(0)
  background = synthetic_scenes.background(rng, H, W)
  people = []
  for subject_id, x0, x1 in ((0, 0.22, 0.78), (3, 0.78, 0.22)):
    subject = synthetic_dancer.SUBJECTS[subject_id]
    keypoints, scale = synthetic_dancer.dance_keypoints(subject, rng, frames, H, W)
    hips = (keypoints[:, 8] + keypoints[:, 11]) / 2
    shift = np.linspace(x0, x1, frames) * W - hips[:, 0]  # walk across, dancing
    keypoints = keypoints + np.stack([shift, np.zeros(frames)], -1)[:, None]
    people.append((subject, keypoints, scale))
  video = []
  for t in range(frames):
    canvas = background
    for subject, keypoints, scale in people:  # the second drawn over the first
      canvas = synthetic_dancer.render_frame(canvas, keypoints[t], scale[t], subject, 0.0)
    video.append(np.round(canvas * 255).astype(np.uint8))
  hips = [(k[:, 8] + k[:, 11]) / 2 for _, k, _ in people]
  return np.stack(video), hips


@pytest.fixture(scope="module")
def extractor():
  e = extract.PoseExtractor()
  yield e
  e.close()


@pytest.fixture(scope="module")
def crossing():
  return crossing_dancers()


@pytest.mark.parametrize("who,person", [(0, "100,150"), (1, "350,150")])
def test_the_followed_dancer_never_switches_when_they_cross(extractor, crossing, who, person):
  video, hips = crossing
  said = []
  poses = extractor.video(list(video), person=track.Choice.parse(person), log=said.append)
  assert said and "following the person at" in said[0]
  found = [t for t in range(T) if poses.detected[t]]
  assert len(found) >= T // 2  # followed through most of the clip
  for t in found:  # every detection is the chosen dancer, never the other
    centre = track.hip_centre(poses.keypoints[t])
    mine = np.linalg.norm(centre - hips[who][t])
    other = np.linalg.norm(centre - hips[1 - who][t])
    assert mine < 0.1 * W and (mine < other or abs(hips[0][t][0] - hips[1][t][0]) < 0.1 * W), t
  before, after = min(found), max(found)  # followed past the crossing, on the right side
  assert np.sign(hips[who][after][0] - hips[1 - who][after][0]) != \
      np.sign(hips[who][before][0] - hips[1 - who][before][0])
  centres = [track.hip_centre(poses.keypoints[t]) for t in found]
  jumps = [np.linalg.norm(a - b) for a, b, ta, tb in zip(centres, centres[1:], found, found[1:])
           if tb == ta + 1]
  assert max(jumps) < 0.25 * W


def test_without_tracking_the_detector_takes_whoever_it_locks_onto(extractor, crossing):
  """The reason for the tracker: the model alone ends on the other dancer or jumps."""
  video, hips = crossing
  fresh = extract.PoseExtractor()
  try:
    poses = fresh.video(list(video), person=None)
  finally:
    fresh.close()
  on = [int(np.argmin([np.linalg.norm(track.hip_centre(poses.keypoints[t]) - h[t])
                       for h in hips])) for t in range(T) if poses.detected[t]]
  assert len(set(on)) == 2  # both dancers, one after the other


def test_the_largest_fully_visible_person_is_chosen_by_default():
  small = np.zeros((18, 3), np.float32)
  small[:, 2] = 1
  small[:, 0], small[:, 1] = np.linspace(10, 30, 18), np.linspace(10, 60, 18)
  large = small.copy()
  large[:, 1] = np.linspace(10, 200, 18)
  cut = large.copy()
  cut[:, 1] *= 1.5
  cut[:9, 2] = 0  # larger, but half of it not seen
  assert track.choose([small, cut, large], track.Choice()) == 2
  assert track.choose([small, large], track.Choice.parse("20,30")) == 0


@pytest.mark.parametrize("text", ["left", "1,2,3", "nan,4", ""])
def test_a_bad_person_is_one_error(text):
  if text == "":
    assert track.Choice.parse(text) == track.Choice()
    return
  with pytest.raises(UserError, match="--person"):
    track.Choice.parse(text)
