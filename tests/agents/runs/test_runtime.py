"""Process-wide runtime settings."""

from __future__ import annotations

import platform

import pytest

from agents.runs.runtime import keep_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_keep_freed_memory_is_accepted_by_glibc():
    assert keep_freed_memory() is True
