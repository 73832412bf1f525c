"""Class labels of a folder of videos: one sub-folder per class (UCF-101's own layout,
`ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi`), and UCF-101's official split files.

`trainlist0N.txt` lines are `ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1` (a path relative to
the videos' root and a 1-based class index); `testlist0N.txt` lines the path alone. The class
of a video is its top-level sub-folder, named as the folder is; classes are numbered in sorted
order (UCF-101's classInd.txt is alphabetical too).
"""
from __future__ import annotations

import os

from jaxvid.errors import UserError


def folder_classes(folder: str, videos: list[str]) -> tuple[list[str], dict[str, int]]:
  """The class names (sorted top-level sub-folders of `folder`) and each video's class index.
  A video directly in `folder` (no class) and a class folder with no video are errors."""
  folder = os.path.abspath(folder)
  class_of = {}
  for path in videos:
    parts = os.path.relpath(os.path.abspath(path), folder).split(os.sep)
    if len(parts) < 2:
      raise UserError(f"{path}: with config.data.labels='folder' every video must be in a "
                      f"sub-folder of {folder} named by its class (UCF-101's layout)")
    class_of[path] = parts[0]
  classes = sorted(set(class_of.values()))
  empty = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d))
                 and d not in classes and not d.startswith("."))
  if empty:
    raise UserError(f"class folder {os.path.join(folder, empty[0])} has no videos "
                    f"(config.data.labels='folder': one sub-folder of videos per class)")
  if len(classes) < 2:
    raise UserError(f"{folder}: config.data.labels='folder' needs at least 2 class folders, "
                    f"found {len(classes)}")
  index = {name: i for i, name in enumerate(classes)}
  return classes, {path: index[name] for path, name in class_of.items()}


def _listed(list_file: str, folder: str, videos: list[str]) -> list[str]:
  if not os.path.isfile(list_file):
    raise UserError(f"split list {list_file} does not exist")
  by_relpath = {os.path.relpath(os.path.abspath(p), os.path.abspath(folder)): p for p in videos}
  out, missing = [], []
  with open(list_file) as f:
    for line in f:
      if not line.strip():
        continue
      rel = os.path.normpath(line.split()[0])
      (out.append(by_relpath[rel]) if rel in by_relpath else missing.append(rel))
  if missing:
    raise UserError(f"{list_file} names {len(missing)} videos not in {folder}, e.g. "
                    f"{missing[0]}")
  return out


def official_split(split_list: str, folder: str, videos: list[str]) -> tuple[list, list]:
  """The train and test videos of UCF-101's `trainlist0N.txt` and the `testlist0N.txt` beside
  it; a listed video that is not in the folder is an error."""
  split_list = os.path.expanduser(split_list)
  name = os.path.basename(split_list)
  if not name.startswith("trainlist"):
    raise UserError(f"config.data.split_list={split_list}: give UCF-101's trainlist0N.txt (its "
                    f"testlist0N.txt is read from beside it)")
  test_list = os.path.join(os.path.dirname(split_list), name.replace("trainlist", "testlist"))
  return _listed(split_list, folder, videos), _listed(test_list, folder, videos)


def class_names(data_config, num_classes: int) -> list[str]:
  """The names of a labelled dataset's classes, in label order."""
  from jaxvid import config_defaults, video_io
  from jaxvid.data import synthetic_scenes
  kind = config_defaults.data_value(data_config, "labels")
  if kind == "direction":
    return list(synthetic_scenes.DIRECTIONS)
  folder = os.path.expanduser(config_defaults.data_value(data_config, "manual_dir") or "")
  if kind == "folder" and os.path.isdir(folder):
    return folder_classes(folder, video_io.list_videos(folder))[0]
  return [str(k) for k in range(num_classes)]
