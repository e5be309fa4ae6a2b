"""Shared test setup: no progress bars, deterministic seeds, few threads."""

import os

import pytest
import torch

os.environ.setdefault("REPRLAB_NO_PROGRESS", "1")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
