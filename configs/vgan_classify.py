"""VGAN's discriminator fine-tuned for action recognition (the paper's second result).

Variants:
  ''      CPU demo: the sprites' starting direction (4 classes, one sprite a clip: no single
          frame tells it) on 512 labelled clips, 512 held out, from the VGAN demo's D
          (--config.classify.init_from=runs/vgan: 16 frames of 32x32, D (32, 64, 128))
  'paper' the authors' main_ucf.lua: UCF-101 as a video_folder with one sub-folder per class
          (--config.data.manual_dir=~/UCF-101), 32 frames of 64x64, the paper's D
          (64, 128, 256, 512) from a configs/vgan.py:paper run, dropout 0.5 and a conv to 101
          classes, Adam 2e-4 (beta1 0.5), batch 256, max_iter 1000
  'tiny'  tests
Rows of the paper's table: classify.init='random' (from scratch), classify.train='head' (the
trunk frozen: a linear classifier on D's features), the default (fine-tuned end to end).
"""
import ml_collections

from jaxvid import config_defaults


def get_config(variant: str = "") -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.model = "vgan_classify"
  config.seed = 0
  config.dtype = "float32"
  config.data = config_defaults.data("synthetic_scenes", frames=16, height=32, width=32,
                                     num_clips=512)
  config.data.num_test = 512
  config.data.labels = "direction"
  config.data.max_sprites = 1
  config.data.stripes = 0.0  # as the VGAN demo's clips
  config.data.seed = 4321  # other clips than the VGAN demo's (seed 1234)

  c = config.classify = ml_collections.ConfigDict()
  c.init = "vgan"  # 'vgan' (the trunk from init_from's D) or 'random'
  c.init_from = ""  # a VGAN workdir or export
  c.train = "all"  # 'all' (fine-tune) or 'head' (the trunk frozen: a linear classifier)
  c.num_classes = 4
  c.d_channels = (32, 64, 128)  # must equal the VGAN run's vgan.d_channels
  c.dropout = 0.5  # VolumetricDropout before the head, as the code
  # The VGAN demo's D is spectrally normalised (no BatchNorm): the same trunk here. The paper's
  # D (configs/vgan.py:paper) has BatchNorm: False.
  c.spectral_norm = True

  config.optim = config_defaults.adam(2e-4)  # beta1 0.5, as main_ucf.lua
  config.train = config_defaults.train(batch_size=32, num_steps=600, log_every=50,
                                       checkpoint_every=200, sample_every=200, num_samples=8,
                                       sample_fps=8)

  if variant == "paper":
    config.data = config_defaults.data("video_folder", frames=32, height=64, width=64,
                                       num_clips=0)
    config.data.labels = "folder"
    config.data.test_fraction = 0.0  # give UCF-101's split: data.split_list=trainlist01.txt
    c.num_classes = 101
    c.d_channels = (64, 128, 256, 512)
    c.spectral_norm = False
    config.train.batch_size = 256
    config.train.num_steps = 1000  # max_iter (the code stops at the end of that epoch)
    config.train.checkpoint_every = 100  # saveIter
    config.train.log_every = 10
  elif variant == "tiny":
    config.data.frames, config.data.height, config.data.width = 8, 16, 16
    config.data.num_clips, config.data.num_test = 16, 8
    c.init = "random"
    c.d_channels = (8, 16)
    c.spectral_norm = False  # configs/vgan.py:tiny's D
    config.train = config_defaults.tiny_train(batch_size=4, num_steps=4)
  elif variant:
    raise ValueError(f"unknown variant {variant!r} of configs/vgan_classify.py; use '', 'paper' "
                     f"or 'tiny'")
  return config
