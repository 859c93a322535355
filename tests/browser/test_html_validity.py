"""Every page and fragment the journeys produced, through the Nu Html Checker in one run.

Runs after the journeys (conftest orders it last); alone, it has nothing to check and skips.
"""

from __future__ import annotations

import pytest

from tests.browser.audits import Audits, validate_html
from tests.browser.conftest import Suite
from tests.browser.tools import Tools


def test_every_page_and_fragment_is_valid_html(tools: Tools, audits: Audits, suite: Suite) -> None:
    if not audits.documents:
        pytest.skip("no journey ran before this test, so there is no HTML to check")
    suite.vnu_errors = validate_html(tools.java, tools.vnu_jar, audits.html_dir)
    assert not suite.vnu_errors, "\n".join(suite.vnu_errors)
