"""Returning free heap memory to the kernel: glibc's malloc_trim, or nothing without it."""

from __future__ import annotations

import platform

import pytest

from sdgen.runtime.heap import _nothing, release_free_memory, trimmer


def test_no_c_library_to_trim_with_gives_a_no_op() -> None:
    assert trimmer("/nonexistent/libc.so.6") is _nothing


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_glibc_trims_and_the_process_goes_on() -> None:
    assert trimmer() is not _nothing
    garbage = [bytes(1000) for _ in range(20_000)]  # ~20 MB through malloc, then freed
    del garbage
    release_free_memory()
    release_free_memory()  # again, with nothing left to give back
