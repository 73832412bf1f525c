"""Conditional VGAN: predict the future of one frame (main_conditional.lua).

A 2-D encoder of the first frame replaces z and feeds both streams; G is also trained with
lambda * L1 between its first generated frame and the input (lambda = 10); no mask penalty.
Variants: default (CPU demo), `:paper` (64x64, 32 frames, batch 32), `:tiny` (tests).
"""
import ml_collections

from configs import vgan  # the configs package (pyproject installs it beside jaxvid)


def get_config(variant: str = "") -> ml_collections.ConfigDict:
  config = vgan.get_config(variant)
  config.vgan.conditional = True
  config.vgan.mask_weight = 0.0
  config.vgan.l1_weight = 10.0
  if variant == "paper":
    config.vgan.g_channels = (1024, 512, 256, 128)
    config.vgan.encoder_channels = (128, 256, 512, 1024)
    config.vgan.d_channels = (128, 256, 512, 1024)
    config.train.batch_size = 32
  elif variant == "tiny":
    config.vgan.encoder_channels = (8, 16)
  else:  # CPU demo: the paper's conditional widths / 8, 16x32x32 clips
    # its schedule and mask init as measured before the unconditional demo changed (2026-11)
    config.vgan.mask_bias_init = 0.0
    # measured with resize-convs, EMA and DiffAugment, before spectral norm and the decay
    config.vgan.spectral_norm = False
    config.optim.decay_steps = 0
    config.train.num_steps, config.train.checkpoint_every = 2200, 550
    config.train.sample_every, config.train.log_every = 1100, 50
    config.vgan.g_channels = (128, 64, 32)
    config.vgan.encoder_channels = (32, 64, 128)
    config.vgan.d_channels = (32, 64, 128)
  return config
