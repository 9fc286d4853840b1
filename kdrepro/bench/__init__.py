"""Benchmarks: how fast kdrepro trains, measured side by side against a reference-style pipeline."""

from .suite import SIZES, run_bench, table_text

__all__ = ["SIZES", "run_bench", "table_text"]
