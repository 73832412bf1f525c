"""Train a jaxvid model: python -m jaxvid.main --config=configs/vgan.py --workdir=runs/vgan

Config variants and overrides: --config=configs/vgan.py:paper --config.train.batch_size=8
"""
import os
import signal
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from jaxvid import errors

_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to a config file[:variant].",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and samples.")
_JAX_DISTRIBUTED = flags.DEFINE_bool(
    "jax_distributed", False, "Call jax.distributed.initialize() first (multi-host TPU/GPU).")
_COORDINATOR = flags.DEFINE_string(
    "jax_coordinator", None, "with --jax_distributed where not auto-detected: host:port of process 0")
_NUM_PROCESSES = flags.DEFINE_integer("jax_num_processes", None, "with --jax_coordinator")
_PROCESS_ID = flags.DEFINE_integer("jax_process_id", None, "with --jax_coordinator")
_INIT_TIMEOUT = flags.DEFINE_integer("jax_init_timeout", 300, "seconds to wait for every "
                                     "process of a --jax_distributed run")
_SHUTDOWN_TIMEOUT = flags.DEFINE_integer(
    "jax_shutdown_timeout", 300, "seconds a finished process of a --jax_distributed run waits "
    "at the end for the others (one still writing samples on a loaded machine)")
flags.mark_flags_as_required(["config", "workdir"])


def parse_flags(argv):
  """absl flag parsing, with config overrides of unknown keys or bad values as one line."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    message = str(e).strip()
    if "Traceback" in message:  # config_flags embeds the config file's traceback: keep its cause
      message = f"{message.splitlines()[0]} {message.splitlines()[-1]}"
    print(f"error: {message}\nPass --helpfull to see the flags.", file=sys.stderr)
    sys.exit(2)
  except (AttributeError, KeyError, TypeError, ValueError) as e:
    bad = [a for a in argv[1:] if a.startswith("--config.")]
    print(f"error: bad config override ({type(e).__name__}: {e}) among {' '.join(bad) or argv[1:]}; "
          f"config keys are those of the config file's get_config()", file=sys.stderr)
    sys.exit(2)


def _start_distributed(jax) -> None:
  """jax.distributed.initialize with its failures as one line, and a word while it waits."""
  given = (_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  if any(v is not None for v in given) and any(v is None for v in given):
    print("error: give --jax_coordinator, --jax_num_processes and --jax_process_id together "
          "(or none of them where the cluster is auto-detected: TPU VMs, SLURM)", file=sys.stderr)
    sys.exit(2)
  where = _COORDINATOR.value or "the auto-detected coordinator"
  print(f"jax.distributed: waiting up to {_INIT_TIMEOUT.value} s for every process at {where} "
        f"...", flush=True)
  try:
    jax.distributed.initialize(coordinator_address=_COORDINATOR.value,
                               num_processes=_NUM_PROCESSES.value, process_id=_PROCESS_ID.value,
                               initialization_timeout=_INIT_TIMEOUT.value,
                               shutdown_timeout_seconds=_SHUTDOWN_TIMEOUT.value)
  except Exception as e:  # noqa: BLE001 - jax raises ValueError/RuntimeError/XlaRuntimeError
    cause = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
    print(f"error: jax.distributed did not start ({cause}); without an auto-detected cluster "
          f"give --jax_coordinator=HOST:PORT --jax_num_processes=N --jax_process_id=I, and "
          f"start every process within --jax_init_timeout", file=sys.stderr)
    sys.exit(1)
  # Orbax's barriers (CheckpointManager's syncs) default to a device collective, which on CPU
  # hosts is Gloo: its context gives a late process 30 s, a deadline a loaded machine misses
  # (a dataset build or a compile on one host). JAX's coordination service waits minutes.
  flags.FLAGS.experimental_orbax_use_distributed_barrier = True


def _quiet_orphaned_writes():
  """After a failed checkpoint write, tensorstore still completes the writes orbax gave up on
  and calls back into orbax's closed event loop: ~100 unraisable 'Event loop is closed'
  tracebacks, each saying nothing the error line does not say. Only those are dropped."""
  default = sys.unraisablehook

  def hook(unraisable):
    if not (isinstance(unraisable.exc_value, RuntimeError)
            and "Event loop is closed" in str(unraisable.exc_value)):
      default(unraisable)
  sys.unraisablehook = hook


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not _WORKDIR.value.strip():  # e.g. an unset shell variable: never the current directory
    print("error: --workdir is empty: give the run's folder (--workdir=runs/NAME)",
          file=sys.stderr)
    sys.exit(2)
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # keep orbax's per-save INFO lines out of the way
  # A failed checkpoint write is reported as one `error:` line (checkpoint.CheckpointWriteError);
  # orbax's background threads would log the same failure as screens of tracebacks first.
  from jaxvid.checkpoint import not_a_write_failure
  logging.get_absl_handler().addFilter(not_a_write_failure)  # every logger's records
  _quiet_orphaned_writes()
  import jax
  if _JAX_DISTRIBUTED.value:
    _start_distributed(jax)
  from jaxvid import train
  try:
    config = _CONFIG.value  # config_flags loads the file lazily: touch it to see errors here
    config.keys()
  except (OSError, ValueError, AttributeError, KeyError, TypeError) as e:
    cause = e.__cause__ or e
    print(f"error: cannot load --config={flags.FLAGS['config'].serialize().split('=', 1)[-1]}: "
          f"{(str(cause).strip().splitlines() or [type(cause).__name__])[-1].strip()}",
          file=sys.stderr)
    sys.exit(2)
  interrupted = lambda: errors.exit_interrupted(
      "interrupted; the last completed checkpoint is kept")
  # Ctrl-C before the training loop takes it (its first finishes the step and checkpoints):
  # exit in the handler. Python's own KeyboardInterrupt can land in XLA's gc callback during
  # compilation, where it is printed with a traceback and dropped.
  signal.signal(signal.SIGINT, lambda signum, frame: interrupted())
  try:
    train.train_and_evaluate(config, os.path.expanduser(_WORKDIR.value),
                             on_second_interrupt=interrupted)
  except KeyboardInterrupt:
    interrupted()


if __name__ == "__main__":
  app.run(errors.run_cli(main), flags_parser=parse_flags)
