"""Oracles that judge an nnx environment rather than an implementation.

``record_known_answers`` records the known-answer vectors in ``known_answers/``;
``known_answers`` checks them; ``purity`` records what "pure" means in the installed Flax;
``env_report`` gathers all of it, per tox env, for ``conformance._matrix``.
"""
