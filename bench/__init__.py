"""Benchmarks: this project against the tutorial stack and BM25, index scale, and concurrent load.

Run everything with `python -m bench`; see `python -m bench --help`.
"""
