"""Benchmarks of the bus against its physical limits (``python -m bench``)."""
