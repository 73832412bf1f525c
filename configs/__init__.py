"""Training configs: `get_config(variant)` per model; `--config=configs/vgan.py[:variant]`."""
