import pytest

from annotator.formats import registry


@pytest.fixture(autouse=True)
def _fresh_registry():
    """Plugin discovery depends on env vars some tests set; rediscover around every test."""
    registry.reload()
    yield
    registry.reload()
