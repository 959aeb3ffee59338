"""Benchmarks: veye against reader, in the same run and on the same corpus."""
