"""One trainer per model; `get_trainer(config)` picks it from `config.model`."""
from jaxvid.errors import UserError


def get_trainer(config):
  model = config.get("model")
  if model == "vgan":
    from jaxvid.trainers.vgan import VGANTrainer
    return VGANTrainer(config)
  if model == "pose_vae":
    from jaxvid.trainers.pose_vae import PoseVAETrainer
    return PoseVAETrainer(config)
  if model == "pose_gan":
    from jaxvid.trainers.pose_gan import PoseGANTrainer
    return PoseGANTrainer(config)
  if model == "edn":
    from jaxvid.trainers.edn import EDNTrainer
    return EDNTrainer(config)
  if model == "vgan_classify":
    from jaxvid.trainers.vgan_classify import VGANClassifyTrainer
    return VGANClassifyTrainer(config)
  raise UserError(f"config.model={model!r} has no trainer; available: 'vgan', 'pose_vae', "
                  f"'pose_gan', 'edn', 'vgan_classify'")
