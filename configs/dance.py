"""Everybody Dance Now on your own video: the presets of `python -m jaxvid.dance`.

The target is one video of one person (`data.manual_dir`: a folder holding it, which
jaxvid.dance makes), their poses extracted with MediaPipe (the person followed through the
video: jaxvid/poses/track.py) and each frame cut to a window around them (`data.person_crop`),
the last tenth of the video held out. Each preset is a stage-1 config; `<preset>_face` is its
face stage (stage 2, on top of stage 1's workdir).

Variants:
  'tiny', 'tiny_face'        tests: 32x32, a few steps (seconds; any target of >= 50 frames)
  'preview', 'preview_face'  2 CPU cores: 96 high x 64 wide, 2,000 + 500 steps; a 60 s 30 fps
                             target in about half an hour (docs/everybody_dance_now.md)
  'paper', 'paper_face'      the paper's global stage and a face GAN on it (configs/edn.py:paper,
                             :paper_face_global; 200 + 200 epochs of the target's frames), for
                             an accelerator
Any key can be overridden: python -m jaxvid.dance ... --config.train.num_steps=3000
"""
import ml_collections

from configs import edn

PRESETS = ("tiny", "preview", "paper")
# Frames in which a whole body is confidently seen that each preset needs of a target video.
MIN_BODY_FRAMES = {"tiny": 50, "preview": 300, "paper": 1000}


def get_config(variant: str = "preview") -> ml_collections.ConfigDict:
  preset = variant.removesuffix("_face")
  face = variant.endswith("_face")
  if preset not in PRESETS:
    raise ValueError(f"unknown variant {variant!r} of configs/dance.py; use one of "
                     f"{', '.join(p + s for p in PRESETS for s in ('', '_face'))}")
  base = {"tiny": "tiny", "preview": "", "paper": "paper"}[preset]
  face_variant = {"tiny": "tiny_face", "preview": "face", "paper": "paper_face_global"}[preset]
  config = edn.get_config(face_variant if face else base)
  config.preset = preset
  d = config.data
  d.name = "video_folder"
  d.manual_dir = ""  # set by jaxvid.dance: a folder holding the target video
  d.with_poses = True
  d.subject = -1  # one person: every clip
  d.scene_per_subject = False
  d.person_crop = 0.8  # the person spans 80 % of the frame's height, the same window throughout
  d.test_fraction = 0.1  # one video: its last tenth held out
  d.num_test = 0  # a video folder's test split is what test_fraction holds out
  e = config.edn
  if preset == "tiny":
    d.frames, d.height, d.width, d.clip_stride = 4, 32, 32, 4
    config.train.num_steps = 2
  elif preset == "preview":
    # portrait: a standing person fills a tall window (the paper's frames are landscape: they
    # hold the scene; here the CPU's pixels go to the person)
    d.frames, d.height, d.width, d.clip_stride = 8, 96, 64, 4
    config.train.batch_size = 4
    if face:
      config.train.num_steps, config.optim.decay_steps = 500, 250
      e.face_size = 16
    else:
      config.train.num_steps, config.optim.decay_steps = 2000, 1000
    config.train.checkpoint_every = 250
    config.train.sample_every = 500
  else:  # paper: 256 x 512 landscape, 128 px face crops
    d.frames, d.clip_stride = 8, 4
  return config
