"""Fixtures of the integration tests that run the whole topology as processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from faultkit import Pipeline, slice_pipelines


@pytest.fixture
def slice_pipeline(tmp_path: Path) -> Iterator[Callable[..., Pipeline]]:
    """``start(sink=None, **evaluator_env)`` → a started ``Pipeline`` on a small slice; all
    started ones are stopped at the end."""
    yield from slice_pipelines(tmp_path)
