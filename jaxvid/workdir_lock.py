"""One training run per workdir: a lock file with the holder's host and pid.

A second run on the same workdir stops with one line naming the holder. A lock left by a run
that died (its pid gone on this host, or now another process's) is taken over, and said so. A lock from another host
cannot be checked from here: the message says how to remove it if that run is gone. In a
bucket (gs://...) there is no exclusive create: the lock is written, then read back, which
catches all but a near-simultaneous second start.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time

from jaxvid import paths
from jaxvid.errors import UserError

logger = logging.getLogger(__name__)

LOCK_NAME = ".jaxvid.lock"


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # exists, owned by someone else
    return True
  return True


def _started(pid: int) -> str | None:
  """When process `pid` started, as this boot's id and its start time in clock ticks (Linux's
  /proc), or None where that cannot be read. A pid is reused once its process is gone (after a
  reboot, or on a busy machine): the pair tells the lock's holder from a stranger."""
  try:
    with open("/proc/sys/kernel/random/boot_id") as f:
      boot = f.read().strip()
    with open(f"/proc/{pid}/stat") as f:
      fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold ' '
    return f"{boot}:{fields[19]}"  # field 22 of stat: starttime
  except (OSError, IndexError):
    return None


def _holder_gone(holder: dict) -> bool:
  """The lock's run is gone: its pid is free, or taken by a process started at another time
  (locks written before the start time was recorded: a process that is not a Python)."""
  pid = holder.get("pid")
  if not isinstance(pid, int) or not _alive(pid):
    return True
  now = _started(pid)
  if holder.get("started") and now:
    return holder["started"] != now
  try:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
      return b"python" not in f.read().split(b"\0")[0]
  except OSError:
    return False


def _read(path: str) -> dict:
  try:
    return json.loads(paths.Path(path).read_text())
  except (OSError, ValueError):
    return {}


def _create_exclusive(path: str, me: dict) -> None:
  """Write the lock, or FileExistsError if there is one."""
  if not paths.is_remote(path):
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    with os.fdopen(fd, "w") as f:
      json.dump(me, f)
    return
  lock = paths.Path(path)
  if lock.exists():
    raise FileExistsError(path)
  lock.write_text(json.dumps(me))
  if _read(path) != me:  # another run wrote in between
    raise FileExistsError(path)


@contextlib.contextmanager
def hold(workdir: str):
  path = paths.join(workdir, LOCK_NAME)
  me = {"host": socket.gethostname(), "pid": os.getpid(),
        "since": time.strftime("%Y-%m-%d %H:%M:%S"), "started": _started(os.getpid())}
  for _ in range(2):
    try:
      _create_exclusive(path, me)
      break
    except FileExistsError:
      holder = _read(path)
      same_host = holder.get("host") == me["host"]
      if same_host and _holder_gone(holder):
        logger.info(f"taking over the lock of a run that is gone (pid {holder['pid']}, since "
              f"{holder.get('since', '?')})")
        paths.Path(path).unlink()
        continue
      where = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"
      hint = "" if same_host else f"; if that run is gone, delete {path}"
      raise UserError(f"workdir {workdir} is in use by another run ({where}, since "
                      f"{holder.get('since', '?')}): one run per workdir{hint}")
  else:
    raise UserError(f"cannot take the lock {path}")
  try:
    yield
  finally:
    if _read(path).get("pid") == me["pid"]:
      paths.Path(path).unlink()
