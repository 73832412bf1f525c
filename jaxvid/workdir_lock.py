"""One training run per workdir: a lock file with the holder's host and pid.

A second run on the same workdir stops with one line naming the holder. A lock left by a run
that died (its pid gone on this host) is taken over, and said so. A lock from another host
cannot be checked from here: the message says how to remove it if that run is gone.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import time

from jaxvid.errors import UserError

LOCK_NAME = ".jaxvid.lock"


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # exists, owned by someone else
    return True
  return True


def _read(path: str) -> dict:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return {}


@contextlib.contextmanager
def hold(workdir: str):
  path = os.path.join(workdir, LOCK_NAME)
  me = {"host": socket.gethostname(), "pid": os.getpid(),
        "since": time.strftime("%Y-%m-%d %H:%M:%S")}
  for _ in range(2):
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
      break
    except FileExistsError:
      holder = _read(path)
      same_host = holder.get("host") == me["host"]
      if same_host and isinstance(holder.get("pid"), int) and not _alive(holder["pid"]):
        print(f"taking over the lock of a run that is gone (pid {holder['pid']}, since "
              f"{holder.get('since', '?')})", flush=True)
        os.remove(path)
        continue
      where = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"
      hint = "" if same_host else f"; if that run is gone, delete {path}"
      raise UserError(f"workdir {workdir} is in use by another run ({where}, since "
                      f"{holder.get('since', '?')}): one run per workdir{hint}")
  else:
    raise UserError(f"cannot take the lock {path}")
  with os.fdopen(fd, "w") as f:
    json.dump(me, f)
  try:
    yield
  finally:
    if _read(path).get("pid") == me["pid"]:
      os.remove(path)
