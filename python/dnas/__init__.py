"""dnas: differentiable neural architecture search (libdnas) from Python.

A thin ctypes layer over the C library's embedding API (include/dnas.h): dnas.Search drives
the same search loop as `dnas search`, a step or an epoch at a time."""
from ._core import (DnasError, Interrupted, Result, Search, library_path, query, set_log,
                    version)

__version__ = "0.1.0"
__all__ = ["DnasError", "Interrupted", "Result", "Search", "library_path", "query", "set_log",
           "version"]
