"""Raises at import, from a helper: the traceback must name this file, not the grader's copy."""


def helper():
    raise RuntimeError("boom at import")


helper()


def pure_state_update(seed, x, features, scale):
    return x
