"""Errors that mean "the user asked for something wrong": the CLIs print them as one line."""
from __future__ import annotations

import functools
import sys

from absl import flags
from absl import logging as absl_logging


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
    except KeyboardInterrupt:
      print("interrupted", file=sys.stderr, flush=True)
      sys.exit(130)
  return run
