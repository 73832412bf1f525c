"""The FLOP counter behind the MFU numbers (benchmarks/flops.py)."""
import flax.linen as nn
import jax
import jax.numpy as jnp

from flops import forward_flops, gan_step_flops  # benchmarks/ is on sys.path (conftest)
from jaxvid.models import layers


class _Two(nn.Module):
  @nn.compact
  def __call__(self, x):
    x = layers.Conv(8, (4, 4, 4), (2, 2, 2), 1)(x)  # out 2x4x4 voxels
    return layers.ConvTranspose(3, (4, 4, 4), (2, 2, 2), 1)(x)  # in 2x4x4 voxels


def test_conv_flops_follow_the_convention():
  x = jnp.zeros((2, 4, 8, 8, 5))
  module = _Two()
  variables = module.init(jax.random.key(0), x)
  conv = 2 * (2 * 2 * 4 * 4) * 64 * 5 * 8  # 2 * batch*out voxels * taps * c_in * c_out
  conv_t = 2 * (2 * 2 * 4 * 4) * 64 * 8 * 3  # transposed: per *input* voxel
  assert forward_flops(module, variables, x) == conv + conv_t
  assert gan_step_flops(10, 100) == 3 * 10 + 8 * 100
