"""The one training loop every model shares.

trainer (jaxvid/trainers/<model>.py, the contract in trainers/base.py) gives init_state /
train_step / sample / figure and the optional warm_start / paired_outputs; this loop owns
the mesh, the jitted donated step, checkpoints (+ data iterator state),
TensorBoard logs, a metrics.jsonl, sample videos (jaxvid/run_logs.py), progress and divergence
checks.
"""
from __future__ import annotations

import logging
import math
import signal
import threading
import time

import jax
import jax.numpy as jnp

from jaxvid import api, config_defaults, parallel, paths, run_logs, schedule, workdir_lock
from jaxvid import checkpoint as ckpt_lib
from jaxvid.data import pipeline
from jaxvid.errors import DivergenceError, UserError
from jaxvid.trainers import get_trainer
from jaxvid.trainers.base import compute_dtype

logger = logging.getLogger(__name__)


def _check_workdir(workdir: str) -> str:
  """The workdir, local (made absolute) or a bucket URI, made and shown to be writable."""
  workdir = paths.resolve(workdir)
  try:
    paths.Path(workdir).mkdir(parents=True, exist_ok=True)
    probe = paths.Path(workdir) / ".write_test"
    probe.write_text("ok")
    probe.unlink()
  except OSError as e:
    raise UserError(f"workdir {workdir} is not writable: {e.strerror or e}") from e
  return workdir


def _format_eta(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(seconds)
  return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else \
      f"{seconds // 60}m{seconds % 60:02d}s"


class _StopRequest:
  """SIGTERM (TPU/GCE preemption) or SIGINT: finish the step, checkpoint, exit. Main thread only.

  One process only: with several, a signal reaches one host at one step, and a save started
  there alone would wait on hosts still stepping. There the stop is orbax's (JAX's preemption
  service takes SIGTERM on any host and agrees on a step all hosts save:
  `Checkpointer.reached_preemption`) and no handler is installed here, which would take
  SIGTERM from that service."""

  def __init__(self, single_process: bool = True, on_second_interrupt=None):
    self.requested, self.name, self._previous = False, "", {}
    self._on_second_interrupt = on_second_interrupt
    if not single_process or threading.current_thread() is not threading.main_thread():
      return
    for sig in (signal.SIGTERM, signal.SIGINT):
      self._previous[sig] = signal.signal(sig, self._handle)

  def _handle(self, signum, frame):
    del frame
    if self.requested and signum == signal.SIGINT:  # a second Ctrl-C: stop at once
      if self._on_second_interrupt is not None:
        # The command line ends the process here: a KeyboardInterrupt raised from a handler
        # can land in a gc callback (XLA's), where Python prints its traceback and drops it.
        self._on_second_interrupt()
      raise KeyboardInterrupt
    self.requested, self.name = True, signal.Signals(signum).name

  def restore(self) -> None:
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def _skipping(train_step):
  """train.on_nonfinite='skip': an update whose metrics (losses, gradient norms) are not all
  finite is dropped (the state is kept, only the step counter advances) and counted."""

  def step(state, batch):
    new_state, metrics = train_step(state, batch)
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in metrics.values()]))
    kept = jax.tree.map(lambda new, old: jnp.where(finite, new, old), new_state, state)
    kept = kept.replace(step=new_state.step)
    return kept, {**metrics, "skipped_update": 1.0 - finite.astype(jnp.float32)}

  return step


class _MetricLog:
  """Collects per-step device metrics; fetches them only at log/checkpoint time."""

  def __init__(self, skip_nonfinite: bool = False):
    self.pending: list[tuple[int, dict]] = []
    self.skip_nonfinite = skip_nonfinite
    self.skipped = 0

  def add(self, step: int, metrics: dict) -> None:
    self.pending.append((step, metrics))

  def flush(self) -> list[tuple[int, dict]]:
    fetched = [(s, {k: float(v) for k, v in parallel.replicated_to_host(m).items()})
               for s, m in self.pending]
    self.pending = []
    for step, metrics in fetched:
      bad = [k for k, v in metrics.items() if not math.isfinite(v)]
      if self.skip_nonfinite:
        if metrics.get("skipped_update"):
          self.skipped += 1
          logger.info(f"step {step}: non-finite {', '.join(bad)}; update skipped "
                f"({self.skipped} so far)")
        for k in bad:
          metrics[k] = float("nan")  # logged as NaN, training goes on
        continue
      if bad:
        raise DivergenceError(f"non-finite {', '.join(bad)} at step {step} "
                              f"({', '.join(f'{k}={metrics[k]}' for k in bad)}); training stopped, "
                              f"the last good checkpoint is kept")
    return fetched


