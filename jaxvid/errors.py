"""Errors that mean "the user asked for something wrong": the CLIs print them as one line."""
from __future__ import annotations

import errno
import functools
import os
import re
import sys

from absl import flags
from absl import logging as absl_logging


# The packages etils.epath reads buckets with, and the scheme each serves.
CLOUD_PACKAGES = {"gcsfs": "gs://", "s3fs": "s3://"}


# What an OS error's text says for a failed write (orbax's asynchronous part passes tensorstore's
# text on inside a ValueError; TFDS and array_record their own), tensorstore's status codes for
# one, and the errno it quotes.
WRITE_FAILURE_CAUSES = ("No space left on device", "Disk quota exceeded", "Read-only file system",
                        "Permission denied", "File too large")
_TENSORSTORE_WRITE_STATUS = ("RESOURCE_EXHAUSTED",)
WRITE_FAILURE_TEXTS = WRITE_FAILURE_CAUSES + _TENSORSTORE_WRITE_STATUS
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EFBIG}


def write_failure(error: BaseException | None) -> str | None:
  """The cause, in a few words, if `error` (or what caused it) is a failed write (a full disk,
  a quota, a file-size limit, a read-only or forbidden folder); else None."""
  while error is not None:
    text = str(error)
    if isinstance(error, OSError) and error.errno is not None:
      return error.strerror or text
    cause = next((c for c in WRITE_FAILURE_CAUSES if c in text), None)
    if cause is not None:
      return cause
    code = re.search(r"os_error_code='(\d+)'", text)  # tensorstore quotes the errno
    if code and int(code.group(1)) in _WRITE_ERRNOS:
      return os.strerror(int(code.group(1)))
    if any(status in text for status in _TENSORSTORE_WRITE_STATUS):
      return text.splitlines()[0][:200]
    error = error.__cause__ or error.__context__
  return None


class UserError(Exception):
  """A problem with the user's config, paths or files, stated so they can fix it."""


class DivergenceError(UserError):
  """A non-finite loss or gradient stopped training (the last good checkpoint is kept)."""


def run_cli(main):
  """main(argv) as every jaxvid command runs it: a UserError (or a ValueError from checking an
  input) becomes one `error: ...` line on stderr and exit status 1, Ctrl-C exit status 130
  with one line; anything else is a bug and keeps its traceback. absl's INFO lines (orbax
  writes a dozen per checkpoint read) are hidden unless --verbosity is given: jaxvid's own
  messages go through the jaxvid logger."""

  @functools.wraps(main)
  def run(argv):
    if "verbosity" in flags.FLAGS and not flags.FLAGS["verbosity"].present:
      absl_logging.set_verbosity(absl_logging.WARNING)
    try:
      return main(argv)
    except (UserError, ValueError) as e:
      _end_progress_bars()
      print(f"error: {e}", file=sys.stderr, flush=True)
      sys.exit(1)
    except ImportError as e:  # a bucket path without its filesystem package (etils.epath's)
      package = next((p for p in CLOUD_PACKAGES if p in str(e)), None)
      if package is None:
        raise
      print(f"error: a {CLOUD_PACKAGES[package]} path needs the {package} package: pip install "
            f"{package} (or pip install 'jaxvid[cloud]')", file=sys.stderr, flush=True)
      sys.exit(1)
    except KeyboardInterrupt:
      exit_interrupted("interrupted")
  return run


def _end_progress_bars() -> None:
  """Close the progress bars an error cut short (TFDS's, ours) and start a new line, so that
  the error is a line of its own rather than the end of a bar's half-drawn one."""
  tqdm = sys.modules.get("tqdm")
  bars = list(getattr(tqdm.tqdm, "_instances", ())) if tqdm is not None else []
  for bar in bars:
    try:
      bar.leave = False  # cleared, not redrawn as if it had finished
      bar.close()
    except Exception:  # noqa: BLE001 - a bar whose stream is gone: nothing to clear
      pass
  if bars:
    print(file=sys.stderr, flush=True)


def exit_interrupted(message: str) -> None:
  """Ctrl-C: one line and exit status 130 at once. Not sys.exit: the interpreter's teardown
  with XLA's compiler threads still running (a Ctrl-C during compilation) ends in a
  segmentation fault, rc 139. Outputs are written under .partial names until complete, so
  nothing half-written looks finished."""
  print(message, file=sys.stderr, flush=True)
  sys.stdout.flush()
  os._exit(130)
