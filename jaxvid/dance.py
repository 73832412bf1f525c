"""Everybody Dance Now with your own two videos, in one command:

  python -m jaxvid.dance --target=me.mp4 --source=them.mp4 --output=me_dancing.mp4

A video of you (the target: a few minutes, static camera, your whole body, varied poses) and a
video of someone dancing (the source) in; you performing their dance, with their music, out.
It extracts both people's poses, builds your dataset, trains stage 1 and the face stage, then
transfers the source (jaxvid/dance_stages.py). The plan, with each stage's time measured on
this machine, comes first. --workdir (default runs/dance/<target's name>) keeps every stage: a
rerun continues where it stopped (Ctrl-C included) and skips what is done, and another
--source reuses the trained target. Presets (configs/dance.py): tiny (tests), preview (about
half an hour for a minute of video on 2 CPU cores), paper (an accelerator); --set KEY=VALUE
overrides stage 1's config, --face_set the face stage's.
"""
from __future__ import annotations

import importlib
import os
import shutil
import time

from absl import app, flags

from jaxvid import config_defaults, errors, paths
from jaxvid import dance_stages as stages
from jaxvid.errors import UserError

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("target", None, "a video of the person who will dance (you)")
  flags.DEFINE_string("source", None, "a video of the dance to perform")
  flags.DEFINE_string("output", None, "the video to write (.mp4; .gif without sound)")
  flags.DEFINE_string("workdir", "", "where every stage is kept (default "
                      "runs/dance/<target's name>)")
  flags.DEFINE_enum("preset", "preview", ["tiny", "preview", "paper"], "configs/dance.py")
  flags.DEFINE_multi_string("set", [], "KEY=VALUE: a stage-1 config override, e.g. "
                            "train.num_steps=3000 (repeatable)")
  flags.DEFINE_multi_string("face_set", [], "KEY=VALUE: a face-stage config override")
  flags.DEFINE_string("person", "largest", "whom to follow in the source: 'largest' or X,Y (a "
                      "pixel of the frame the person is in)")
  flags.DEFINE_string("target_person", "largest", "whom to follow in the target video")
  flags.DEFINE_bool("retrain", False, "the workdir learned another target: set its stages "
                    "aside (kept as previous-N/) and train this one")
  flags.DEFINE_bool("audio", True, "keep the source's sound (--noaudio: none)")
  flags.DEFINE_bool("overwrite", False, "replace an existing --output (never an input)")
  flags.DEFINE_bool("progress", True, "progress bars (one line per stage off a terminal)")
  flags.mark_flags_as_required(["target", "source", "output"])


def _override(config, items: list[str], flag: str):
  """KEY=VALUE strings set on `config`, each value read as the type the key has."""
  for item in items:
    key, sep, text = item.partition("=")
    if not sep:
      raise UserError(f"--{flag} {item!r}: use KEY=VALUE, e.g. train.num_steps=3000")
    *sections, leaf = key.split(".")
    node = config
    try:
      for section in sections:
        node = node[section]
      old = node[leaf]
    except (KeyError, AttributeError, TypeError):
      raise UserError(f"--{flag} {item!r}: the preset's config has no key {key!r}") from None
    try:
      value = (text.lower() in ("1", "true", "yes") if isinstance(old, bool)
               else type(old)(text) if old is not None else text)
    except ValueError:
      raise UserError(f"--{flag} {item!r}: {key} takes a {type(old).__name__}") from None
    node[leaf] = value
  return config


def _video(path: str, flag: str) -> str:
  """An existing, readable video (resolved), or one error line."""
  from jaxvid import video_io
  path = paths.resolve(path)
  if not os.path.isfile(path):
    raise UserError(f"--{flag} {path} does not exist")
  try:
    info = video_io.probe(path)
  except video_io.VideoReadError as e:
    raise UserError(f"--{flag} {e}: give a video file") from e
  if info.num_frames < 2:
    raise UserError(f"--{flag} {path}: {info.num_frames} frame(s): give a video")
  return path


def _configs(workdir: str, target: str):
  """Stage 1's and the face stage's configs: the preset, the overrides, the target's folder."""
  module = importlib.import_module("configs.dance")
  stage1 = _override(module.get_config(FLAGS.preset), FLAGS.set, "set")
  face = _override(module.get_config(f"{FLAGS.preset}_face"), FLAGS.face_set, "face_set")
  for config in (stage1, face):
    config.data.manual_dir = os.path.join(workdir, "target")
    config.data.data_dir = os.path.join(workdir, "tfds")
    config.data.person = FLAGS.target_person
  face.edn.stage1_workdir = stages.stage_workdirs(workdir)["stage1"]
  for name in ("frames", "height", "width", "clip_stride", "person_crop", "test_fraction"):
    face.data[name] = stage1.data[name]  # one dataset for both stages
  from jaxvid import config_defaults
  for config, flag in ((stage1, "set"), (face, "face_set")):
    try:
      config_defaults.validate(config)
    except ValueError as e:
      raise UserError(f"--{flag}: {e}") from e
  return stage1, face


