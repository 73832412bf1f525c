"""Errors that mean "the user asked for something wrong": the CLIs print them as one line."""
from __future__ import annotations

import functools
import os
import sys

from absl import flags
from absl import logging as absl_logging


# The packages etils.epath reads buckets with, and the scheme each serves.
CLOUD_PACKAGES = {"gcsfs": "gs://", "s3fs": "s3://"}


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


def exit_interrupted(message: str) -> None:
  """Ctrl-C: one line and exit status 130 at once. Not sys.exit: the interpreter's teardown
  with XLA's compiler threads still running (a Ctrl-C during compilation) ends in a
  segmentation fault, rc 139. Outputs are written under .partial names until complete, so
  nothing half-written looks finished."""
  print(message, file=sys.stderr, flush=True)
  sys.stdout.flush()
  os._exit(130)
