"""VGAN's CPU-demo stabilisers (not in the paper) and the paper's one-stream baseline: each
switch trains a finite step, does what its reference says on a small input, and `:paper` /
`:tiny` have none of them."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import vgan as vgan_config
from jaxvid.errors import UserError
from jaxvid.models import diffaugment, vgan
from jaxvid.trainers import get_trainer
from helpers import load_config


def _batch(config, seed=0):
  d = config.data
  video = jax.random.uniform(jax.random.key(seed), (config.train.batch_size, d.frames, d.height,
                                                    d.width, 3), minval=-1, maxval=1)
  return {"video": video}


def test_paper_and_tiny_switch_every_stabiliser_off():
  for variant in ("paper", "tiny"):
    v = vgan_config.get_config(variant).vgan
    assert {k: v[k] for k in vgan_config.PAPER_SETTINGS} == vgan_config.PAPER_SETTINGS
    assert v.streams == "two"
  # and the demo's are the documented options, whatever they are set to
  assert set(vgan_config.PAPER_SETTINGS) <= set(vgan_config.get_config("").vgan)


def test_every_stabiliser_on_takes_a_finite_step_and_changes_the_step():
  on = dict(vgan__gan_loss="hinge", vgan__r1_gamma=1.0, vgan__minibatch_std=True,
            vgan__diffaugment="color,translation,cutout", vgan__instance_noise=0.1,
            vgan__ema_decay=0.99, vgan__d_learning_rate=4e-4, vgan__spectral_norm=True)
  base, stable = load_config("vgan.py"), load_config("vgan.py", **on)
  metrics = {}
  for name, config in (("off", base), ("on", stable)):
    trainer = get_trainer(config)
    state = jax.jit(trainer.init_state)(jax.random.key(0))
    _, metrics[name] = jax.jit(trainer.train_step)(state, _batch(config))
    assert all(np.isfinite(float(x)) for x in metrics[name].values()), name
  assert "r1_penalty" in metrics["on"] and "r1_penalty" not in metrics["off"]
  assert float(metrics["on"]["r1_penalty"]) > 0
  assert float(metrics["on"]["d_loss"]) != pytest.approx(float(metrics["off"]["d_loss"]))
  # minibatch std adds one input channel to D's logit layer: another architecture record
  assert get_trainer(stable).metadata() != get_trainer(base).metadata()


def test_bad_stabiliser_values_are_one_line_errors():
  for key, value, says in (("gan_loss", "wasserstein", "gan_loss must be one of"),
                           ("r1_gamma", -1.0, "r1_gamma must be"),
                           ("instance_noise", float("inf"), "instance_noise must be"),
                           ("diffaugment", "color,rotate", "DiffAugment policies"),
                           ("streams", "three", "streams must be one of")):
    with pytest.raises(UserError, match=says):
      get_trainer(load_config("vgan.py", **{f"vgan__{key}": value}))


def test_one_stream_baseline_is_the_foreground_tower_alone():
  config = load_config("vgan.py", vgan__streams="one")
  trainer = get_trainer(config)
  state = jax.jit(trainer.init_state)(jax.random.key(0))
  assert set(state.g_params) == {"fg_in", "bn_fg_in", "fg_tower", "fg_out"}  # no bg, no mask
  out = trainer.sample(state, jax.random.normal(jax.random.key(1), (2, config.vgan.z_dim)))
  d = config.data
  assert set(out) == {"video"} and out["video"].shape == (2, d.frames, d.height, d.width, 3)
  _, metrics = jax.jit(trainer.train_step)(state, _batch(config))
  assert all(np.isfinite(float(x)) for x in metrics.values())
  assert "mask_loss" not in metrics
  assert trainer.figure_columns() == ["generated (one stream)"]
  # the paper's sizes: the one-stream G is the two-stream's foreground stream and video head
  counts = {}
  for streams in ("two", "one"):
    c = vgan_config.get_config("paper")
    c.vgan.streams = streams
    shapes = jax.eval_shape(get_trainer(c).init_state, jax.random.key(0)).g_params
    counts[streams] = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes))
  assert counts == {"two": 16_245_383, "one": 12_663_619}
  with pytest.raises(UserError, match="unconditional"):
    get_trainer(load_config("vgan_cond.py", vgan__streams="one"))


def test_diffaugment_moves_whole_clips_and_lets_gradients_through():
  rng = np.random.default_rng(0)
  video = jnp.asarray(rng.uniform(-1, 1, (3, 4, 16, 16, 3)), jnp.float32)
  shifted = diffaugment.diff_augment(jax.random.key(1), video, ("translation",))
  for b in range(3):  # each clip moved by one shift, the same in every frame
    found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
             if np.allclose(np.roll(video[b], (dy, dx), (1, 2))[:, 2:-2, 2:-2],
                            shifted[b][:, 2:-2, 2:-2])]
    assert len(found) == 1
  cut = diffaugment.diff_augment(jax.random.key(2), video, ("cutout",))
  zeroed = np.asarray((cut == 0).all(-1))  # (B, T, H, W)
  assert (zeroed == zeroed[:, :1]).all()  # the same box in every frame
  for b in range(3):  # one rectangle of at most half by half (8 x 8), clipped at the borders
    ys, xs = np.nonzero(zeroed[b, 0])
    assert 0 < len(ys) <= 64 and zeroed[b, 0, ys.min():ys.max() + 1, xs.min():xs.max() + 1].all()
  color = diffaugment.diff_augment(jax.random.key(3), video, ("color",))
  assert not np.allclose(color, video)
  grad = jax.grad(lambda v: jnp.sum(diffaugment.diff_augment(
      jax.random.key(4), v, ("color", "translation", "cutout")) ** 2))(video)
  assert np.isfinite(grad).all() and float(jnp.abs(grad).sum()) > 0


def test_spectral_norm_divides_each_kernel_by_its_largest_singular_value():
  disc = vgan.Discriminator(channels=(4, 8), spectral_norm=True)
  video = jax.random.normal(jax.random.key(0), (2, 8, 16, 16, 3))
  variables = disc.init(jax.random.key(1), video, train=False)
  assert not any(k.startswith("bn") for k in variables["params"])  # SN-GAN's D: no BatchNorm
  stats = variables["batch_stats"]
  for _ in range(50):  # one power iteration per training call
    _, upd = disc.apply({"params": variables["params"], "batch_stats": stats}, video,
                        train=True, mutable=["batch_stats"])
    stats = upd["batch_stats"]
  for name in ("conv0", "conv1", "logit"):
    kernel = np.asarray(variables["params"][name]["kernel"])
    top = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
    np.testing.assert_allclose(float(stats[f"sn_{name}"][f"{name}/kernel/sigma"]), top,
                               rtol=1e-3)
  # each conv sees only kernel / sigma: scaling every kernel leaves D's logits as they were
  # (BatchNorm's absence included: the scale would reach the logit through the biases)
  scaled = {k: {"kernel": 3.0 * p["kernel"], "bias": p["bias"]}
            for k, p in variables["params"].items()}
  logits = [disc.apply({"params": p, "batch_stats": stats}, video, train=True,
                       mutable=["batch_stats"])[0] for p in (variables["params"], scaled)]
  np.testing.assert_allclose(logits[0], logits[1], rtol=1e-4, atol=1e-5)
  unnormalised = vgan.Discriminator(channels=(4, 8), minibatch_std=False)
  assert unnormalised.init(jax.random.key(1), video, train=False)["params"].keys() != \
      variables["params"].keys()


def test_minibatch_stddev_by_hand():
  x = jnp.array([[1.0, 3.0], [3.0, 5.0], [5.0, 1.0], [7.0, 3.0]])[:, None, :]  # (4, 1, 2)
  out = vgan.minibatch_stddev(x, group=2)  # groups {0, 2} and {1, 3}
  # group {0, 2}: features (1, 5) and (3, 1): std 2 and 1 -> 1.5; {1, 3}: (3, 7), (5, 3): 2, 1
  np.testing.assert_allclose(out[..., 2], [[1.5], [1.5], [1.5], [1.5]], atol=1e-4)
  x = x.at[1, 0, 0].set(7.0)  # group {1, 3}: (7, 7) and (5, 3): std 0 and 1 -> 0.5
  np.testing.assert_allclose(vgan.minibatch_stddev(x, group=2)[:, 0, 2], [1.5, 0.5, 1.5, 0.5],
                             atol=1e-4)
  np.testing.assert_array_equal(out[..., :2], x.at[1, 0, 0].set(3.0)[..., :2])


def test_pose_gan_stabilisers_are_off_in_every_config_and_train_a_finite_step():
  """The pose GAN's EMA of G and DiffAugment (named options as VGAN's): on in the CPU demo,
  off at :paper and :tiny; on, a step is finite, D's loss changes (it sees augmented clips),
  the EMA moves towards G's new parameters and sampling uses it."""
  from configs import pose_gan as pose_gan_config
  for variant in ("paper", "tiny"):
    p = pose_gan_config.get_config(variant).pose_gan
    assert p.ema_decay == 0.0 and p.diffaugment == ""
  demo = pose_gan_config.get_config("").pose_gan
  assert demo.ema_decay > 0 and demo.diffaugment and demo.output == "composite"
  base = load_config("pose_gan.py")
  on = load_config("pose_gan.py", pose_gan__ema_decay=0.5,
                   pose_gan__diffaugment="translation,cutout")
  d = base.data
  rng = np.random.default_rng(0)
  keypoints = np.concatenate([rng.uniform(4, d.height - 4, (4, d.frames, 18, 2)),
                              np.ones((4, d.frames, 18, 1))], -1).astype(np.float32)
  batch = {"video": _batch(base)["video"], "keypoints": jnp.asarray(keypoints)}
  out = {}
  for name, config in (("off", base), ("on", on)):
    trainer = get_trainer(config)
    state = jax.jit(trainer.init_state)(jax.random.key(0))
    new, metrics = jax.jit(trainer.train_step)(state, batch)
    assert all(np.isfinite(float(x)) for x in metrics.values()), name
    out[name] = (trainer, state, new, metrics)
  assert out["off"][2].g_ema_params is None
  assert float(out["on"][3]["d_loss"]) != pytest.approx(float(out["off"][3]["d_loss"]))
  trainer, old, new, _ = out["on"]
  leaf = lambda tree: jax.tree.leaves(tree)[0]
  # step 0: d = min(0.5, 1/10) = 0.1 -> ema = 0.1 * old + 0.9 * new
  np.testing.assert_allclose(leaf(new.g_ema_params),
                             0.1 * leaf(old.g_params) + 0.9 * leaf(new.g_params), rtol=1e-5,
                             atol=1e-7)
  inputs = trainer.sample_inputs(jax.random.key(1), batch)
  swapped = new.replace(g_ema_params=new.g_params, g_params=old.g_params)
  np.testing.assert_allclose(trainer.sample(new, inputs)["video"],
                             trainer.sample(new.replace(g_params=new.g_ema_params,
                                                        g_ema_params=None), inputs)["video"],
                             atol=1e-6)
  assert not np.allclose(trainer.sample(swapped, inputs)["video"],
                         trainer.sample(new, inputs)["video"])
  # the inference layer's renderer (jaxvid.load(...).render, the forecast pipeline) too
  from jaxvid.inference.pose_knows import _render
  render = lambda s: np.asarray(_render(trainer, s, batch["video"][:2, 0],
                                        jnp.asarray(keypoints[None, :2]),
                                        jax.random.key(2))["videos"])
  np.testing.assert_allclose(render(new), render(new.replace(g_params=new.g_ema_params,
                                                              g_ema_params=None)), atol=1e-6)
  assert not np.allclose(render(new), render(new.replace(g_ema_params=None)), atol=1e-4)
  with pytest.raises(UserError, match="ema_decay must be in"):
    get_trainer(load_config("pose_gan.py", pose_gan__ema_decay=1.0))
  with pytest.raises(UserError, match="pose_gan.diffaugment"):
    get_trainer(load_config("pose_gan.py", pose_gan__diffaugment="rotate"))