def _target_folder(workdir: str, target: str) -> None:
  """The target's dataset folder: a link to the user's video (nothing copied or moved)."""
  folder = os.path.join(workdir, "target")
  os.makedirs(folder, exist_ok=True)
  link = os.path.join(folder, "target" + os.path.splitext(target)[1].lower())
  if os.path.lexists(link) and os.path.realpath(link) != os.path.realpath(target):
    os.remove(link)
  if not os.path.lexists(link):
    os.symlink(target, link)


def _set_aside(workdir: str) -> str:
  n = 1
  while os.path.exists(os.path.join(workdir, f"previous-{n}")):
    n += 1
  kept = os.path.join(workdir, f"previous-{n}")
  os.makedirs(kept)
  for name in ("stage1", "face", "tfds", "target", stages.RECORD):
    if os.path.lexists(os.path.join(workdir, name)):
      shutil.move(os.path.join(workdir, name), os.path.join(kept, name))
  return kept


def _finished_steps(workdir: str) -> int:
  folder = os.path.join(workdir, "checkpoints")
  steps = [int(d) for d in os.listdir(folder) if d.isdigit()] if os.path.isdir(folder) else []
  return max(steps, default=0)


def _say(line: str) -> None:
  print(line, flush=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  from jaxvid.poses import extract, track
  target, source = _video(FLAGS.target, "target"), _video(FLAGS.source, "source")
  person = track.Choice.parse(FLAGS.person)
  target_person = track.Choice.parse(FLAGS.target_person, "--target_person")
  workdir = paths.resolve(FLAGS.workdir or os.path.join(
      "runs", "dance", os.path.splitext(os.path.basename(target))[0]))
  paths.check_writable_folder(workdir, "--workdir")
  target_digest, source_digest = extract.file_digest(target), extract.file_digest(source)
  record = stages.Record.read(workdir)
  if record is not None and not record.finished:  # a start that stopped before any stage ended
    record = None
  if record is not None and record.target_digest != target_digest:
    if not FLAGS.retrain:
      raise UserError(f"{workdir} learned another target ({record.target}): give another "
                      f"--workdir, or --retrain to set its stages aside and train this one")
    _say(f"--retrain: the stages of {record.target} kept in {_set_aside(workdir)}")
    record = None
  if record is not None and record.preset != FLAGS.preset:
    raise UserError(f"{workdir} trained the {record.preset!r} preset; this is {FLAGS.preset!r}: "
                    f"give another --workdir (or --retrain)")
  done_key = f"transfer:{source_digest}:{paths.resolve(FLAGS.output)}"
  if record is not None and done_key in record.finished and os.path.exists(
      paths.resolve(FLAGS.output)) and not FLAGS.overwrite:
    _say(f"nothing to do: {paths.resolve(FLAGS.output)} is {source}'s dance by the target of "
         f"{workdir} (--overwrite to make it again)")
    return
  from jaxvid import transfer
  outputs = transfer.output_paths(FLAGS.output, FLAGS.overwrite, (target, source))
  stage1, face = _configs(workdir, target)
  os.makedirs(workdir, exist_ok=True)
  record = record or stages.Record(target, target_digest, FLAGS.preset)  # written as stages end
  _target_folder(workdir, target)
  import jax  # compiled steps are kept: training reuses the plan's, a rerun compiles nothing
  if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    jax.config.update("jax_compilation_cache_dir", os.path.join(workdir, "xla_cache"))

  _plan(workdir, record, target, source, stage1, face)
  took, began = {}, [time.time()]

  def stage(name):
    if took:
      took[list(took)[-1]] = time.time() - began[-1]
    took[name] = 0.0
    began.append(time.time())
    _say(f"--- {name}")

  stage("poses")
  target_poses = extract.cached_poses(target, target_person, show_progress=FLAGS.progress,
                                      log=lambda line: _say(f"target: {line}"))
  need = importlib.import_module("configs.dance").MIN_BODY_FRAMES[FLAGS.preset]
  have = stages.whole_body_frames(target_poses.keypoints)
  if have < need:
    raise UserError(f"--target {target}: a whole body is confidently seen in {have} of its "
                    f"{len(target_poses.keypoints)} frames; the {FLAGS.preset} preset needs "
                    f"{need} (film the whole body, head to feet, reasonably large, longer)")
  source_poses = extract.cached_poses(source, person, show_progress=FLAGS.progress,
                                      log=lambda line: _say(f"source: {line}"))
  if not source_poses.detected.any():
    raise UserError(f"--source {source}: nobody found in any of its "
                    f"{len(source_poses.detected)} frames (MediaPipe needs a whole body, "
                    f"reasonably large)")
  _say(f"target: a whole body in {have} of {len(target_poses.keypoints)} frames; source: "
       f"someone in {100 * source_poses.detection_rate:.0f}% of {len(source_poses.detected)}")
  record.done("poses", workdir)
  stage("dataset")
  from jaxvid.data import pipeline
  pipeline.prepare(stage1.data)  # its summary is logged
  from jaxvid import schedule  # epochs (the paper preset) -> steps, from the dataset's frames
  stage1, face = (schedule.resolve(c, log=_say) for c in (stage1, face))
  from jaxvid import train
  for name, config in (("stage1", stage1), ("face", face)):
    stage(name)
    where = stages.stage_workdirs(workdir)[name]
    if name in record.finished:
      _say(f"{name}: done ({where})")
      continue
    train.train_and_evaluate(config, where, on_second_interrupt=_interrupted)
    if _finished_steps(where) < config.train.num_steps:  # a first Ctrl-C: saved and stopped
      errors.exit_interrupted(f"stopped in {name} at step {_finished_steps(where)}: rerun the "
                              f"same command to continue")
    record.done(name, workdir)
  stage("transfer")
  import jaxvid
  from jaxvid.inference import edn as edn_lib
  model = jaxvid.load(stages.stage_workdirs(workdir)["face"], expected="edn")
  d = model.config.data
  src = edn_lib.load_source(source, (d.height, d.width), person=person,
                            layout=config_defaults.data_value(d, "pose_layout"),
                            show_progress=FLAGS.progress, log=lambda line: _say(f"source: {line}"))
  transfer.perform(model, src, source, outputs,
                   transfer.Options(audio=FLAGS.audio, progress=FLAGS.progress,
                                    allow_outside=True))
  record.done(done_key, workdir)
  took["transfer"] = time.time() - began[-1]
  _say("took: " + ", ".join(f"{k} {stages.format_seconds(v)}" for k, v in took.items())
       + f"; total {stages.format_seconds(time.time() - began[0])} (after the plan)")


def _plan(workdir, record, target, source, stage1, face) -> None:
  """Each stage with its time on this machine (measured: a few frames of pose extraction, a
  few training steps of each stage not yet done, a few frames of transfer) and the total. The
  steps compiled here are kept in the compilation cache, where training finds them."""
  from jaxvid import schedule, video_io
  frames = {p: video_io.probe(p).num_frames for p in (target, source)}
  stages.check_room(workdir, stages.dataset_bytes(stage1, frames[target]))
  _say(f"plan ({FLAGS.preset} preset, in {workdir}); timing this machine ...")
  per_frame = stages.pose_seconds_per_frame(target)
  rows = [("poses", f"{frames[target]} + {frames[source]} frames",
           per_frame * (frames[target] + frames[source]))]
  rows.append(("dataset", f"{frames[target]} frames, {stage1.data.height}x{stage1.data.width}",
               0.02 * frames[target]))
  for name, config in (("stage1", stage1), ("face", face)):
    if name in record.finished:
      rows.append((name, "done", 0.0))
      continue
    compile_s, step_s = stages.step_seconds(config)  # compiled now, reused by training
    if schedule.uses_epochs(config):  # the paper preset: estimated from the target's frames
      held_out, step = (config_defaults.data_value(config.data, k)
                        for k in ("test_fraction", "frame_step"))
      config = schedule.resolve(config, int(frames[target] * (1 - held_out) / step),
                                log=lambda line: None)
    steps = config.train.num_steps - _finished_steps(stages.stage_workdirs(workdir)[name])
    rows.append((name, f"{steps} steps x {step_s:.2f} s (compiled in {compile_s:.0f} s)",
                 steps * step_s))
  compile_s, frame_s = stages.transfer_seconds_per_frame(face)
  rows.append(("transfer", f"{frames[source]} frames x {frame_s:.3f} s",
               frames[source] * frame_s + compile_s))
  for name, what, seconds in rows:
    _say(f"  {name:9s} {what:48s} ~{stages.format_seconds(seconds)}")
  _say(f"  {'total':9s} {'':48s} ~{stages.format_seconds(sum(r[2] for r in rows))}")


def _interrupted():
  errors.exit_interrupted("interrupted; rerun the same command to continue")


if __name__ == "__main__":
  define_flags()
  app.run(errors.run_cli(main))
