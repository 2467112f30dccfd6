"""Turns a matrix tox env name into pip pins, so that every pin is written once: in the name.

``tox.ini`` uses this file as its ``install_command``::

    install_command = python {toxinidir}/conformance/matrix/tox_pins.py {env_name} {opts} {packages}

An env name is a ``-``-separated list of factors; the ones this module reads are

* ``flax<version>``  -> ``flax==<version>``
* ``jax<version>``   -> ``jax[cpu]==<version>`` (the extra pins the matching jaxlib)
* ``numpy<version>`` -> ``numpy==<version>.*`` for ``X.Y``, ``numpy==<version>`` otherwise
* ``flaxnewest``, ``jaxnewest`` -> ``flax``, ``jax[cpu]``: the newest releases on the index
  (the scheduled CI env, which sees a new release the day it appears)
* ``torch``          -> ``torch==2.13.0``, allowed only on Python 3.11, the one interpreter
  for which that wheel is on this machine (``pip install torch==2.13.0``; never resolved by uv)

Every other factor (``py310``, ``py3.12`` ...) is tox's business. Adding a Flax or JAX release to
the matrix is therefore one new env name in ``tox.ini``; see ``docs/matrix.md``.

Runs on the env's own interpreter (any Python >= 3.10), so it uses the standard library only.
"""

from __future__ import annotations

import re
import subprocess
import sys

TORCH_PIN = "torch==2.13.0"
TORCH_PYTHON = (3, 11)
_VERSION = r"(\d+(?:\.\d+){1,3}(?:(?:a|b|rc|\.post|\.dev)\d+)?)"
_NEWEST = "newest"
_FACTORS = {
    "flax": re.compile(rf"^flax(?:{_VERSION}|{_NEWEST})$"),
    "jax": re.compile(rf"^jax(?:{_VERSION}|{_NEWEST})$"),
    "numpy": re.compile(rf"^numpy{_VERSION}$"),
}


class PinError(ValueError):
    """An env name asks for something the matrix cannot install."""


def pins(env_name: str, python: tuple[int, int] | None = None) -> list[str]:
    """The pip requirements an env name stands for.

    Args:
        env_name: a tox env name such as ``py310-flax0.10.4-jax0.4.38``.
        python: the env's ``(major, minor)``; defaults to the running interpreter's.

    Returns:
        Requirement strings, in factor order.

    Raises:
        PinError: the name pins the same package twice, or asks for torch off Python 3.11.
    """
    python = python or sys.version_info[:2]
    found: dict[str, str] = {}
    for factor in env_name.split("-"):
        if factor == "torch":
            if tuple(python) != TORCH_PYTHON:
                raise PinError(
                    f"factor=torch on Python {python[0]}.{python[1]}, but should only be used on "
                    f"Python 3.11, the one interpreter {TORCH_PIN} is installed for here")
            found["torch"] = TORCH_PIN
            continue
        for package, pattern in _FACTORS.items():
            match = pattern.match(factor)
            if not match:
                continue
            if package in found:
                raise PinError(f"env_name={env_name!r} pins {package} twice, but should pin once")
            version = match.group(1)
            if version is None:  # flaxnewest, jaxnewest
                found[package] = "jax[cpu]" if package == "jax" else package
            elif package == "jax":
                found[package] = f"jax[cpu]=={version}"
            elif package == "numpy" and version.count(".") == 1:
                found[package] = f"numpy=={version}.*"
            else:
                found[package] = f"{package}=={version}"
    return list(found.values())


def show(env_names: list[str]) -> int:
    """``tox_pins.py --show ENV...``: prints what each env name installs (for the docs)."""
    for env_name in env_names:
        match = re.match(r"^py3\.?(\d+)-", env_name)
        python = (3, int(match.group(1))) if match else None
        try:
            print(f"{env_name}: {' '.join(pins(env_name, python))}")
        except PinError as err:
            print(f"{env_name}: {err}")
            return 2
    return 0


def main(argv: list[str]) -> int:
    """``tox_pins.py ENV_NAME [pip install args...]``: pip-installs the args plus the pins."""
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "--show":
        return show(argv[1:])
    env_name, rest = argv[0], argv[1:]
    try:
        extra = pins(env_name)
    except PinError as err:
        print(f"tox_pins: {err}", file=sys.stderr)
        return 2
    # Pins go on the same command line as the deps, so pip resolves them together; binary
    # wheels are preferred because an sdist of jaxlib or tensorstore would take an hour to build.
    command = [sys.executable, "-m", "pip", "install", "--prefer-binary", *rest, *extra]
    print("tox_pins:", " ".join(command), flush=True)
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
