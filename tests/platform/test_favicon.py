"""The console has a favicon: an SVG with PNG and ICO fallbacks from the kernel's static files,
linked from every page's layout."""

from __future__ import annotations

import re


def test_every_page_links_the_icons_and_they_are_served(client):
    html = client.get("/login").get_data(as_text=True)
    hrefs = re.findall(r'<link rel="(?:icon|apple-touch-icon)"[^>]*href="([^"]+)"', html)
    assert {h.rsplit("/", 1)[1] for h in hrefs} == {"favicon.svg", "favicon-32.png", "favicon.ico",
                                                   "favicon-180.png"}
    expected = {"favicon.svg": b"<svg", "favicon-32.png": b"\x89PNG", "favicon-180.png": b"\x89PNG",
                "favicon.ico": b"\x00\x00\x01\x00"}
    for href in hrefs:
        response = client.get(href)
        assert response.status_code == 200, href
        assert response.data.startswith(expected[href.rsplit("/", 1)[1]]), href
