"""A long target video for `jaxvid.dance` where no real one is at hand: the synthetic dancer
(jaxvid/data/synthetic_dancer.py) dancing for SECONDS at FPS, rendered frame by frame into an
ordinary landscape H.264 mp4 with a sound track (a beat every half second), as a phone would
film it. No real person: say so wherever it is used.

  python experiments/make_dance_target.py OUT.mp4 [--seconds=60 --fps=30 --size=360x640]
"""
import argparse
import fractions

import av
import numpy as np

from jaxvid.data import synthetic_dancer, synthetic_scenes


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("output")
  parser.add_argument("--seconds", type=float, default=60)
  parser.add_argument("--fps", type=int, default=30)
  parser.add_argument("--size", default="360x640")
  parser.add_argument("--subject", type=int, default=0)
  args = parser.parse_args()
  height, width = (int(v) for v in args.size.split("x"))
  frames = int(args.seconds * args.fps)
  rng = np.random.default_rng([7, args.subject])
  subject = synthetic_dancer.SUBJECTS[args.subject]
  background = synthetic_scenes.background(rng, height, width)
  floor = np.linspace(0, 1, height)[:, None, None] > 0.75
  background = np.where(floor, 0.6 * background + 0.25, background)
  # one dance per 10 s segment (other tempo, arm and leg amplitudes), joined by a cross-fade
  # of the joints: varied poses, as the paper asks of a target video
  segment = 10 * args.fps
  parts = [synthetic_dancer.dance_keypoints(subject, np.random.default_rng([7, s]),
                                            frames, height, width)
           for s in range(-(-frames // segment))]
  keypoints = np.empty_like(parts[0][0])
  scale = np.empty_like(parts[0][1])
  fade = args.fps // 2
  for t in range(frames):
    s = t // segment
    w = min(1.0, (t - s * segment) / fade) if s else 1.0
    keypoints[t] = w * parts[s][0][t] + (1 - w) * parts[max(s - 1, 0)][0][t]
    scale[t] = w * parts[s][1][t] + (1 - w) * parts[max(s - 1, 0)][1][t]
  rate = 44100
  with av.open(args.output, "w") as container:
    video = container.add_stream("libx264", rate=args.fps)
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    video.options = {"crf": "20"}
    audio = container.add_stream("aac", rate=rate)
    audio.layout = "mono"
    for t in range(frames):
      image = synthetic_dancer.render_frame(background, keypoints[t], scale[t], subject, 0.0)
      picture = av.VideoFrame.from_ndarray(np.round(image * 255).astype(np.uint8), format="rgb24")
      picture.pts = t
      for packet in video.encode(picture):
        container.mux(packet)
    for packet in video.encode():
      container.mux(packet)
    total = int(frames / args.fps * rate)
    time = np.arange(total) / rate
    beat = (np.mod(time, 0.5) < 0.05) * np.sin(2 * np.pi * 440 * time) * 0.5
    for start in range(0, total, 1024):
      chunk = beat[start:start + 1024].astype(np.float32)[None]
      sound = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
      sound.sample_rate, sound.pts = rate, start
      sound.time_base = fractions.Fraction(1, rate)
      for packet in audio.encode(sound):
        container.mux(packet)
    for packet in audio.encode():
      container.mux(packet)
  print(f"wrote {args.output}: {frames} frames, {width}x{height} at {args.fps} fps, with sound")


if __name__ == "__main__":
  main()