def _samples_missing(workdir: str, step: int, config) -> bool:
  formats = [e.strip() for e in config.train.video_format.split(",") if e.strip()]
  return any(not paths.Path(paths.join(workdir, "samples", f"step_{step:07d}.{ext}")).exists()
             for ext in formats)


def train_and_evaluate(config, workdir: str, on_second_interrupt=None) -> dict:
  """Train `config.model` in `workdir` (resuming if it holds a checkpoint). Returns the last
  logged metrics. A first Ctrl-C finishes the step, checkpoints and returns; a second raises
  KeyboardInterrupt, or calls `on_second_interrupt()` (the command line's exit) from the
  signal handler when given."""
  try:
    config_defaults.validate(config)
  except ValueError as e:
    raise UserError(str(e)) from e
  workdir = _check_workdir(workdir)
  if ckpt_lib.is_export(workdir):
    raise UserError(f"{workdir} is an export (inference only: no optimizer, no "
                    f"discriminator): train into another --workdir, or continue the run it "
                    f"was exported from")
  _check_resume_seed(config, workdir)
  _check_init_from(config)
  if jax.process_index() != 0:  # hosts of one multi-host run share the workdir: one lock
    return _train(config, workdir, on_second_interrupt)
  with workdir_lock.hold(workdir):
    return _train(config, workdir, on_second_interrupt)


def _check_resume_seed(config, workdir: str) -> None:
  """A run resumes with the seed it started with: its state's key and its samples' come from
  it, so another --config.seed would change nothing but the record (config.json)."""
  checkpoints = paths.Path(paths.join(workdir, "checkpoints"))
  if not checkpoints.is_dir() or not any(p.name.isdigit() for p in checkpoints.iterdir()):
    return
  try:
    recorded = ckpt_lib.load_config(workdir).get("seed")
  except UserError:
    return
  if recorded is not None and recorded != config.seed:
    raise UserError(f"the run in {workdir} started with seed {recorded}; a resumed run keeps "
                    f"it: drop --config.seed={config.seed}, or start a new run in another "
                    f"--workdir (--config.train.init_from={workdir} starts from its weights)")


def _check_init_from(config) -> None:
  """config.train.init_from: a workdir of a run of the same model (checked before any work)."""
  source = config.train.get("init_from", "")
  if not source:
    return
  source_config = ckpt_lib.load_config(paths.resolve(source))  # UserError if not a workdir
  if source_config.get("model") != config.model:
    raise UserError(f"config.train.init_from={source} is a {source_config.get('model')!r} run; "
                    f"this config trains {config.model!r}")


def _init_from(config, state, source: str):
  """A fresh run starting from the parameters of another run's newest checkpoint (big_vision's
  model_init): fine-tuning, or a longer schedule from a shorter run. Optimizer and step start
  afresh."""
  source = api.load(source, expected=config.model)
  state, copied = ckpt_lib.copy_params(state, source.state)
  if not copied:
    raise UserError(f"config.train.init_from={source.workdir}: no parameters in common with "
                    f"this model")
  logger.info(f"init_from: {', '.join(copied)} from {source.workdir} step {source.step}")
  return state


HOST_SYNC_TIMEOUT_S = 900  # how long a host waits for the others at a sync point


def sync_hosts(name: str) -> None:
  """Several processes: wait until every one reaches `name`, through JAX's coordination
  service (minutes of patience) rather than a device collective: the first collective of CPU
  hosts opens a Gloo context that gives a late process only 30 s, so the hosts meet here
  first, after the work whose length differs between them (dataset build, compilation)."""
  if jax.process_count() > 1:
    from orbax.checkpoint import multihost
    multihost.get_barrier_sync_fn()(key=f"jaxvid_{name}", timeout_ms=HOST_SYNC_TIMEOUT_S * 1000)


def _changed_options(workdir: str, config) -> str:
  """What to do about a checkpoint of another state: the options changed since the run that
  wrote the workdir's config.json, and the ways on."""
  try:
    changed = ckpt_lib.config_differences(ckpt_lib.load_config(workdir), config)
  except UserError:
    changed = []
  named = (f"Options changed since the run that wrote it: {'; '.join(changed[:8])}"
           f"{' ...' if len(changed) > 8 else ''}. " if changed else "")
  return (f"{named}Resume with the checkpoint's options, or start a new run (another "
          f"--workdir) from its weights with --config.train.init_from={workdir}")


def _warn_half_precision_on_cpu(config) -> None:
  """XLA:CPU has no fast bf16/f16 convolutions or GEMMs: it converts around every op, so a
  half-precision step is slower than float32 there (benchmarks/RESULTS.md: the VGAN demo 0.133
  s against 0.091 s, EDN's equal). Said at start-up, not refused: it is still a way to check a
  config meant for an accelerator."""
  dtype = compute_dtype(config)
  if jax.default_backend() == "cpu" and dtype in (jnp.bfloat16, jnp.float16):
    logger.warning(f"config.dtype={dtype.name} on the CPU is slower than float32 here (XLA:CPU "
                   f"converts around every op); it is meant for GPUs and TPUs")


