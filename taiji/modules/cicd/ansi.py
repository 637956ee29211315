"""ANSI terminal output -> safe HTML for the job log view.

Only SGR sequences (``ESC [ … m``: colours, bold, italic, underline, reset) become markup,
as ``<span class="ansi-…">``; every other escape sequence is dropped and all text is
HTML-escaped, so a job cannot inject markup into the console whatever it prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from html import escape

# CSI sequences (ESC [ params intermediates final), OSC sequences (ESC ] … BEL / ESC \),
# other escapes (ESC + one or a few chars), and a lone ESC cut at the end of a chunk.
_ESCAPE = re.compile(
    r"\x1b\[(?P<params>[0-?]*)[ -/]*(?P<final>[@-~])"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[ -/]+[0-~]"  # character set designations such as ESC ( B
    r"|\x1b[0-~]"
    r"|\x1b$"
)
# Control characters other than newline and tab carry no meaning in a web page.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]")

COLOURS = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")


@dataclass(frozen=True)
class Style:
    bold: bool = False
    faint: bool = False
    italic: bool = False
    underline: bool = False
    fg: str | None = None
    bg: str | None = None

    def classes(self) -> str:
        names = [name for name in ("bold", "faint", "italic", "underline") if getattr(self, name)]
        if self.fg:
            names.append(f"fg-{self.fg}")
        if self.bg:
            names.append(f"bg-{self.bg}")
        return " ".join(f"ansi-{name}" for name in names)


PLAIN = Style()


def _extended_colour(codes: list[int], i: int) -> tuple[str | None, int]:
    """``38;5;N`` / ``38;2;R;G;B`` -> the nearest of our 16 classes, and how many codes it used."""
    if i + 1 < len(codes) and codes[i + 1] == 5 and i + 2 < len(codes):
        n = codes[i + 2]
        if n < 8:
            return COLOURS[n], 3
        if n < 16:
            return "bright-" + COLOURS[n - 8], 3
        return None, 3  # the 216-colour cube and greys: no class, plain text
    if i + 1 < len(codes) and codes[i + 1] == 2:
        return None, 5
    return None, 1


def apply_sgr(style: Style, params: str) -> Style:
    """The style after one SGR sequence's parameters (``"1;31"``)."""
    try:
        codes = [int(p) if p else 0 for p in params.split(";")] if params else [0]
    except ValueError:
        return style  # private-mode parameters such as "?25": not SGR, nothing to change
    i = 0
    while i < len(codes):
        code = codes[i]
        step = 1
        if code == 0:
            style = PLAIN
        elif code == 1:
            style = replace(style, bold=True)
        elif code == 2:
            style = replace(style, faint=True)
        elif code == 3:
            style = replace(style, italic=True)
        elif code == 4:
            style = replace(style, underline=True)
        elif code == 22:
            style = replace(style, bold=False, faint=False)
        elif code == 23:
            style = replace(style, italic=False)
        elif code == 24:
            style = replace(style, underline=False)
        elif 30 <= code <= 37:
            style = replace(style, fg=COLOURS[code - 30])
        elif code == 39:
            style = replace(style, fg=None)
        elif 40 <= code <= 47:
            style = replace(style, bg=COLOURS[code - 40])
        elif code == 49:
            style = replace(style, bg=None)
        elif 90 <= code <= 97:
            style = replace(style, fg="bright-" + COLOURS[code - 90])
        elif 100 <= code <= 107:
            style = replace(style, bg="bright-" + COLOURS[code - 100])
        elif code in (38, 48):
            colour, step = _extended_colour(codes, i)
            style = replace(style, **{"fg" if code == 38 else "bg": colour})
        i += step
    return style


def _carriage_returns(line: str) -> str:
    """What a terminal would show of a line rewritten with ``\\r`` (progress bars): the last
    rewrite, with the tail of longer earlier text left in place."""
    if "\r" not in line:
        return line
    parts = line.split("\r")
    shown = ""
    for part in parts:
        if not part:
            continue
        shown = part + shown[len(part):] if len(shown) > len(part) else part
    return shown


def _span(text: str, style: Style) -> str:
    if not text:
        return ""
    classes = style.classes()
    return f'<span class="{classes}">{escape(text)}</span>' if classes else escape(text)


def to_html(text: str, style: Style = PLAIN) -> tuple[str, Style]:
    """Render ``text`` to HTML; returns the markup and the style in force at its end, so that
    the next chunk of the same log continues in the right colour."""
    out: list[str] = []
    lines = text.split("\n")
    for number, raw in enumerate(lines):
        if number:
            out.append("\n")
        # CR handling works on the text with its escapes, so a colour change before the last
        # rewrite still applies; a trailing CR (CRLF line ends) is not a rewrite.
        line = _carriage_returns(raw.rstrip("\r") if number < len(lines) - 1 else raw)
        position = 0
        for match in _ESCAPE.finditer(line):
            out.append(_span(_CONTROL.sub("", line[position:match.start()]), style))
            if match.group("final") == "m":
                style = apply_sgr(style, match.group("params"))
            position = match.end()
        out.append(_span(_CONTROL.sub("", line[position:]), style))
    return "".join(out), style


def strip(text: str) -> str:
    """The text without any escape sequence (for searching and plain downloads)."""
    return _CONTROL.sub("", _ESCAPE.sub("", text))