def test_pose_gan_composite_paints_a_masked_foreground_over_the_input_frame():
  """pose_gan.output='composite' (VGAN's two streams with the known frame as background): the
  clip is m * f + (1 - m) * I, so a mask held at 0 returns the first frame exactly and one held
  at 1 returns the foreground; 'frames' (the paper) in every config; a finite train step; an
  unknown value is a one-line error."""
  from configs import pose_gan as pose_gan_config
  from jaxvid.models import unet3d
  for variant in ("paper", "tiny"):
    assert pose_gan_config.get_config(variant).pose_gan.output == "frames"
  config = load_config("pose_gan.py", pose_gan__output="composite")
  trainer = get_trainer(config)
  assert trainer.metadata()["architecture"]["output"] == "composite"
  assert "output" not in get_trainer(load_config("pose_gan.py")).metadata()["architecture"]
  state = jax.jit(trainer.init_state)(jax.random.key(0))
  assert state.g_params["out"]["kernel"].shape[-1] == 4  # 3 foreground + 1 mask
  d = config.data
  rng = np.random.default_rng(0)
  first = jnp.asarray(rng.uniform(-1, 1, (2, d.height, d.width, 3)), jnp.float32)
  skeletons = jnp.asarray(rng.uniform(-1, 1, (2, d.frames, d.height, d.width, 3)), jnp.float32)
  x = unet3d.generator_input(first, skeletons)
  variables = {"params": state.g_params, "batch_stats": state.g_batch_stats}

  def run(mask_bias):
    params = jax.tree.map(lambda a: a, state.g_params)
    params["out"] = dict(params["out"], bias=params["out"]["bias"].at[3].set(mask_bias))
    out, extra = trainer.generator.apply(dict(variables, params=params), x, train=False,
                                         mutable=["batch_stats", "intermediates"])
    return np.asarray(out), np.asarray(extra["intermediates"]["mask"][0])

  copied, mask = run(-1e4)
  assert mask.shape == (2, d.frames, d.height, d.width, 1) and mask.max() < 1e-6
  np.testing.assert_allclose(copied, np.broadcast_to(first[:, None], copied.shape), atol=1e-6)
  painted, mask = run(1e4)
  assert mask.min() > 1 - 1e-6
  assert not np.allclose(painted, np.broadcast_to(first[:, None], painted.shape), atol=1e-2)
  assert np.abs(painted).max() < 1  # the foreground is tanh's
  keypoints = np.concatenate([rng.uniform(4, d.height - 4, (4, d.frames, 18, 2)),
                              np.ones((4, d.frames, 18, 1))], -1).astype(np.float32)
  batch = {"video": _batch(config)["video"], "keypoints": jnp.asarray(keypoints)}
  _, metrics = jax.jit(trainer.train_step)(state, batch)
  assert all(np.isfinite(float(v)) for v in metrics.values())
  with pytest.raises(UserError, match="pose_gan.output must be"):
    get_trainer(load_config("pose_gan.py", pose_gan__output="residual"))


def test_pose_gan_composite_figure_shows_the_mask():
  from jaxvid.trainers.pose_gan import PoseGANTrainer
  config = load_config("pose_gan.py", pose_gan__output="composite")
  trainer = PoseGANTrainer(config)
  state = trainer.init_state(jax.random.key(0))
  d = config.data
  rng = np.random.default_rng(0)
  batch = {"video": np.asarray(_batch(config)["video"]),
           "keypoints": rng.uniform(4, d.height - 4, (4, d.frames, 18, 3)).astype(np.float32)}
  outputs = trainer.sample(state, trainer.sample_inputs(jax.random.key(1), batch))
  assert outputs["mask"].shape == outputs["video"].shape
  assert -1 <= float(outputs["mask"].min()) and float(outputs["mask"].max()) <= 1
  assert 0.8 < float(outputs["mask"].mean()) < 0.95  # the mask starts near 1: sigmoid(3) * 2 - 1
  rows = trainer.figure(jax.tree.map(np.asarray, outputs), batch)
  assert len(rows[0]) == len(trainer.figure_columns()) == 5
  assert trainer.figure_columns()[-1] == "mask"
