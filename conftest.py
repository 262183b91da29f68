"""Shared test configuration: ``--runslow`` opts into slow reproductions."""

from __future__ import annotations

import pytest
import torch


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--runslow", action="store_true", default=False, help="run slow reproduction tests"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow reproduction: run with --runslow (make repro)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(autouse=True)
def _single_thread() -> None:
    """Tests use one thread so timings and results do not depend on the machine."""
    torch.set_num_threads(1)
