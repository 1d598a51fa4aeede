"""The console's icon: linked from every page, and found at the address browsers guess."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db

ICON = "/static/console/favicon.svg"


def test_favicon_ico_redirects_to_the_svg_icon(client: Client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == ICON


def test_the_login_page_links_the_svg_icon(client: Client) -> None:
    page = client.get("/console/login/").content.decode()
    assert f'<link rel="icon" href="{ICON}" type="image/svg+xml">' in page


def test_the_icon_is_a_static_svg_file() -> None:
    path = finders.find("console/favicon.svg")
    assert isinstance(path, str)
    assert Path(path).read_text(encoding="utf-8").startswith("<svg ")
