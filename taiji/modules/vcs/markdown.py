"""User Markdown (merge request descriptions, comments) as safe HTML.

markdown-it renders CommonMark with raw HTML switched off; nh3 then keeps only harmless tags and
attributes (no scripts, styles, event handlers or ``javascript:`` links) and marks links
``rel="noopener noreferrer nofollow"``. The result may be put in a page as markup.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_MD = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "code", "pre",
        "blockquote",
        "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td"}
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"},
              "th": {"align"}, "td": {"align"}}


def render(text: str | None) -> Markup:
    html = _MD.render(text or "")
    clean = nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                      link_rel="noopener noreferrer nofollow")
    return Markup(clean)  # noqa: S704 - sanitised just above
