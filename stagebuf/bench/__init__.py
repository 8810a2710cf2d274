"""Benchmarks: ``python -m stagebuf.bench [arena|staging|all]``."""
