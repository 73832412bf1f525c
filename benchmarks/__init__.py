"""Speed benchmarks (step time, throughput, MFU, PyTorch side by side): `python -m benchmarks.X`."""
