"""The generated documentation is current."""
from __future__ import annotations

from ibsim.config.reference import markdown
from tests.conftest import REPO


def test_configuration_reference_is_current():
    written = (REPO / "docs" / "configuration.md").read_text()
    assert written == markdown(), "regenerate with: python -m ibsim.config.reference > docs/configuration.md"
