"""Moved to stagebuf._recording._indices (kept while _mesh.py imports it from here)."""

from ._recording._indices import INDEX_DTYPES, IndexedRange, index_dtype, offset_indices

__all__ = ["INDEX_DTYPES", "IndexedRange", "index_dtype", "offset_indices"]
