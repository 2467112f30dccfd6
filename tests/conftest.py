"""Shared test set-up: the Hypothesis profile (``ci`` unless ``HYPOTHESIS_PROFILE`` says)."""

import os

from hypothesis import settings

import conformance._cases  # noqa: F401 - registers the dev/ci/thorough profiles

settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
