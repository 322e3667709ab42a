"""Give freed heap memory back to the operating system (glibc), between the parts of a long import.

A streamed import allocates and frees a part's records and row dicts again and again, on two threads
(the parser and the writer), so glibc keeps two arenas of freed-but-unreturned pages whose sum shows
as resident memory (docs/benchmarks/flex.md). `malloc_trim(0)` returns the free pages of every arena.
A no-op where the C library has no malloc_trim (macOS, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def release_free_memory() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
