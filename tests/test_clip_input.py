"""A user's video or photo as a pose model's input clip (jaxvid/poses/clip_input.py): the frames
and the poses land in the model's frame together, on videos of other sizes and frame rates."""
import av
import numpy as np
import pytest
from PIL import Image

from jaxvid.errors import UserError
from jaxvid.poses import clip_input
from jaxvid.poses.extract import Poses

RED, GREEN = (255, 0, 0), (0, 255, 0)


def _person_frames(count: int, height: int = 360, width: int = 640):
  """A grey frame with a red 'head' and a green 'foot' square moving right by 2 px a frame;
  keypoints: nose on the head, the right ankle on the foot, the rest unseen."""
  frames = np.full((count, height, width, 3), 90, np.uint8)
  keypoints = np.zeros((count, 18, 3), np.float32)
  for t in range(count):
    x = 470 + 2 * t  # right of centre: a centre crop of this 16:9 frame would cut it off
    frames[t, 96:112, x - 8:x + 8] = RED
    frames[t, 280:296, x - 8:x + 8] = GREEN
    keypoints[t, 0] = (x - 0.5, 103.5, 1.0)  # nose: the head's centre
    keypoints[t, 10] = (x - 0.5, 287.5, 1.0)  # r_ankle: the foot's centre
  return frames, keypoints


def _write_mp4(path, frames, fps=25):
  with av.open(str(path), "w") as container:
    stream = container.add_stream("libx264", rate=fps)
    stream.height, stream.width = frames.shape[1:3]
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": "10"}
    for frame in frames:
      for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)


def _colour_at(frame, point):
  x, y = (int(round(v)) for v in point)
  return frame[y, x].astype(int)


@pytest.fixture(scope="module")
def phone_clip(tmp_path_factory):
  folder = tmp_path_factory.mktemp("user video")  # a space in the path, as users have
  frames, keypoints = _person_frames(30)
  _write_mp4(folder / "clip.mp4", frames)
  Poses(keypoints, np.full((30, 4), np.nan), np.ones(30, bool), np.zeros(30, bool),
        (360, 640), 25.0, str(folder / "clip.mp4")).save(folder / "clip.npz")
  return folder, keypoints


def test_person_crop_keeps_the_off_centre_person_and_its_joints_on_it(phone_clip):
  folder, keypoints = phone_clip
  clip = clip_input.clip_from_video(str(folder / "clip.mp4"), 64, 64, frames=12, min_frames=7,
                                    poses_path=str(folder / "clip.npz"), start=4, frame_step=2)
  assert clip.video.shape == (12, 64, 64, 3) and clip.video.dtype == np.uint8
  assert clip.keypoints.shape == (12, 18, 3) and not clip.still
  # frames 4, 6, ..., 26 of the source: the poses are those frames' poses, moved with the crop
  np.testing.assert_array_equal(clip.keypoints[..., 2], keypoints[4:28:2, :, 2])
  for t in (0, 11):
    nose, ankle = clip.keypoints[t, 0, :2], clip.keypoints[t, 10, :2]
    assert (0 <= nose).all() and (nose < 64).all() and (0 <= ankle).all() and (ankle < 64).all()
    # the joint's pixel is the joint's colour: frames and poses moved together
    assert _colour_at(clip.video[t], nose)[0] > 200 and _colour_at(clip.video[t], nose)[1] < 60
    assert _colour_at(clip.video[t], ankle)[1] > 200 and _colour_at(clip.video[t], ankle)[0] < 60
  # the window comes from the past (the first 7 frames) alone: what follows is the forecast's
  past_only = clip_input.clip_from_video(str(folder / "clip.mp4"), 64, 64, frames=7,
                                         min_frames=7, poses_path=str(folder / "clip.npz"),
                                         start=4, frame_step=2)
  np.testing.assert_array_equal(clip.video[:7], past_only.video)
  np.testing.assert_allclose(clip.keypoints[:7], past_only.keypoints)
  # nose to ankle spans PERSON_HEIGHT of the frame, as the training dancer's joints do
  np.testing.assert_allclose((clip.keypoints[0, 10, 1] - clip.keypoints[0, 0, 1]) / 64,
                             clip_input.PERSON_HEIGHT, atol=0.02)


def test_center_crop_maps_the_points_as_the_frames(phone_clip):
  folder, _ = phone_clip
  frames, keypoints = _person_frames(8)
  frames = np.ascontiguousarray(frames[:, :, 250:610])  # a square frame, the person inside
  keypoints[..., 0] -= 250
  np.savez(folder / "square_poses.npz", keypoints=keypoints, size=np.asarray((360, 360)))
  _write_mp4(folder / "square.mp4", frames, fps=30)
  clip = clip_input.clip_from_video(str(folder / "square.mp4"), 32, 48, frames=8, min_frames=8,
                                    poses_path=str(folder / "square_poses.npz"), crop="center")
  assert clip.video.shape == (8, 32, 48, 3)
  nose = clip.keypoints[3, 0, :2]
  assert _colour_at(clip.video[3], nose)[0] > 180


def test_a_photo_is_a_person_standing_still(phone_clip, tmp_path):
  frames, keypoints = _person_frames(1, 480, 640)
  Image.fromarray(frames[0]).save(tmp_path / "me.jpg", quality=95)

  class OneFrameDetector:  # stands in for MediaPipe: the poses of the frames it is given
    def video(self, given):
      given = list(given)
      assert len(given) == 1 and given[0].shape == (480, 640, 3)
      return Poses(keypoints, np.zeros((1, 4)), np.ones(1, bool), np.zeros(1, bool), (480, 640))

  clip = clip_input.clip_from_video(str(tmp_path / "me.jpg"), 32, 32, frames=20, min_frames=7,
                                    extractor=OneFrameDetector())
  assert clip.still and clip.video.shape == (7, 32, 32, 3)
  assert (clip.video == clip.video[:1]).all() and (clip.keypoints == clip.keypoints[:1]).all()
  assert _colour_at(clip.video[0], clip.keypoints[0, 0, :2])[0] > 180


def test_bad_inputs_are_one_line_errors(phone_clip, tmp_path):
  folder, _ = phone_clip
  video, poses = str(folder / "clip.mp4"), str(folder / "clip.npz")
  cases = [
      (dict(path=str(tmp_path / "none.mp4")), "does not exist"),
      (dict(path=video, poses_path=poses, frames=40, min_frames=40), "30 frames .* at least 40"),
      (dict(path=video, poses_path=poses, start=30), "no frames from --start=30"),
      (dict(path=video, poses_path=poses, crop="middle"), "crop must be one of"),
      (dict(path=video, poses_path=poses, person_height=1.5), "0 < person_height <= 1"),
  ]
  np.savez(tmp_path / "other.npz", keypoints=np.zeros((30, 18, 3)), size=np.asarray((720, 1280)))
  cases.append((dict(path=video, poses_path=str(tmp_path / "other.npz")), "another video"))
  np.savez(tmp_path / "short.npz", keypoints=np.zeros((5, 18, 3)), size=np.asarray((360, 640)))
  cases.append((dict(path=video, poses_path=str(tmp_path / "short.npz")), "5 frames of poses"))
  np.savez(tmp_path / "nobody.npz", keypoints=np.zeros((30, 18, 3)), size=np.asarray((360, 640)))
  cases.append((dict(path=video, poses_path=str(tmp_path / "nobody.npz")), "found nobody"))
  for kwargs, message in cases:
    kwargs = {"height": 32, "width": 32, "frames": 8, "min_frames": 7, **kwargs}
    with pytest.raises(UserError, match=message):
      clip_input.clip_from_video(**kwargs)
