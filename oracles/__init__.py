"""Oracles: what an implementation or an nnx environment is judged against, beyond agreement.

* :mod:`oracles.metamorphic`: relations every implementation must satisfy (``RELATIONS``),
  applied by the differential run.
* :mod:`oracles.known_answers`: known-answer vectors per PRNG class and x64 setting (the files
  in ``known_answers/``, recorded by ``python -m oracles.record_known_answers`` with their
  provenance), checked bit for bit.
* :mod:`oracles.purity`: what "pure" means in the installed Flax.

The oracles use the suite's core (cases, comparison, environment facts) and the
implementations, and are used by the programs (``run``, ``matrix``); nothing here imports a
program.
"""

__all__ = ["known_answers", "metamorphic", "purity"]
