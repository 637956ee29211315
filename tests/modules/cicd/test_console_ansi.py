"""ANSI colour codes in job logs become safe HTML."""

from __future__ import annotations

import pytest

from taiji.modules.cicd import ansi

ESC = "\x1b"


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("plain text", "plain text"),
        (f"{ESC}[31mred{ESC}[0m after", '<span class="ansi-fg-red">red</span> after'),
        (f"{ESC}[1;32mok{ESC}[m", '<span class="ansi-bold ansi-fg-green">ok</span>'),
        (f"{ESC}[92mbright{ESC}[39m", '<span class="ansi-fg-bright-green">bright</span>'),
        (f"{ESC}[41;37mbanner{ESC}[49m x", '<span class="ansi-fg-white ansi-bg-red">banner</span>'
                                           '<span class="ansi-fg-white"> x</span>'),
        (f"{ESC}[38;5;1mindexed{ESC}[0m", '<span class="ansi-fg-red">indexed</span>'),
        (f"{ESC}[38;5;200mcube{ESC}[0m", "cube"),
        (f"{ESC}[38;2;1;2;3mtrue colour{ESC}[0m", "true colour"),
        (f"{ESC}[4munder{ESC}[24m", '<span class="ansi-underline">under</span>'),
    ],
)
def test_sgr_codes_become_classed_spans(text, html):
    assert ansi.to_html(text)[0] == html


def test_markup_in_the_log_is_escaped_not_rendered():
    html, _ = ansi.to_html('<script>alert("x")</script> & <img src=x onerror=alert(1)>')
    assert "<script" not in html and "<img" not in html
    assert html == ("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; "
                    "&lt;img src=x onerror=alert(1)&gt;")


def test_markup_inside_coloured_text_is_escaped_too():
    html, _ = ansi.to_html(f'{ESC}[31m<b onclick="x">{ESC}[0m')
    assert html == '<span class="ansi-fg-red">&lt;b onclick=&quot;x&quot;&gt;</span>'


def test_other_escape_sequences_and_control_characters_are_dropped():
    text = f"{ESC}[2J{ESC}[Hclear{ESC}[?25l{ESC}]0;title\x07 bell\x07 {ESC}(Bdone\x00\x08"
    assert ansi.to_html(text)[0] == "clear bell done"


def test_carriage_return_keeps_the_last_rewrite_of_a_line():
    assert ansi.to_html("progress 10%\rprogress 55%\rprogress 100%\nnext")[0] == "progress 100%\nnext"
    # A shorter rewrite leaves the end of the longer text, as a terminal would.
    assert ansi.to_html("downloading...\rdone")[0] == "doneloading..."
    # CRLF line ends are not rewrites.
    assert ansi.to_html("one\r\ntwo\r\n")[0] == "one\ntwo\n"


def test_style_carries_over_from_one_chunk_to_the_next():
    first, style = ansi.to_html(f"{ESC}[33mwarning: ")
    second, style = ansi.to_html(f"still yellow{ESC}[0m plain", style)
    assert first == '<span class="ansi-fg-yellow">warning: </span>'
    assert second == '<span class="ansi-fg-yellow">still yellow</span> plain'
    assert style == ansi.PLAIN


def test_a_sequence_cut_at_the_end_of_a_chunk_leaves_no_garbage():
    assert ansi.to_html(f"text{ESC}")[0] == "text"


def test_strip_removes_every_escape():
    assert ansi.strip(f"{ESC}[1;31mERROR{ESC}[0m: {ESC}[2Kboom") == "ERROR: boom"
