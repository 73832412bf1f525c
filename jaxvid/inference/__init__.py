"""Trained models as objects, one class per kind (`jaxvid.load` builds them):

  base.py        TrainedModel: config, trainer, state, step; input checks; videos_for(batch)
  vgan.py        VGANModel: generate(n), predict(frames)
  pose_knows.py  PoseVAEModel.forecast, PoseGANModel.render, forecast_videos (the pipeline)
  edn.py         EDNModel: transfer, generate_chunks; sources and pose normalisation
"""
from jaxvid.inference.base import TrainedModel
from jaxvid.inference.edn import EDNModel
from jaxvid.inference.pose_knows import PoseGANModel, PoseVAEModel
from jaxvid.inference.vgan import VGANModel

KINDS = {"vgan": VGANModel, "pose_vae": PoseVAEModel, "pose_gan": PoseGANModel, "edn": EDNModel}


def model_class(kind: str) -> type[TrainedModel]:
  return KINDS.get(kind, TrainedModel)
