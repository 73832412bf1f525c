"""H.264 MP4 files through PyAV, with the sound of a source video when asked.

Everybody Dance Now's output is a dance: it keeps the music of the video the moves came from.
`Mp4Writer` encodes frames as they come (long videos never sit in memory) and, at close, copies
the source's first audio stream from the moment its first video frame is shown, trimmed to the
new video's length, so sound and picture stay in sync frame for frame. PyAV (FFmpeg) is the one
library: imageio-ffmpeg's pipe to an ffmpeg process cannot take a second stream.
"""
from __future__ import annotations

import dataclasses
import fractions

import av
import numpy as np

CRF = 18  # x264's near-transparent quality (imageio's quality=8 is about the same)


@dataclasses.dataclass(frozen=True)
class AudioFrom:
  """The audio to put under a video: `path`'s first audio stream from `start_s` seconds after
  its first video frame is shown (a clip that starts later in the source)."""
  path: str
  start_s: float = 0.0


def has_audio(path: str) -> bool:
  try:
    with av.open(path) as container:
      return bool(container.streams.audio)
  except Exception:  # noqa: BLE001 - an unreadable file has no sound to keep
    return False


class Mp4Writer:
  """Frames appended in pieces ((T, H, W, 3) uint8 of even height and width), encoded as H.264
  at `fps`; the audio of `audio` muxed in at close. Use as a context manager."""

  def __init__(self, path: str, fps: float, audio: AudioFrom | None = None):
    self.path, self.fps, self.audio, self.frames = path, float(fps), audio, 0
    self._container = av.open(path, "w")
    self._video = None

  def _open_video(self, height: int, width: int) -> None:
    rate = fractions.Fraction(self.fps).limit_denominator(1001000)
    self._video = self._container.add_stream("libx264", rate=rate)
    self._video.width, self._video.height, self._video.pix_fmt = width, height, "yuv420p"
    self._video.options = {"crf": str(CRF)}
    if self.audio is not None and has_audio(self.audio.path):
      with av.open(self.audio.path) as source:
        template = source.streams.audio[0].codec_context
        self._sound = self._container.add_stream("aac", rate=template.sample_rate or 44100)
        self._sound.layout = template.layout.name if template.layout else "stereo"
    else:
      self._sound = None

  def append(self, video_uint8: np.ndarray) -> None:
    for frame in np.asarray(video_uint8, np.uint8):
      if self._video is None:
        self._open_video(*frame.shape[:2])
      picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
      picture.pts = self.frames
      for packet in self._video.encode(picture):
        self._container.mux(packet)
      self.frames += 1

  def close(self) -> None:
    try:
      if self._video is not None:
        for packet in self._video.encode():
          self._container.mux(packet)
        if self._sound is not None:
          self._mux_audio(self.frames / self.fps)
    finally:
      self._container.close()

  def _mux_audio(self, duration_s: float) -> None:
    """The source's sound from its first video frame (+ start_s) for `duration_s` seconds,
    re-encoded as AAC: every sample at its own time (silence where the source's audio starts
    later or ends earlier than its video), sample-exact at both ends."""
    stream = self._sound
    rate = stream.codec_context.sample_rate
    layout = stream.layout.name
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
    wanted = int(round(duration_s * rate))
    written = 0
    with av.open(self.audio.path) as source:
      begin = _first_video_time(source) + self.audio.start_s
      for decoded in source.decode(audio=0):
        for frame in resampler.resample(decoded):
          if frame.pts is None:
            continue
          samples = frame.to_ndarray()  # (channels, n) planar float
          at = int(round((float(frame.pts * frame.time_base) - begin) * rate))
          if at > written:  # the source is silent there: so is the copy
            written += self._encode_audio(np.zeros((samples.shape[0], min(at, wanted) - written),
                                                   np.float32), written, layout, rate)
          samples = samples[:, max(0, written - at):][:, :max(0, wanted - written)]
          if samples.shape[1]:
            written += self._encode_audio(samples, written, layout, rate)
        if written >= wanted:
          break
      if written < wanted:  # the source's sound ends before the video: silence to the end
        self._encode_audio(np.zeros((len(stream.layout.channels), wanted - written), np.float32),
                           written, layout, rate)
    for packet in stream.encode(None):
      self._container.mux(packet)

  def _encode_audio(self, samples: np.ndarray, at: int, layout: str, rate: int) -> int:
    """Encode planar samples as output samples [at, at + n); returns n."""
    if samples.shape[1] == 0:
      return 0
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, np.float32), format="fltp",
                                       layout=layout)
    frame.sample_rate, frame.pts = rate, at
    frame.time_base = fractions.Fraction(1, rate)
    for packet in self._sound.encode(frame):
      self._container.mux(packet)
    return samples.shape[1]

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def _first_video_time(container) -> float:
  """When the container's first video frame is shown (its start time), in seconds; 0 with no
  video stream (the audio then starts at its own beginning)."""
  if not container.streams.video:
    return 0.0
  stream = container.streams.video[0]
  if stream.start_time is not None and stream.time_base is not None:
    return float(stream.start_time * stream.time_base)
  return 0.0


def audio_stream_info(path: str) -> tuple[float, float] | None:
  """(start s relative to the first video frame, duration s) of a file's first audio stream,
  for checks; None without one."""
  with av.open(path) as container:
    if not container.streams.audio:
      return None
    audio = container.streams.audio[0]
    start = float((audio.start_time or 0) * audio.time_base) - _first_video_time(container)
    duration = float((audio.duration or 0) * audio.time_base)
    return start, duration
