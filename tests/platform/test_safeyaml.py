"""Untrusted YAML (taiji.platform.safeyaml): the billion laughs and nesting bombs are refused,
with the line and column and what to change, before anything expands; ordinary YAML reads as
PyYAML's safe loader reads it."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from taiji.platform import safeyaml
from tests.confined import run_confined


def billion_laughs() -> str:
    """Nine levels of nine aliases: 9^9 (387 million) strings from 368 bytes."""
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for name, previous in zip("bcdefghi", "abcdefgh", strict=True):
        text += f"{name}: &{name} [{','.join(['*' + previous] * 9)}]\n"
    return text


def deep_nesting(depth: int = 900) -> str:
    """Flow sequences nested ``depth`` deep (under libyaml's own limit of 1,000)."""
    return "x: " + "[" * depth + "]" * depth + "\n"


def _refused_in_a_confined_process(text: str, call: str = "safeyaml.load(text)") -> str:
    done = run_confined(f"""
        import sys
        from taiji.platform import safeyaml
        text = sys.stdin.read()
        try:
            {call}
        except safeyaml.UntrustedYAML as exc:
            print("REFUSED", exc)
        """, stdin=text.encode(), memory_mb=512, cpu_seconds=30)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stdout.decode()


def test_the_billion_laughs_is_refused_at_its_first_anchor():
    out = _refused_in_a_confined_process(billion_laughs())
    assert out.startswith("REFUSED line 1, column 4: YAML anchors and aliases ('&a', '*a') are not accepted")
    assert "write the repeated part out in full" in out


def test_an_alias_alone_is_refused_where_it_stands():
    with pytest.raises(safeyaml.UntrustedYAML) as refused:
        safeyaml.load("a: 1\nb:\n  - *c\n")
    assert (refused.value.line, refused.value.column) == (3, 5)


@pytest.mark.parametrize("text", [
    deep_nesting(),
    "x:\n" + "".join("  " * level + "k:\n" for level in range(1, 200)) + "  " * 200 + "end\n",
], ids=["flow", "block"])
def test_a_nesting_bomb_is_refused_with_the_depth_to_stay_under(text):
    out = _refused_in_a_confined_process(text, "list(safeyaml.load_all(text))")
    assert "REFUSED line " in out and "nested more than 64 levels deep; flatten the structure" in out


def test_values_per_document_and_bytes_are_bounded():
    limits = safeyaml.Limits(max_bytes=4096, max_nodes=50)
    with pytest.raises(safeyaml.UntrustedYAML, match="more than 50 values in one document; split"):
        safeyaml.load("[" + ",".join(["1"] * 60) + "]", limits)
    # The bound is per document: many small documents are fine.
    assert len(list(safeyaml.load_all("---\n".join(["[1, 2, 3]\n"] * 30), limits))) == 30
    with pytest.raises(safeyaml.UntrustedYAML, match="larger than 4 KiB; make it smaller") as refused:
        safeyaml.load("a: " + "é" * 3000, limits)
    assert refused.value.line is None


@pytest.mark.parametrize(("text", "fragment"), [
    ("n: " + "7" * 5000, "the value cannot be read"),
    ("when: 2024-02-30", "the value cannot be read"),
    ("x: !!python/object/apply:os.system [id]", "could not determine a constructor"),
    ("a: [1,\n", "not valid YAML"),
])
def test_values_python_cannot_hold_and_broken_yaml_are_clear_refusals(text, fragment):
    with pytest.raises(safeyaml.UntrustedYAML, match=fragment) as refused:
        safeyaml.load(text)
    assert refused.value.line is not None


def test_ordinary_yaml_reads_as_the_safe_loader_reads_it():
    text = ("on: [push]\nwhen: 2024-02-29\nn: 12\nf: 1.5\nyes_: yes\nnothing: ~\n"
            "jobs:\n  a: {script: [make, 'make test'], env: {A: b}}\n---\nsecond: doc\n")
    assert list(safeyaml.load_all(text)) == list(yaml.safe_load_all(text))
    assert safeyaml.load("when: 2024-02-29")["when"] == dt.date(2024, 2, 29)
    node = safeyaml.compose("a:\n  b: [1, 2]\n")
    assert node.value[0][1].value[0][1].start_mark.line == 1
