"""Evaluate trained models with a named suite (jaxvid/evaluators):

  python -m jaxvid.evaluate --suite                        # lists the suites
  python -m jaxvid.evaluate --workdir=runs/vgan --baselines             # the model's own suite
  python -m jaxvid.evaluate --suite=video --workdir=runs/vgan --metrics=fvd --baselines
  python -m jaxvid.evaluate --suite=vgan_streams --workdir=runs/vgan
  python -m jaxvid.evaluate --suite=pose_forecast --workdir=runs/pose_vae_branching
  python -m jaxvid.evaluate --suite=pose_gan --workdir=runs/pose_gan
  python -m jaxvid.evaluate --suite=edn --workdir=runs/edn_frame,runs/edn,runs/edn_face

--workdir: a training workdir or an export (`jaxvid.load` reads both); the edn suite takes
several, compared side by side. Without --suite, the model's own: video (VGAN), pose_gan,
pose_forecast (pose-VAE), edn. Writes a JSON report (default WORKDIR/eval/<suite>-step<N>.json,
so no report replaces another's) and prints a table. I3D features (FVD) of every clip set are
computed once and kept, keyed by the clips' content, in WORKDIR/eval_cache (a model's) and
DATA_DIR/eval_cache (the dataset's own: real clips, baselines); --nocache: not.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys

from absl import app, flags

from jaxvid import api, errors, evaluators, paths
from jaxvid.errors import UserError

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("suite", None, "the suite (jaxvid/evaluators; --suite alone lists them; "
                      "default: the model's own)")
  flags.DEFINE_list("workdir", None, "training workdir or export (the edn suite: several, "
                    "comma-separated)")
  flags.DEFINE_integer("step", None, "checkpoint step (default: the newest)")
  flags.DEFINE_string("metrics", "fvd,lpips,ssim,psnr", "suite video: comma-separated, of "
                      "fvd, lpips, lpips_vgg, ssim, psnr, pose")
  flags.DEFINE_integer("num_videos", 0, "held-out clips (0: the suite's default, at most 256 "
                       "and what the test split has); more than it has is an error")
  flags.DEFINE_bool("baselines", False, "suite video: add the baseline rows")
  flags.DEFINE_enum("protocol", "held_out", ["held_out", "stylegan_v"], "suite video: "
                    "held_out (the test split vs as many generated) or stylegan_v (FVD of "
                    "2,048 generated 16-frame videos vs 2,048 train clips)")
  flags.DEFINE_bool("fvd", True, "suites pose_gan, vgan_streams: also FVD")
  flags.DEFINE_integer("samples", 10, "suite pose_forecast: futures sampled per window")
  flags.DEFINE_integer("futures", 5, "suite pose_knows: futures shown per clip (k-means)")
  flags.DEFINE_string("figure", "", "suites pose_forecast (.gif/.mp4, default "
                      "WORKDIR/pose_forecast.gif) and classify (.png, default "
                      "WORKDIR/eval/classify_confusion.png): the figure; 'none' skips it")
  flags.DEFINE_integer("num_test", 0, "suites edn, pose_gan, pose_knows: build this many "
                       "held-out synthetic clips (the training clips unchanged)")
  flags.DEFINE_string("transfer", "", "suite edn: also transfer this source (jaxvid.transfer's "
                      "--source syntax) and measure how the figure follows the poses")
  flags.DEFINE_string("pose_noise", "", "suite edn: also drive every model with poses as a "
                      "detector gives them (jaxvid.poses.detector_noise: mediapipe_dancer_64), "
                      "raw and temporally smoothed")
  flags.DEFINE_list("smooth_windows", ["7"], "suite edn with --pose_noise: median windows "
                    "(frames) of the smoothed rows, e.g. 7,5,3 (7: the authors' code)")
  flags.DEFINE_integer("seed", 0, "seed of the samples and the bootstrap")
  flags.DEFINE_string("output", "", "JSON report (default WORKDIR/eval/<suite>-step<N>.json)")
  flags.DEFINE_bool("cache", True, "keep I3D features in WORKDIR/eval_cache and "
                    "DATA_DIR/eval_cache")
  flags.DEFINE_bool("overwrite", False, "replace an existing --output or --figure")
  flags.DEFINE_string("data_dir", "", "where the held-out dataset is built and read (default: "
                      "a training workdir's own; TFDS's default for an export, whose paths "
                      "are never used)")
  flags.DEFINE_string("manual_dir", "", "a video_folder model's videos (default: a training "
                      "workdir's own; an export's must be given)")
  flags.DEFINE_bool("progress", True, "progress bars (one line per stage off a terminal)")


def parse_flags(argv):
  """absl's parser, with a bare `--suite` (no value) read as `--suite=` (list the suites)."""
  return flags.FLAGS([("--suite=" if a == "--suite" else a) for a in argv])


# Options that change how a suite runs, not its numbers: left out of the report's name.
_NOT_IN_NAME = ("progress", "cache", "figure")


