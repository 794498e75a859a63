"""Importing k2 for the tests of this folder: skipped where k2 is not installed (the main environment), but an
error where it is required (``LIGHTRNN_ASR_REQUIRE_K2=1``, set by ``make test-k2``), so an environment
whose k2 does not import fails instead of passing with every k2 test skipped."""

import importlib
import os

import pytest


def import_k2():
    """``import k2``; ``pytest.skip`` when that fails, unless k2 is required, then ``pytest.fail``."""
    try:
        return importlib.import_module("k2")
    except ImportError as e:  # k2 raises ImportError for its missing extension (`_k2`) too
        if os.environ.get("LIGHTRNN_ASR_REQUIRE_K2") == "1":
            pytest.fail(f"LIGHTRNN_ASR_REQUIRE_K2=1 but k2 does not import: {e}", pytrace=False)
        pytest.skip(f"k2 is not installed here ({e}); make test-k2 runs these tests", allow_module_level=True)
