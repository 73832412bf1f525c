"""config.dtype='bfloat16': every model computes in bf16 with float32 parameters and optimizer
state, trains and stays finite."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvid import train
from jaxvid.trainers import get_trainer
from helpers import load_config, load_final_state, read_metrics


@pytest.mark.parametrize("name", ["vgan.py", "vgan_cond.py", "pose_vae.py", "pose_gan.py",
                                  "edn.py"])
def test_bfloat16_trains_finite_with_float32_state(name, tmp_path):
  config = load_config(name, dtype="bfloat16", train__num_steps=2, train__checkpoint_every=2,
                       train__sample_every=2)
  train.train_and_evaluate(config, str(tmp_path))
  rows = read_metrics(tmp_path)
  assert len(rows) == 2 and all(np.isfinite(v) for r in rows for v in r.values())
  _, state, _ = load_final_state(config, str(tmp_path))
  floats = [x for x in jax.tree.leaves(state) if jnp.issubdtype(x.dtype, jnp.floating)]
  assert floats and all(x.dtype == jnp.float32 for x in floats)


def test_bfloat16_really_computes_in_bfloat16():
  config = load_config("pose_gan.py", dtype="bfloat16")
  trainer = get_trainer(config)
  state = trainer.init_state(jax.random.key(0))
  x = jnp.zeros((2, 8, 32, 32, 6))
  seen = []

  def record(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    if context.method_name == "__call__" and hasattr(out, "dtype"):
      seen.append(out.dtype)
    return out

  import flax.linen as nn
  with nn.intercept_methods(record):
    trainer.generator.apply({"params": state.g_params, "batch_stats": state.g_batch_stats}, x,
                            train=False)
  assert jnp.bfloat16 in seen


def test_half_precision_on_the_cpu_is_said_to_be_slower_at_start_up(capsys):
  assert jax.default_backend() == "cpu"  # the tests' machine
  train._warn_half_precision_on_cpu(load_config("vgan.py", dtype="float32"))
  assert capsys.readouterr().out == ""
  train._warn_half_precision_on_cpu(load_config("vgan.py", dtype="bfloat16"))  # jaxvid's logger
  assert "config.dtype=bfloat16 on the CPU is slower than float32" in capsys.readouterr().out
