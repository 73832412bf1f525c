"""Suite 'classify': video classifiers (VGAN's D fine-tuned, configs/vgan_classify.py) on the
held-out clips, side by side: the paper's action-recognition table.

  python -m jaxvid.evaluate --suite=classify --workdir=runs/cls_random,runs/cls_linear,runs/cls_vgan

Rows: each --workdir (its classify.init and classify.train named) and chance (1 / classes).
Top-1 accuracy over the held-out clips with a bootstrap 95 % interval over clips, and each
class's accuracy; a confusion-matrix picture of each model (rows: the true class, columns: the
predicted one) in --figure (.png; default WORKDIR/eval/classify_confusion.png of the first
model, 'none': none). Every model sees the same clips (the first model's test split).
"""
from __future__ import annotations

import os

import jax
import numpy as np

from jaxvid import paths
from jaxvid.data import labels as labels_lib
from jaxvid.data import pipeline
from jaxvid.errors import UserError
from jaxvid.evaluators import common

BATCH = 64


def check(model, options: common.Options) -> None:
  if model.kind != "vgan_classify":
    raise UserError(f"suite classify measures vgan_classify models; {model.workdir} holds a "
                    f"{model.kind!r} model")
  if options.num_videos < 0:
    raise UserError(f"--num_videos must be >= 0, got {options.num_videos}")


def predictions(model, videos: np.ndarray) -> np.ndarray:
  predict = jax.jit(model.trainer.predict)
  return np.concatenate([np.argmax(np.asarray(predict(model.state, videos[i:i + BATCH])), -1)
                         for i in range(0, len(videos), BATCH)])


def confusion(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
  """(classes, classes) counts: [true class, predicted class]."""
  out = np.zeros((classes, classes), np.int64)
  np.add.at(out, (truth, predicted), 1)
  return out


def row_name(model) -> str:
  c = model.config.classify
  how = ("from scratch" if c.init == "random" else
         "VGAN, linear (trunk frozen)" if c.train == "head" else "VGAN, fine-tuned")
  return f"{how}: {model.workdir}"


def run(models, options: common.Options, features=None, load=None) -> dict:
  del features, load
  for model in models:
    check(model, options)
  config = models[0].config
  classes = int(config.classify.num_classes)
  for model in models[1:]:
    if int(model.config.classify.num_classes) != classes:
      raise UserError(f"{model.workdir} has {model.config.classify.num_classes} classes, "
                      f"{models[0].workdir} {classes}: compare models of one task")
  available = len(pipeline.test_source(config))
  num = options.num_videos or available
  if num > available:
    raise UserError(f"--num_videos={num}, but the test split has {available} clips")
  batch = pipeline.make_sample_batch(config, num, held_out_only=True)
  truth = np.asarray(batch["label"]).astype(np.int64)
  names = labels_lib.class_names(config.data, classes)
  rows, matrices = {}, {}
  for i, model in enumerate(models):
    predicted = predictions(model, np.asarray(batch["video"]))
    correct = (predicted == truth).astype(np.float64)
    row = common.mean_row("accuracy", correct, seed=options.seed + i)
    row["per_class"] = {names[k]: float(correct[truth == k].mean()) if (truth == k).any()
                        else float("nan") for k in range(classes)}
    rows[row_name(model)] = row
    matrices[row_name(model)] = confusion(truth, predicted, classes)
  rows["chance (1 / classes)"] = {"accuracy": 1.0 / classes, "accuracy_95": [1.0 / classes] * 2}
  report = {"clips": int(num), "classes": names, "rows": rows,
            "confusion": {k: v.tolist() for k, v in matrices.items()}}
  figure = options.figure or os.path.join(paths.resolve(models[0].workdir), "eval",
                                          "classify_confusion.png")
  if figure != "none":
    write_confusion_figure(matrices, names, figure)
    report["figure"] = figure
  return report


def write_confusion_figure(matrices: dict, names: list[str], path: str) -> None:
  """One panel per model: the confusion matrix, each true class's row as shares."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, len(matrices), figsize=(4.2 * len(matrices), 4.2), squeeze=False)
  for ax, (title, counts) in zip(axes[0], matrices.items()):
    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    ax.imshow(shares, vmin=0, vmax=1, cmap="viridis")
    how, _, workdir = title.partition(": ")  # two runs of one kind told apart by their folder
    ax.set_title(f"{how}\n{os.path.basename(workdir.rstrip('/'))}", fontsize=9)
    ticks = range(len(names)) if len(names) <= 20 else []
    ax.set_xticks(list(ticks), [names[k] for k in ticks], rotation=90, fontsize=7)
    ax.set_yticks(list(ticks), [names[k] for k in ticks], fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=100)
  plt.close(fig)


def format_table(report: dict) -> str:
  lines = [f"classify {report['workdir']}: {report['clips']} held-out clips, "
           f"{len(report['classes'])} classes; top-1 accuracy [bootstrap 95 % interval]"]
  for name, r in report["rows"].items():
    low, high = r["accuracy_95"]
    lines.append(f"  {name[:70]:70s} {r['accuracy']:.3f} [{low:.3f}, {high:.3f}]")
  if report.get("figure"):
    lines.append(f"confusion matrices: {report['figure']}")
  return "\n".join(lines)
