"""The Pose Knows, pose-VAE: forecast pose futures from one frame and the past poses.

Variants: default (CPU: 64x64 synthetic dancer, hidden 256, steps of 3 frames: the 5 future
steps cover the pose GAN's 16-frame clip), `:branching` (CPU: the dancer whose futures branch
into one of 3 moves, where sampled futures must differ; 8,192 clips and the rate decayed over
the second half, which the code does not do), `:paper` (2 LSTM layers of 1024, Q's
hidden layer 512, batch 32, Adam 1e-3, the code's 2 past / 5 future steps of 6 frames: 30
frames forecast), `:tiny` (tests).
"""
import ml_collections

from jaxvid import config_defaults


def get_config(variant: str = "") -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.model = "pose_vae"
  config.seed = 0
  config.dtype = "float32"

  config.data = config_defaults.data("synthetic_dancer", frames=24, height=64, width=64,
                                     num_clips=1024)

  config.pose_vae = ml_collections.ConfigDict()
  config.pose_vae.past_steps = 2
  config.pose_vae.future_steps = 5
  # Video frames per pose step: the code's 5 future steps span 30 frames (6); 3 here, so that
  # the 5 steps cover the CPU pose GAN's 16 frames. Windows span (2 + 5) x 3 + 1 = 22 frames.
  config.pose_vae.frames_per_step = 3
  # Keypoint confidence above this -> 1, else 0 (the code's loader); None keeps it as given.
  config.pose_vae.confidence_threshold = 0.1
  # Every part its own pose / motion embeddings (the code's buildModels); True: one shared.
  config.pose_vae.shared_embeddings = False
  config.pose_vae.hidden = 256
  config.pose_vae.num_layers = 2
  config.pose_vae.latent = 4
  config.pose_vae.embed = 128
  config.pose_vae.image_features = 128
  # Q: 'code' = one hidden layer over H_t and the whole future's motion (buildVAE);
  # 'paper' = an LSTM over the future's motion and poses.
  config.pose_vae.posterior = "code"
  config.pose_vae.posterior_hidden = 256
  # The code's layer lists (buildModels.lua), on at :paper: its AlexNet-like frame encoder
  # ('small': 3 convs and a global mean, the CPU configs'), a Dense 1024 + BatchNorm over the
  # joined pose embeddings (0: none) and Q's inputs tiled x10 / x100.
  config.pose_vae.frame_encoder = "small"
  config.pose_vae.joint_pose_features = 0
  config.pose_vae.q_tiling = False
  config.pose_vae.past_decoder_input = "zeros"  # 'code': through its own Dense + BatchNorm
  # The code's weights, switched at its iteration 60k; its KL summed over the batch ('sum');
  # 'per_sample' = the paper's KL of one sample's whole latent.
  config.pose_vae.reconstruction_weight = 0.99975
  config.pose_vae.kl_weight = 0.00025
  config.pose_vae.weight_switch_step = 60_000
  config.pose_vae.late_reconstruction_weight = 0.9995
  config.pose_vae.late_kl_weight = 0.0005
  config.pose_vae.kl_reduction = "sum"
  config.pose_vae.num_futures = 3  # sampled futures drawn per sample

  config.optim = ml_collections.ConfigDict()
  config.optim.learning_rate = 1e-3
  # > 0: the rate falls linearly to 0 over the last decay_steps (the code's rate is constant)
  config.optim.decay_steps = 0

  config.train = config_defaults.train(batch_size=32, num_steps=2000, log_every=50,
                                       checkpoint_every=500, sample_every=1000, num_samples=4,
                                       sample_fps=4)

  if variant == "branching":
    config.data.branching = True
    config.data.frames = 22  # the window: 2 past steps, the branch frame, 5 future steps
    config.data.branch_step_frames = 3  # the branch's timing in the pose-VAE's steps
    # 8,192 training windows: on 2,048 the VAE overfits them by 3,000 steps (training loss still
    # falling, the held-out error from Q rising) and the futures blur together
    config.data.num_clips = 8192
    config.data.num_test = 256
    config.pose_vae.num_futures = 10
    config.train.num_steps = 3000
    config.optim.decay_steps = 1500  # the rate linear to 0 over the second half
    config.train.checkpoint_every = 1000
    config.train.sample_every = 1000
  elif variant == "paper":
    config.data.height, config.data.width = 240, 320  # the code's frames
    config.data.frames = 48  # windows of (2 + 5) x 6 + 1 = 43 frames
    config.pose_vae.frames_per_step = 6  # the code: 5 steps = 30 frames (opt.timestep)
    config.pose_vae.posterior_hidden = 512  # the code's opt.vaeHidden
    config.pose_vae.hidden = 1024
    config.pose_vae.embed = 54  # the code's embeddings: 54 wide
    config.pose_vae.image_features = 1024
    config.pose_vae.frame_encoder = "code"
    config.pose_vae.joint_pose_features = 1024
    config.pose_vae.q_tiling = True
    config.pose_vae.past_decoder_input = "code"
    config.train.num_steps = 80_005  # the code's opt.totalIter (its weight switch is at 60k)
  elif variant == "tiny":
    config.data.frames, config.data.height, config.data.width = 8, 32, 32
    config.pose_vae.frames_per_step = 1
    config.data.num_clips = 16
    config.data.num_test = 2
    config.pose_vae.hidden = 16
    config.pose_vae.embed = 8
    config.pose_vae.image_features = 8
    config.pose_vae.num_futures = 2
    config.train = config_defaults.tiny_train(batch_size=4, num_steps=4)
  elif variant:
    raise ValueError(f"unknown variant {variant!r} of configs/pose_vae.py; use '', 'branching', "
                     f"'paper' or 'tiny'")
  return config
