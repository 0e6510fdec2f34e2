"""The Content-Security-Policy header on every page, and pages that need nothing it forbids.

Real Chromium loads the admin, the API docs and the front desk under it in
desk/tests/browser/test_csp_browser.py.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
EXPECTED = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in header.split(";")) if d}


class Scripts(HTMLParser):
    """Inline scripts, inline event handlers and javascript: URLs in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.sources: list[str] = []
        self._inline = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on") or name.startswith("hx-on"):
                self.problems.append(f"<{tag} {name}=...>")
            if value and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}={value}>")
        if tag == "script":
            if attributes.get("src"):
                self.sources.append(attributes["src"])
            elif attributes.get("type") != "application/json":  # data, never run
                self._inline = True

    def handle_data(self, data):
        if self._inline and data.strip():
            self.problems.append(f"inline <script>: {data.strip()[:60]}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._inline = False


def scripts(html: str) -> Scripts:
    parser = Scripts()
    parser.feed(html)
    return parser


@pytest.mark.parametrize(
    "path", ["/login/", "/", "/admin/login/", "/api/v1/docs", "/api/v1/openapi.json", "/health", "/nowhere/"]
)
def test_every_answer_carries_the_strict_policy(client, path):
    response = client.get(path)
    assert policy(response) == EXPECTED
    assert "unsafe-eval" not in response["Content-Security-Policy"]


def test_the_admin_pages_under_the_policy_run_no_inline_script(admin_client):
    for path in ("/admin/", "/admin/auth/user/", "/admin/auth/user/add/", "/admin/auth/group/add/"):
        response = admin_client.get(path)
        assert response.status_code == 200, path
        assert policy(response) == EXPECTED
        assert scripts(response.content.decode()).problems == [], path


def test_the_api_docs_load_swagger_from_our_own_static_files(client):
    page = scripts(client.get("/api/v1/docs").content.decode())
    assert page.problems == []
    assert page.sources and all(src.startswith("/static/ninja/") for src in page.sources), page.sources


def test_the_login_page_runs_no_inline_script(client):
    assert scripts(client.get("/login/").content.decode()).problems == []


@pytest.mark.parametrize("template", sorted(p.name for p in (TEMPLATES / "desk").glob("*.html")))
def test_the_front_desk_templates_have_no_inline_script_or_handler(template):
    source = (TEMPLATES / "desk" / template).read_text()
    # Every <script> loads a file; no on...= handlers, no hx-on, no javascript: URLs.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", source), template
    assert not re.search(r"\s(on[a-z]+|hx-on[:-][\w:-]*)\s*=", source), template
    assert "javascript:" not in source.lower(), template


def test_htmx_runs_without_eval():
    # Trigger filters and hx-vars need eval; with allowEval off htmx never calls it.
    base = (TEMPLATES / "desk" / "base.html").read_text()
    assert '"allowEval": false' in base
    assert '"includeIndicatorStyles": false' in base
