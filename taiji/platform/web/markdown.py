"""Markdown a user wrote (a README, a description), rendered for the console safely.

markdown-it-py turns CommonMark (with tables and strikethrough) into HTML; nh3 then keeps only an
allow-list of tags and attributes: no scripts, styles, frames, forms or event handlers survive, and
links get ``rel="nofollow noopener noreferrer"``. Images are shown as links to them: the console's
content policy loads no image from elsewhere, and a picture on our origin is not worth the risk.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

import nh3
from markupsafe import Markup, escape

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s", "span",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},  # language-xxx of a fenced block
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
    "*": {"title"},
}
URL_SCHEMES = {"http", "https", "mailto"}
# The most text rendered; past it the rest is cut (a README is read in the browser, not a book).
MAX_CHARS = 256 * 1024


def _image_as_link(self, tokens, idx, options, env):
    token = tokens[idx]
    alt = self.renderInline(token.children or [], options, env) if token.children else token.content
    return f'<a href="{escape(token.attrGet("src") or "")}">{alt or escape(token.attrGet("src") or "")}</a>'


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt  # here: importing it costs every process's start-up

    md = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable(["table", "strikethrough"])
    md.add_render_rule("image", _image_as_link)
    return md


def _is_relative(url: str) -> bool:
    return bool(url) and not url.startswith(("#", "/", "?")) and ":" not in url.split("/", 1)[0]


def render(text: str | None, relative: Callable[[str], str] | None = None) -> Markup:
    """``text`` as sanitised HTML, safe to put into a console page. ``relative`` turns a link
    relative to the document (``docs/guide.md``) into the address that shows it."""

    def links(element: str, attribute: str, value: str) -> str | None:
        if relative is not None and element == "a" and attribute == "href" and _is_relative(value):
            return relative(value)
        return value

    html = _parser().render((text or "")[:MAX_CHARS])
    clean = nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES, attribute_filter=links,
                      link_rel="nofollow noopener noreferrer", strip_comments=True,
                      clean_content_tags={"script", "style", "iframe", "noscript", "template", "textarea",
                                          "title", "xmp", "svg", "math", "object"})
    return Markup(clean)  # noqa: S704 - nh3's allow-list output
