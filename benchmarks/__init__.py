"""amili_async's benchmark suite: ``python -m benchmarks`` (``nox -s bench``).

Every comparison is measured side by side in one run and printed as a ratio; the targets of the
performance issue are printed PASS or FAIL. Nothing here asserts on time: machines are noisy.
"""
