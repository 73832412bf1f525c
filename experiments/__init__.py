"""Experiments beyond one training run (sweeps of settings on an accelerator): `python -m experiments.X`."""
