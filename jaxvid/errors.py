"""Errors that mean "the user asked for something wrong": the CLIs print them as one line."""


class UserError(Exception):
  """A problem with the user's config, paths or files, stated so they can fix it."""


class DivergenceError(UserError):
  """A non-finite loss or gradient stopped training (the last good checkpoint is kept)."""