def report_name(suite: str, step: int, options) -> str:
  """eval/<suite>-step<N>[...].json: every option that changes the numbers is in the name, so
  an evaluation with other options never replaces another's report (the usual ones spelled
  out, the rest as a short hash of their values)."""
  name = f"{suite}-step{step}"
  shown = ["num_videos", "seed", *_NOT_IN_NAME]
  if suite == "video":
    name += "-" + "+".join(options.metrics) + ("-baselines" if options.baselines else "")
    name += "-stylegan_v" if options.protocol == "stylegan_v" else ""
    shown += ["metrics", "baselines", "protocol"]
  name += f"-n{options.num_videos}" if options.num_videos else ""
  name += f"-seed{options.seed}" if options.seed else ""
  defaults = evaluators.common.Options()
  rest = {k: v for k, v in dataclasses.asdict(options).items()
          if k not in shown and v != getattr(defaults, k)}
  if rest:
    text = json.dumps(rest, sort_keys=True, default=str)
    name += "-" + hashlib.sha1(text.encode()).hexdigest()[:8]
  return name + ".json"


def _check_not_in_a_workdir(path: str, flag: str, workdirs: list[str]) -> None:
  """Reports and figures go in a workdir's eval/ folder or outside it: never over its config,
  checkpoints or samples (a report written as WORKDIR/config.json ended the run)."""
  if paths.is_remote(path):
    return
  path = os.path.realpath(path)  # through links too
  for workdir in workdirs:
    if paths.is_remote(workdir):
      continue
    workdir = os.path.realpath(workdir)
    inside = os.path.commonpath([path, workdir]) == workdir
    if inside and os.path.commonpath([path, os.path.join(workdir, "eval")]) != \
        os.path.join(workdir, "eval"):
      raise UserError(f"{flag} {path} is inside the model folder {workdir}: its files are the "
                      f"run's own; write into {os.path.join(workdir, 'eval')} or elsewhere")


def _check_outputs(workdirs: list[str]) -> tuple[str, str]:
  """--output and --figure, before any work: a file of the right kind, not in a model folder
  (but its eval/), an existing one only with --overwrite."""
  output = figure = ""
  if FLAGS.output:
    output = paths.check_output_file(FLAGS.output, "--output", suffixes=(".json",),
                                     overwrite=FLAGS.overwrite)
    _check_not_in_a_workdir(output, "--output", workdirs)
  if FLAGS.figure and FLAGS.figure != "none":
    figure = paths.check_output_file(FLAGS.figure, "--figure", suffixes=(".gif", ".mp4", ".png"),
                                     overwrite=FLAGS.overwrite)
    _check_not_in_a_workdir(figure, "--figure", workdirs)
  return output, figure


def _check_output_folder(folder: str) -> None:
  if paths.is_remote(folder):
    return  # a bucket: written through etils.epath, nothing to check before
  try:
    os.makedirs(folder, exist_ok=True)
  except OSError as e:
    raise UserError(f"cannot create the report's folder {folder} ({e.strerror or e}): give "
                    f"--output=FILE.json somewhere writable") from e
  if not os.access(folder, os.W_OK):
    raise UserError(f"the report's folder {folder} is not writable: give --output=FILE.json "
                    f"somewhere writable")


def _windows(values) -> tuple[int, ...]:
  try:
    return tuple(int(v) for v in values)
  except ValueError as e:
    raise UserError(f"--smooth_windows takes whole frame counts, e.g. 7,5,3; got "
                    f"{','.join(values)}") from e


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if FLAGS.suite == "":
    print(evaluators.listing())
    return
  if not FLAGS.workdir:
    raise UserError("give --workdir=DIR (a training workdir or an export)")
  workdirs = [paths.resolve(w) for w in FLAGS.workdir]
  suite = evaluators.get(FLAGS.suite) if FLAGS.suite else None
  options = evaluators.common.Options(
      num_videos=FLAGS.num_videos, seed=FLAGS.seed,
      metrics=tuple(m.strip() for m in FLAGS.metrics.split(",") if m.strip()),
      baselines=FLAGS.baselines, protocol=FLAGS.protocol, progress=FLAGS.progress,
      cache=FLAGS.cache, fvd=FLAGS.fvd, samples=FLAGS.samples, futures=FLAGS.futures,
      figure=FLAGS.figure,
      num_test=FLAGS.num_test, transfer=FLAGS.transfer, pose_noise=FLAGS.pose_noise,
      smooth_windows=_windows(FLAGS.smooth_windows))
  if FLAGS.num_videos < 0:
    raise UserError(f"--num_videos must be >= 0 (0: the suite's default), got "
                    f"{FLAGS.num_videos}")
  output, figure = _check_outputs(workdirs)
  if figure:
    options.figure = figure
  if not output:
    _check_output_folder(paths.join(workdirs[0], "eval"))
  models = [api.load(w, FLAGS.step, data_dir=FLAGS.data_dir or None,
                     manual_dir=FLAGS.manual_dir or None) for w in workdirs]
  suite = suite or evaluators.get(evaluators.DEFAULT.get(models[0].kind, "video"))
  print(f"suite {suite.name}: {', '.join(f'{m.kind} step {m.step} ({m.workdir})' for m in models)}",
        file=sys.stderr, flush=True)
  report = evaluators.run(suite, models, options, api.load)
  output = output or paths.join(workdirs[0], "eval", report_name(suite.name, models[0].step,
                                                                    options))
  paths.Path(output).parent.mkdir(parents=True, exist_ok=True)
  paths.Path(output).write_text(json.dumps(report, indent=2))
  print(suite.module.format_table(report))
  print(f"wrote {output}")


if __name__ == "__main__":
  define_flags()
  app.run(errors.run_cli(main), flags_parser=parse_flags)
