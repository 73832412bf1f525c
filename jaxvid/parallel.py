"""Data parallelism on a `jax.sharding.Mesh` with one 'data' axis.

The batch is sharded along its leading axis, the train state is replicated; `jax.jit` inserts
the cross-device reductions (BatchNorm statistics and gradient means are over the global batch,
so results match a single device up to float summation order).
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxvid.errors import UserError

DATA_AXIS = "data"


def make_mesh(devices=None) -> Mesh:
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def check_batch_size(global_batch: int, mesh: Mesh) -> None:
  if global_batch % mesh.size:
    raise UserError(f"train.batch_size={global_batch} must be divisible by the number of devices "
                    f"({mesh.size}) so each gets an equal share")


def replicate(tree, mesh: Mesh):
  """Place a host pytree (identical on every host) replicated on the mesh."""
  return jax.device_put(tree, replicated(mesh))


def host_batch_to_global(batch: dict, mesh: Mesh) -> dict:
  """Host-local numpy batch -> global jax.Array sharded along 'data' (multi-host safe)."""
  sharding = batch_sharded(mesh)
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), batch)


def replicated_to_host(tree):
  """Numpy copy of replicated global arrays; works on every host of a multi-host run, where
  `jax.device_get` would refuse arrays that are not fully addressable."""
  return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)
