"""VGAN (Vondrick et al. 2016), unconditional two-stream video GAN.

Variants: `configs/vgan.py` (CPU demo: 16 frames of 32x32, 4,800 steps: ~9 min on 2 Zen 5 cores, ~18
on 2 Zen 3 cores),
`configs/vgan.py:paper` (the paper: 32 frames of 64x64, batch 64, Adam 2e-4 b1 0.5),
`configs/vgan.py:tiny` (for tests).
"""
import ml_collections

from jaxvid import config_defaults


# The paper's value of every option the CPU demo may change (`:paper` and `:tiny` use them).
PAPER_SETTINGS = {"upsample": "transposed", "ema_decay": 0.0, "d_learning_rate": 0.0,
                  "gan_loss": "nonsaturating", "r1_gamma": 0.0, "diffaugment": "",
                  "minibatch_std": False, "instance_noise": 0.0,
                  "spectral_norm": False}


def get_config(variant: str = "") -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.model = "vgan"
  config.seed = 0
  # Compute dtype for activations; parameters and optimizer state stay float32.
  config.dtype = "float32"

  # synthetic_scenes is made locally on first use; see README "Data" for the others.
  # 256 held-out clips: FVD on fewer is too biased to compare (python -m jaxvid.evaluate)
  config.data = config_defaults.data("synthetic_scenes", frames=16, height=32, width=32,
                                     num_clips=4096, num_test=256)
  # Plain two-colour backgrounds, without synthetic_scenes' faint stripes: their oriented
  # high-frequency texture is what the demo's generator could not draw in its 4,800 steps
  # (sixteen settings side by side, experiments/results_vgan_data_sweep_h200_2026-12-04).
  # `:paper` and `:tiny` keep the stripes (the data was never the paper's).
  config.data.stripes = 0.0

  config.vgan = ml_collections.ConfigDict()
  config.vgan.conditional = False
  config.vgan.z_dim = 100
  # CPU demo widths (paper / 4): ~9 steps/s at batch 8 on 2 Zen 5 cores (4,800 steps in ~9
  # minutes), ~4.7 on 2 Zen 3 (AVX2) cores (~18 minutes; 2,800 steps, which fit in 10 minutes
  # there, end at FVD 1010, above the frozen frame's 815: docs/vgan.md); `:paper` has the
  # paper's widths.
  config.vgan.g_channels = (128, 64, 32)
  config.vgan.d_channels = (32, 64, 128)
  config.vgan.encoder_channels = ()  # conditional only
  config.vgan.mask_weight = 0.1  # lambda of the mask sparsity term
  # Initial mask logit bias. The authors' 0 starts the mask at 0.5 everywhere, and the
  # mask's L1 term (a mean over voxels, weight 0.1) is too weak to pull it down within a CPU
  # demo: after 2,200 steps the mask was ~0.5 grey. -3 starts it at 0.05 (background showing)
  # and the adversarial gradient raises it where things move. `:paper` keeps 0.
  config.vgan.mask_bias_init = -3.0
  config.vgan.l1_weight = 0.0  # conditional only: L1 on the first frame
  # Stabilisers from the literature, none in the paper (docs/vgan.md, "Differences from the
  # paper", has a row for each); `:paper` and `:tiny` switch every one off (PAPER_SETTINGS).
  # The demo uses the three that measured best together on the demo's budget (fifteen
  # settings side by side: experiments/results_vgan_stabiliser_sweep_h200_2026-12-04):
  # resize-convs, an EMA of G and DiffAugment's translation + cutout.
  # G's stride-2 layers: 'transposed' (the paper's k4 s2 transposed convs), 'resize' (nearest
  # x2 + k3 conv in every one: no checkerboards, Odena et al. 2016) or 'resize_out' (only the
  # f, m, b output layers).
  config.vgan.upsample = "resize"
  # Sample with an exponential moving average of G's parameters (Karras et al. 2018; 0 = off).
  config.vgan.ema_decay = 0.999
  # D's own Adam learning rate (TTUR, Heusel et al. 2017; 0: optim.learning_rate for both).
  config.vgan.d_learning_rate = 0.0
  # 'nonsaturating' (the paper's) or 'hinge' (Lim & Ye 2017; Miyato et al. 2018).
  config.vgan.gan_loss = "nonsaturating"
  # R1 penalty gamma on real clips (Mescheder et al. 2018; 0 = off).
  config.vgan.r1_gamma = 0.0
  # DiffAugment of everything D sees, e.g. "color,translation,cutout" (Zhao et al. 2020).
  config.vgan.diffaugment = "translation,cutout"
  # Minibatch standard deviation as a channel before D's logit (Karras et al. 2018).
  config.vgan.minibatch_std = False
  # Spectral normalisation of D's convs in place of its BatchNorm (Miyato et al. 2018).
  # The demo's fourth stabiliser, with the learning rate's linear decay over the second half
  # (optim.decay_steps below): the pair measured best on plain scenes (twenty runs side by
  # side, experiments/results_vgan_plain_sweep_h200_2026-12-04).
  config.vgan.spectral_norm = True
  # Instance noise: std of Gaussian noise on D's inputs, annealed to 0 (Sønderby et al. 2017).
  config.vgan.instance_noise = 0.0
  # 'two' (the paper's two-stream generator) or 'one' (the paper's one-stream baseline).
  config.vgan.streams = "two"
  # 'fast' (phase-decomposed, best on XLA:CPU), 'literal' (lhs-dilated convs), or 'auto'.
  config.vgan.conv_impl = "auto"

  # The rate falls linearly to 0 over the last 2,400 steps (pix2pixHD's niter_decay; the
  # paper's rate is constant): the late checkpoints stop wandering. `:paper`/`:tiny`: 0.
  config.optim = config_defaults.adam(2e-4, decay_steps=2400)

  # Checkpoints every 800 steps: the demo's FVD goal is the mean over the last three.
  config.train = config_defaults.train(batch_size=8, num_steps=4800, log_every=100,
                                       checkpoint_every=800, sample_every=1200, num_samples=8,
                                       sample_fps=8)

  if variant in ("paper", "tiny"):
    config.vgan.update(PAPER_SETTINGS)
    config.optim.decay_steps = 0
    config.data.stripes = config_defaults.DATA_DEFAULTS["stripes"]
  if variant == "paper":
    config.data.frames, config.data.height, config.data.width = 32, 64, 64
    config.vgan.g_channels = (512, 256, 128, 64)
    config.vgan.d_channels = (64, 128, 256, 512)
    config.vgan.mask_bias_init = 0.0  # the authors' init
    config.train.batch_size = 64
    config.train.num_steps = 100_000
    config.train.log_every = 100
    config.train.checkpoint_every = 1000
    config.train.sample_every = 1000
    config.train.num_samples = 16
  elif variant == "tiny":
    config.data.frames, config.data.height, config.data.width = 8, 16, 16
    config.data.num_clips = 64
    config.data.num_test = 4
    config.vgan.z_dim = 8
    config.vgan.g_channels = (16, 8)
    config.vgan.d_channels = (8, 16)
    config.vgan.mask_bias_init = 0.0
    config.train = config_defaults.tiny_train(batch_size=4, num_steps=4)
  elif variant:
    raise ValueError(f"unknown variant {variant!r} of configs/vgan.py; use '', 'paper' or 'tiny'")
  return config
