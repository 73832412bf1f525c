"""The Pose Knows, pose-conditioned video GAN: a clip from its first frame and a pose video.

Variants: default (the CPU demo: 16 frames of 64x64 synthetic dancer; G composited over the
input frame, an EMA of G, DiffAugment -- none in the paper), `:paper` (the code's 32 frames of
64x80, its U-Net with ngf 32 and a 1x1x1 bottleneck, its D widths 128..1024), `:tiny` (tests).
Losses as the paper writes them (split_batch='halves') with the code's reductions (means) and
alpha = 1000; D does not see the pose unless pose_in_discriminator.
"""
import ml_collections

from jaxvid import config_defaults


def get_config(variant: str = "") -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.model = "pose_gan"
  config.seed = 0
  config.dtype = "float32"

  config.data = config_defaults.data("synthetic_dancer", frames=16, height=64, width=64,
                                     num_clips=1024)

  config.pose_gan = ml_collections.ConfigDict()
  config.pose_gan.g_channels = (32, 64, 128, 256)  # U-Net levels; T, H, W multiples of 2^n
  config.pose_gan.g_bottleneck = 256  # one more level down to 1x1x1 (the code: 8 * ngf); 0: none
  config.pose_gan.g_dropout = 0.5  # on the two innermost decoder levels (the code)
  config.pose_gan.d_channels = (32, 64, 128, 256)
  # 'halves': the paper's equations (D sees M/2 real clips and G's M/2); 'none': the code
  # (G makes all M, D sees all M real clips and all M fakes).
  config.pose_gan.split_batch = "halves"
  config.pose_gan.alpha = 1000.0  # weight of the L1 term (the code's setting) ...
  # ... on pixels spanning 1 (the code's x / 255 - mean): on jaxvid's [-1, 1] pixels the L1 is
  # halved, the same weight in effect as the code's. 2.0: alpha on [-1, 1] (jaxvid before 2026-12)
  config.pose_gan.alpha_pixel_span = 1.0
  config.pose_gan.reduction = "mean"  # 'mean' (the code) or 'sum' (the equations as written)
  config.pose_gan.pose_in_discriminator = False  # the code: D sees only the video
  config.pose_gan.skeleton_thickness = 0.0  # 0: min(H, W) / 64 pixels, as render_skeleton
  config.pose_gan.conv_impl = "auto"
  # The CPU demo's options from the literature, none in the paper (docs/pose_knows.md,
  # "Differences", with the ablation), all off at :paper and :tiny:
  # 'composite': G draws a foreground and a mask over the input frame, m * f + (1 - m) * I
  # (VGAN's two streams, Vondrick et al. 2016, with the known frame as background; vid2vid's
  # occlusion-mask composition, Wang et al. 2018); 'frames': G draws the clip (the paper).
  config.pose_gan.output = "composite"
  # sample with an EMA of G's parameters (Karras et al. 2018; 0 = off)
  config.pose_gan.ema_decay = 0.999
  # DiffAugment every clip D sees (Zhao et al. 2020; "" = off)
  config.pose_gan.diffaugment = "translation,cutout"

  config.optim = config_defaults.adam(2e-4)

  # 3,000 steps: where the demo beats the first frame repeated on every metric (docs/pose_knows.md;
  # at 1,000 it still lost on LPIPS); ~36 min on 2 cores
  config.train = config_defaults.train(batch_size=8, num_steps=3000, log_every=50,
                                       checkpoint_every=500, sample_every=500, num_samples=4,
                                       sample_fps=8)

  if variant in ("paper", "tiny"):  # the paper's G output and no stabilisers
    config.pose_gan.output = "frames"
    config.pose_gan.ema_decay = 0.0
    config.pose_gan.diffaugment = ""
  if variant == "paper":
    config.data.frames, config.data.height, config.data.width = 32, 64, 80
    config.pose_gan.g_channels = (32, 64, 128, 256)  # the code's ngf = 32
    config.pose_gan.g_bottleneck = 256
    config.pose_gan.d_channels = (128, 256, 512, 1024)  # the code's D
    config.train.batch_size = 16  # the code's opt.batchsizeGAN
    config.train.num_steps = 500_000  # the code's opt.totalIterGAN
    config.train.log_every = 100
    config.train.checkpoint_every = 1000
    config.train.sample_every = 1000
  elif variant == "tiny":
    config.data.frames, config.data.height, config.data.width = 8, 32, 32
    config.data.num_clips = 16
    config.data.num_test = 2
    config.pose_gan.g_channels = (8, 16)
    config.pose_gan.g_bottleneck = 16
    config.pose_gan.d_channels = (8, 16)
    config.train = config_defaults.tiny_train(batch_size=4, num_steps=4)
  elif variant:
    raise ValueError(f"unknown variant {variant!r} of configs/pose_gan.py; use '', 'paper' or 'tiny'")
  return config