def _train(config, workdir: str, on_second_interrupt=None) -> dict:
  is_main = jax.process_index() == 0
  config = schedule.resolve(config, log=logger.info)  # epochs -> steps, from the data's size
  trainer = get_trainer(config)
  trainer.check_for_training()
  _warn_half_precision_on_cpu(config)
  mesh = parallel.make_mesh()
  parallel.check_batch_size(config.train.batch_size, mesh)
  repl, batch_sharding = parallel.replicated(mesh), parallel.batch_sharded(mesh)

  root_key = jax.random.key(config.seed)
  init_key, sample_key = jax.random.split(root_key)
  state = jax.jit(trainer.init_state, out_shardings=repl)(init_key)
  data_iter = pipeline.make_train_iterator(config, jax.process_index(), jax.process_count())
  sync_hosts("data_ready")
  checkpointer = ckpt_lib.Checkpointer(paths.join(workdir, "checkpoints"),
                                       config.train.max_to_keep, trainer.metadata())
  try:
    fresh_data = bool(config.train.get("fresh_data_iterator", False))
    start, restored = checkpointer.restore_newest(ckpt_lib.abstract_like(state, repl),
                                                  data_iter=None if fresh_data else data_iter)
    if fresh_data and start is not None:
      logger.info(f"train.fresh_data_iterator: the data order starts afresh at step {start} "
                  f"({len(pipeline.data_source(config, 'train'))} training clips now)")
  except ckpt_lib.StateMismatch as e:
    raise UserError(f"{e}. {_changed_options(workdir, config)}") from e
  finished = start is not None and start >= int(config.train.num_steps)
  if start is not None:
    state = restored
    logger.info(f"resumed from {checkpointer.directory} at step {start}")
  else:
    start = 0
    if config.train.get("init_from", ""):
      state = _init_from(config, state, config.train.init_from)
    state = trainer.warm_start(state, api.load)  # e.g. EDN stage 2: stage 1's G and D
  if is_main and not finished:  # a rerun with nothing to do leaves the run's record as it was
    ckpt_lib.dump_config(paths.join(workdir, "config.json"), config)

  on_nonfinite = config.train.get("on_nonfinite", "stop")
  if on_nonfinite not in ("stop", "skip"):
    raise UserError(f"config.train.on_nonfinite must be 'stop' or 'skip', got {on_nonfinite!r}")
  skip_nonfinite = on_nonfinite == "skip"
  train_step = _skipping(trainer.train_step) if skip_nonfinite else trainer.train_step
  step_fn = jax.jit(train_step, in_shardings=(repl, batch_sharding),
                    out_shardings=(repl, repl), donate_argnums=0)
  sample_batch = pipeline.make_sample_batch(config, config.train.num_samples)
  sample_inputs = parallel.replicate(trainer.sample_inputs(sample_key, sample_batch), mesh)
  sample_fn = jax.jit(trainer.sample, out_shardings=repl)
  # a rerun with nothing to do leaves the logs as they are (no new TensorBoard file)
  writers = run_logs.Writers(workdir, is_main and not finished, start, config)
  log = _MetricLog(skip_nonfinite)
  coordinated_stop = jax.process_count() > 1
  stop = _StopRequest(single_process=not coordinated_stop, on_second_interrupt=on_second_interrupt)
  num_steps = config.train.num_steps
  last = {}
  t_log, step_at_log = time.perf_counter(), start
  try:
    step = start
    if coordinated_stop and step < num_steps:  # compile first, then meet (see sync_hosts)
      first = parallel.host_batch_to_global(next(data_iter), mesh)
      step_fn = step_fn.lower(state, first).compile()
      sample_fn = sample_fn.lower(state, sample_inputs).compile()
      sync_hosts("compiled")
    while step < num_steps:
      batch = (first if coordinated_stop and step == start
               else parallel.host_batch_to_global(next(data_iter), mesh))
      state, metrics = step_fn(state, batch)
      step += 1
      log.add(step, metrics)
      if step % config.train.log_every == 0 or step == num_steps:
        fetched = log.flush()
        last = fetched[-1][1]
        for s, m in fetched:
          writers.scalars(s, m)
        now = time.perf_counter()
        # The rate over the last interval: after the first one it excludes compilation.
        rate = (step - step_at_log) / max(now - t_log, 1e-9)
        t_log, step_at_log = now, step
        if is_main:
          terms = " ".join(f"{k}={v:.4f}" for k, v in last.items())
          logger.info(f"step {step}/{num_steps} | {rate:.2f} steps/s | ETA "
                f"{_format_eta((num_steps - step) / rate)} | {terms}")
      # preemption: save now, exit cleanly (several hosts: all at the step they agree on)
      preempted = (checkpointer.reached_preemption(step) if coordinated_stop
                   else stop.requested)
      if preempted and step < num_steps:
        for s_, m in log.flush():
          writers.scalars(s_, m)
        writers.flush()  # the rows on disk before the checkpoint that covers them
        checkpointer.save(step, state, data_iter)
        what = "a preemption notice (SIGTERM) on a host" if coordinated_stop else stop.name
        logger.info(f"{what} received: saved step {step}; rerun the same command to resume")
        break
      if step % config.train.checkpoint_every == 0 or step == num_steps:
        log_rest = log.flush()  # never checkpoint a diverged state
        for s, m in log_rest:
          writers.scalars(s, m)
        writers.flush()  # the rows on disk before the checkpoint that covers them
        checkpointer.save(step, state, data_iter)  # CheckpointWriteError
      if step % config.train.sample_every == 0 or step == num_steps:
        outputs = parallel.replicated_to_host(sample_fn(state, sample_inputs))  # on every host
        if is_main:
          written = run_logs.write_samples(outputs, trainer, sample_batch, workdir, step,
                                           writers, config)
          logger.info(f"samples: {', '.join(written)}")
      writers.flush()
    if start >= num_steps:
      logger.info(f"nothing to do: the checkpoint is at step {start} >= train.num_steps={num_steps}")
      if finished and _samples_missing(workdir, start, config):  # killed before writing them
        outputs = parallel.replicated_to_host(sample_fn(state, sample_inputs))
        if is_main:
          written = run_logs.write_samples(outputs, trainer, sample_batch, workdir, start,
                                           writers, config)
          logger.info(f"samples of step {start}, which the run ended before writing: "
                      f"{', '.join(written)}")
  finally:
    stop.restore()
    checkpointer.close()  # waits for the async save to finish
    writers.close()
    data_iter.close()
  return last
