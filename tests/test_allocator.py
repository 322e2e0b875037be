"""keep_freed_memory: glibc's malloc keeps freed tensors in the heap for the next step instead of unmapping them."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

from minitrain import allocator

GLIBC = platform.libc_ver()[0] == "glibc"

# Prints how many blocks glibc mapped for one 8 MiB malloc (its default threshold is 128 KiB: one), after
# keep_freed_memory() when the argument says so. A fresh process each time: the settings are process-wide.
MAPPED_BLOCKS = textwrap.dedent('''
    import ctypes, sys
    from minitrain.allocator import keep_freed_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    if sys.argv[1] == "keep":
        assert keep_freed_memory({})
    before = libc.mallinfo2().hblks
    block = libc.malloc(8 << 20)
    print(libc.mallinfo2().hblks - before)
    libc.free(block)
''')


def mapped_blocks(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", MAPPED_BLOCKS, mode], capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.mark.skipif(not GLIBC, reason="mallopt and mallinfo2 are glibc's; elsewhere keep_freed_memory changes nothing")
def test_large_blocks_come_from_the_heap_once_asked():
    assert mapped_blocks("default") == 1  # glibc maps an 8 MiB block of its own, unmapped again when freed
    assert mapped_blocks("keep") == 0


@pytest.mark.parametrize("name", allocator.USER_SETTINGS)
def test_the_users_own_glibc_settings_are_left_alone(name, monkeypatch):
    def refuse(*args):
        raise AssertionError("libc was opened")

    monkeypatch.setattr(allocator.ctypes, "CDLL", refuse)
    assert allocator.keep_freed_memory({name: "1048576"}) is False


def test_without_glibc_nothing_is_changed(monkeypatch):
    def missing(*args):
        raise OSError("libc.so.6: cannot open shared object file")

    monkeypatch.setattr(allocator.ctypes, "CDLL", missing)
    assert allocator.keep_freed_memory({}) is False
