"""A job log as the console shows it: one element per line, with its number (a CSS counter), the
time its chunk was written, ANSI colours (ansi.py) and foldable sections.

Every line is a block ``<span class="log-line">`` holding an empty ``<i class="log-time">`` (its
time is drawn by CSS from ``data-time``, and the line's number from a counter, so that selecting
and copying the log copies its text only) and the line's escaped text; the block is the line
break, so a long line wraps under its own text. A page of text may end mid-line: that last line
is a ``log-open`` and the rest of it, at the start of the next page, a ``log-cont`` (no number of
its own); both flow inline, so the two halves read as one line.

Sections: the runner writes a header line for each script line (``$ command``, bold green); a
header starts a section that the reader can fold, up to the next header. GitLab's markers are read
too: ``section_start:<unix time>:<name>[options]\\r\\x1b[0K<header>`` starts one and
``section_end:<unix time>:<name>\\r\\x1b[0K`` ends it (the markers themselves are not shown).

Job output is untrusted: all of its text goes through ``ansi.to_html``, which escapes it.
"""

from __future__ import annotations

import bisect
import re
from html import escape

from flask_babel import format_datetime
from flask_babel import gettext as _

from . import ansi

# The runner's header of a script line (runners/builtin.py: BOLD, GREEN, "$ ").
RUNNER_HEADER = re.compile(r"^\x1b\[1m\x1b\[32m\$ ")
SECTION_START = re.compile(
    r"^(?:\x1b\[0K)?section_start:(\d{1,12}):([A-Za-z0-9_.-]{1,100})(?:\[[^\]\r\n]{0,200}\])?\r(?:\x1b\[0K)?"
)
SECTION_END = re.compile(r"^(?:\x1b\[0K)?section_end:(\d{1,12}):([A-Za-z0-9_.-]{1,100})\r(?:\x1b\[0K)?")


class _Times:
    """The time of the chunk that holds a byte offset, formatted once per chunk."""

    def __init__(self, times):
        self.offsets = [offset for offset, _when in times]
        self.whens = [when for _offset, when in times]
        self.cache: dict[int, tuple[str, str] | None] = {}

    def at(self, offset: int) -> tuple[str, str] | None:
        index = bisect.bisect_right(self.offsets, offset) - 1
        if index < 0:
            return None
        if index not in self.cache:
            when = self.whens[index]
            self.cache[index] = None if when is None else (
                format_datetime(when, "HH:mm:ss"), format_datetime(when, "yyyy-MM-dd HH:mm:ss z"))
        return self.cache[index]


def render(text: str, *, offset: int = 0, times=(), line_start: bool = True) -> str:
    """The HTML of ``text``, the log from byte ``offset`` on.

    ``times``: (chunk offset, written at) of the chunks that hold the text, in offset order.
    ``line_start``: whether ``offset`` begins a line (else the first line continues one)."""
    if not text:
        return ""
    clock = _Times(list(times))
    fold = escape(_("Fold or unfold this section"), quote=True)
    out: list[str] = []
    style = ansi.PLAIN
    position = offset
    shown = None
    lines = text.split("\n")
    for number, raw in enumerate(lines):
        last = number == len(lines) - 1
        if last and not raw:
            break  # the text ended with its newline
        size = len(raw.encode("utf-8", errors="replace")) + (0 if last else 1)
        classes, attrs, stamp, body, header = "log-line", "", "", raw, False
        if number == 0 and not line_start:
            classes += " log-cont"
            if last:
                classes += " log-open"
        else:
            started = SECTION_START.match(raw)
            ended = SECTION_END.match(raw) if not started else None
            if started:
                header = True
                attrs = f' data-section="{escape(started.group(2), quote=True)}"'
                body = raw[started.end():] or started.group(2)
            elif ended:
                classes += " log-section-end"
                attrs = f' data-section="{escape(ended.group(2), quote=True)}"'
                body = raw[ended.end():]
            elif RUNNER_HEADER.match(raw):
                header = True
            when = clock.at(position)
            stamp = '<i class="log-time"></i>'
            if when is not None:
                # The full date and zone once per chunk (on its first line), as a tooltip.
                title = f' title="{escape(when[1], quote=True)}"' if when is not shown else ""
                stamp = f'<i class="log-time" data-time="{escape(when[0], quote=True)}"{title}></i>'
                shown = when
        if header:
            classes += " log-section"
            stamp += (f'<button type="button" class="log-fold" aria-expanded="true" aria-label="{fold}" '
                      f'title="{fold}" data-log-fold></button>')
        if last and "log-cont" not in classes:
            classes += " log-open"  # no newline yet: the next page continues it
        html, style = ansi.to_html(body, style)
        out.append(f'<span class="{classes}"{attrs}>{stamp}{html}</span>')
        position += size
    return "".join(out)
