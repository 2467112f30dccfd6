"""Shared test set-up: the Hypothesis profile (``ci`` unless ``HYPOTHESIS_PROFILE`` says)."""

import os

from hypothesis import settings

from conformance.core import collect  # noqa: F401 - loading the cases registers the profiles

settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
