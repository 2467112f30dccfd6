"""Tests of the pure-NumPy port (``implementations.numpy_port``) and its shared key helpers."""

from __future__ import annotations

import pytest

from implementations import _keys

# Random123 known-answer vectors for threefry2x32-20 (kat_vectors), as cited by JAX's
# tests/random_test.py::testThreefry2x32.
RANDOM123_KAT = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


@pytest.mark.parametrize("key,counter,expected", RANDOM123_KAT)
def test_threefry_random123_known_answers(key, counter, expected):
    assert _keys.threefry2x32(key, *counter) == expected
