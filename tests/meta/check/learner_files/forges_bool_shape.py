"""Rewrites the driver's result frames (it runs in the solution's process): a header whose
shape is [true] (a bool is an int to Python) must be a protocol fail, not a grader error."""
import sys

wire = sys.modules["_protocol"]
_send = wire.send_frame


def send_frame(fd, kind, header, data=b""):
    if kind == wire.RESULT:
        header = dict(header, status="array", shape=[True], dtype="float32")
        data = b"\0" * 8
    return _send(fd, kind, header, data)


wire.send_frame = send_frame


def pure_state_update(seed, x, features, scale):
    return None
