"""astrotrain's benchmark suite: `make bench` (= `python -m benchmarks`) regenerates BENCHMARKS.md.

Benchmarks are measurements, not tests: every figure is a ratio against a reference measured in
the same process right beside it, reported as the median of several repeats with its spread.
"""
