"""Fixtures for the browser tests: one headless Chromium per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.e2e.browser import chromium


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched
