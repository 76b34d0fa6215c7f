"""Benchmark evaluation: rows (V*, HR-Bench, zoom-world), option order, judging, metrics, the runner."""
