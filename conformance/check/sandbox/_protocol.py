"""The wire format between the grader and a child: every frame, status and field, defined once.

Both sides import this module: the parent as ``conformance.check.sandbox._protocol``, the child
(which runs without the grader's packages on ``sys.path``) by file. It uses the standard
library only.

* parent -> child, on the request pipe: frames ``>I length`` + UTF-8 JSON. ``{"op": "load",
  "slot", "source"}`` writes the solution's bytes (base64) into the child's own scratch
  directory as ``solution_<slot>.py`` and imports it (the grader never writes into a child's
  directory, which may be a file system of the child's own); ``{"op": "run", "slot",
  "cases": [...]}`` calls it on each
  case (:func:`encode_case`: ``x`` as hex of little-endian float32 bytes, ``scale`` as
  ``float.hex``, so every value, NaN and infinities included, crosses exactly; the solution
  gets ``x`` as a JAX array); ``{"op": "bye"}`` ends the session.
* child -> parent, on the result pipe: frames ``MAGIC`` + ``>cII`` (kind, JSON length, data
  length) + JSON header + raw data. Kinds: :data:`HELLO` (environment), :data:`LOAD` (the
  import's outcome), :data:`RESULT` (one case's outcome; ``data`` is the result as
  little-endian float64, lossless for every float dtype the result may have), :data:`END`
  (end of a run: warnings, purity).

Header fields, by frame: :data:`HELLO` ``python, numpy, jax, jaxlib, flax, prng_mode, x64,
cache, pid, confinement``; :data:`LOAD` ``slot, ok, seconds`` and, when not ok, ``kind`` (one
of :data:`LOAD_KINDS`) with ``names`` | ``type`` | ``exc_type, message, line, text,
traceback``; :data:`RESULT` ``i, status, seconds, type`` and, by status, ``dtype,
shape[, elided]`` | ``exc_type, message, traceback``; :data:`END` ``slot, warnings, purity``.

The solution runs in the child and may write to the result pipe itself, so the parent
validates every frame (:func:`read_frame`) and every field it reads.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any, BinaryIO

MAGIC = b"NNXC"
_FRAME = struct.Struct(">cII")
MAX_HEADER = 1 << 16
#: The largest array a result frame carries (far above any output the cases ask for); a larger
#: one is sent as its shape and dtype alone (``elided``).
MAX_ELEMENTS = 1 << 16
MAX_TEXT = 2000
MAX_WARNINGS = 20  # distinct warnings a child reports (and the check shows)
#: The exit code of a child whose channel the solution closed or broke (never a verdict of
#: the solution's own ``sys.exit``, which the driver catches).
CHANNEL_LOST = 86

# Frame kinds (child -> parent).
HELLO, LOAD, RESULT, END = "H", "L", "R", "E"
FRAME_KINDS = HELLO + LOAD + RESULT + END

# Request operations (parent -> child).
OP_LOAD, OP_RUN, OP_BYE = "load", "run", "bye"

#: The ``kind`` of a failed load (a :data:`LOAD` frame with ``ok`` false).
LOAD_KINDS = ("missing_function", "not_callable", "syntax_error", "exit", "memory",
              "import_error")

#: The ``status`` of a :data:`RESULT` frame: an array (``data`` holds it), another type, or
#: the call raised, exited or ran out of memory.
ARRAY, OTHER_TYPE, ERROR, EXIT, MEMORY = "array", "type", "error", "exit", "memory"
RESULT_STATUSES = (ARRAY, OTHER_TYPE, ERROR, EXIT, MEMORY)


class ProtocolError(Exception):
    """A frame from the child is malformed (its sender did not follow the wire format)."""


def read_exact(stream: BinaryIO, n: int) -> bytes:
    """Exactly ``n`` bytes from ``stream``; raises EOFError if it closes first."""
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            raise EOFError("channel closed")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def write_all(fd: int, data: bytes) -> None:
    """Writes all of ``data`` to the descriptor ``fd``."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# --------------------------------------------------------------------------- parent side


def read_frame(stream: BinaryIO) -> tuple[str, dict, bytes]:
    """Reads and validates one child frame: ``(kind, header, data)``.

    Raises:
        EOFError: the channel closed (the child exited or closed it).
        ProtocolError: anything malformed: magic, kind, sizes, JSON.
    """
    head = read_exact(stream, len(MAGIC) + _FRAME.size)
    if head[:4] != MAGIC:
        raise ProtocolError(f"bad frame magic {head[:4]!r}")
    kind, n_json, n_data = _FRAME.unpack(head[4:])
    kind = kind.decode("latin-1")
    if kind not in FRAME_KINDS or n_json > MAX_HEADER or n_data > 8 * MAX_ELEMENTS:
        raise ProtocolError(f"bad frame kind={kind!r} header={n_json} data={n_data}")
    try:
        header = json.loads(read_exact(stream, n_json).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # forged: nested too deep
        raise ProtocolError(f"bad frame header: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("frame header is not an object")
    return kind, header, read_exact(stream, n_data)


def request_frame(message: dict) -> bytes:
    """One request frame for the child (the parent writes it under its own deadline)."""
    payload = json.dumps(message).encode("utf-8")
    return struct.pack(">I", len(payload)) + payload


def encode_case(index: int, seed: int, features: int, float_args: bool, scale: float,
                x_f32: bytes) -> dict[str, Any]:
    """One case of a ``run`` request (``x_f32``: little-endian float32 bytes of ``x``)."""
    return {"i": index, "seed": seed, "features": features, "float_args": float_args,
            "scale": float(scale).hex(), "x": x_f32.hex()}


# --------------------------------------------------------------------------- child side


def send_frame(fd: int, kind: str, header: dict, data: bytes = b"") -> None:
    """Writes one frame to the result pipe ``fd``."""
    payload = json.dumps(header).encode("utf-8")
    write_all(fd, MAGIC + _FRAME.pack(kind.encode(), len(payload), len(data)) + payload + data)


def read_request(stream: BinaryIO) -> dict:
    """Reads one request frame (child side)."""
    (length,) = struct.unpack(">I", read_exact(stream, 4))
    return json.loads(read_exact(stream, length).decode("utf-8"))


def encode_source(source: bytes) -> str:
    """A solution's bytes as the ``source`` of a load request."""
    import base64

    return base64.b64encode(source).decode("ascii")


def decode_source(text: str) -> bytes:
    """The inverse of :func:`encode_source`."""
    import base64

    return base64.b64decode(text.encode("ascii"), validate=True)


def solution_name(slot: int) -> str:
    """The file name a solution gets in its child's scratch directory."""
    return f"solution_{slot}.py"


def decode_case(case: dict) -> tuple[int, Any, Any, float, bytes]:
    """``(index, seed, features, scale, x_f32)`` of an :func:`encode_case` dict, with seed and
    features as floats where the case passes them so."""
    seed, features = case["seed"], case["features"]
    if case["float_args"]:
        seed, features = float(seed), float(features)
    return case["i"], seed, features, float.fromhex(case["scale"]), bytes.fromhex(case["x"])
