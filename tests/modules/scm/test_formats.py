"""Configuration as text (taiji.modules.scm.formats): what Taiji writes is read back to the same
values by the real readers of each format (json, PyYAML, javaproperties and Java's own
java.util.Properties, bash and dash for env files); what a person writes is read with its line
named when it is wrong; ${key} templates list every missing key at once."""

from __future__ import annotations

import json
import shutil
import subprocess

import javaproperties
import pytest
import yaml

from taiji.modules.scm import formats
from taiji.modules.scm.formats import FormatError, as_text, dump, load, nest, render_template

pytestmark = pytest.mark.no_database

# Values that break naive writers: quotes, backslashes, separators, comment marks, leading and
# trailing spaces, newlines, non-Latin text, shell syntax, YAML look-alikes.
TRICKY = {
    "server.port": 8080,
    "ratio": 0.25,
    "feature.enabled": True,
    "feature.off": False,
    "nothing": None,
    "hosts": ["a.example", "b.example"],
    "limits": {"cpu": 2, "labels": ["x"]},
    "empty-object": {},
    "greeting": "你好，世界 — Zoë 🚀",  # noqa: RUF001 (a full-width comma on purpose)
    "quotes": "it's \"quoted\" and `ticked`",
    "backslash": "C:\\path\\to\\file \\n not a newline",
    "separators": "a=b:c # not a comment ! neither",
    "spaces": "  leading and trailing  ",
    "multi.line": "first line\nsecond line\n\n  indented fourth\n",
    "shell": "$HOME ${PATH} $(rm -rf /) ; echo hi & | > <",
    "looks_like_bool": "yes",
    "looks_like_number": "0123",
    "looks_like_null": "~",
    "empty": "",
}


def test_json_written_is_read_back_by_json():
    text = dump(TRICKY, "json")
    assert json.loads(text) == TRICKY
    assert load(text, "json") == {k: v for k, v in TRICKY.items() if k != "limits"} | {
        "limits.cpu": 2, "limits.labels": ["x"]}


def test_yaml_written_is_read_back_by_pyyaml_flat_and_nested():
    flat = dump(TRICKY, "yaml")
    assert yaml.safe_load(flat) == TRICKY
    assert "multi.line: |" in flat  # a multi-line value is a readable literal block

    nested = yaml.safe_load(dump(TRICKY, "yaml", nested=True))
    assert nested["server"] == {"port": 8080}
    assert nested["feature"] == {"enabled": True, "off": False}
    assert nested["multi"] == {"line": TRICKY["multi.line"]}
    # our reader gives back the same flat keys from either form
    expected = load(dump(TRICKY, "json"), "json")
    assert load(flat, "yaml") == expected
    assert load(dump(TRICKY, "yaml", nested=True), "yaml") == expected


def test_nesting_keeps_a_key_that_is_also_a_prefix():
    values = {"a": 1, "a.b": 2, "a.b.c": "three", "x.y": True, "x.z": None}
    tree = nest(values)
    assert tree == {"a": 1, "a.b": 2, "a.b.c": "three", "x": {"y": True, "z": None}}
    for fmt in ("json", "yaml"):
        assert load(dump(values, fmt, nested=True), fmt) == values
    assert nest({"p": 1, "p.q.r": 2, "p.q.s": 3}) == {"p": 1, "p.q.r": 2, "p.q.s": 3}
    assert nest({"p.q": 1, "p.q.r": 2, "p.s": 3}) == {"p": {"q": 1, "q.r": 2, "s": 3}}


def test_properties_written_are_ascii_and_read_back_by_javaproperties():
    text = dump(TRICKY, "properties")
    text.encode("ascii")  # ISO-8859-1 readers (Java's Properties.load(InputStream)) see no mojibake
    assert "\\u4f60\\u597d" in text
    assert javaproperties.loads(text) == {key: as_text(value) for key, value in TRICKY.items()}
    assert load(text, "properties") == {key: as_text(value) for key, value in TRICKY.items()}


JAVA_DUMPER = """
import java.io.FileInputStream;
import java.nio.charset.StandardCharsets;
import java.util.Properties;
import java.util.TreeSet;

public class DumpProperties {
    static String hex(String s) {
        StringBuilder out = new StringBuilder();
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) out.append(String.format("%02x", b));
        return out.toString();
    }
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        try (FileInputStream in = new FileInputStream(args[0])) { p.load(in); }
        for (String name : new TreeSet<>(p.stringPropertyNames()))
            System.out.println(hex(name) + " " + hex(p.getProperty(name)));
    }
}
"""


@pytest.mark.skipif(shutil.which("java") is None, reason="needs a Java runtime (java on PATH)")
def test_properties_written_are_read_back_by_java_util_properties(tmp_path):
    (tmp_path / "DumpProperties.java").write_text(JAVA_DUMPER)
    (tmp_path / "app.properties").write_text(dump(TRICKY, "properties"), encoding="ascii")
    out = subprocess.run(["java", str(tmp_path / "DumpProperties.java"), str(tmp_path / "app.properties")],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    read = {}
    for line in out.splitlines():  # hex of UTF-8: "name value"
        name, _, value = line.partition(" ")
        read[bytes.fromhex(name).decode()] = bytes.fromhex(value).decode()
    assert read == {key: as_text(value) for key, value in TRICKY.items()}


ENV_VALUES = TRICKY | {"db-url": "postgres://u:p@h/db?x=1&y=2"}


@pytest.mark.parametrize("shell", ["bash", "dash"])
def test_env_written_is_sourced_to_the_same_values_by_posix_shells(tmp_path, shell):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    path = tmp_path / "app.env"
    path.write_text(dump(ENV_VALUES, "env"))
    # `set -a` exports every assignment of the file; `env -0` prints them NUL-separated, so that
    # values with newlines come back whole.
    out = subprocess.run(["env", "-i", shell, "-c", 'set -a; . "$1"; exec env -0', "sh", str(path)],
                         capture_output=True, timeout=30, check=True).stdout.decode()
    environment = dict(entry.split("=", 1) for entry in out.split("\0") if entry)
    expected = {formats.env_name(key): as_text(value) for key, value in ENV_VALUES.items()}
    assert {name: environment.get(name) for name in expected} == expected
    assert "SERVER_PORT=8080\n" in path.read_text()  # plain values stay unquoted, readable


def test_env_refuses_what_no_variable_can_carry():
    with pytest.raises(FormatError, match=r"'a\.b' and 'a-b' are both the environment variable A_B"):
        dump({"a.b": 1, "a-b": 2}, "env")
    with pytest.raises(FormatError, match="cannot be an environment variable name"):
        dump({"9lives": 1}, "env")
    with pytest.raises(FormatError, match="NUL"):
        dump({"x": "a\0b"}, "env")


def test_load_reads_what_people_write():
    yaml_text = (
        "server:\n  port: 8080\n  host: 10.0.0.7\n"
        "on: yes\n"  # YAML 1.1 makes both booleans; the key stays the word written
        "release-date: 2024-02-29\n"
        "ratio: .5\n"
        "hosts: [a, b]\n"
        "tls: {}\n"
        "note: |\n  line one\n  line two\n"
        "nothing:\n"
    )
    assert load(yaml_text, "yaml") == {
        "server.port": 8080, "server.host": "10.0.0.7", "on": True, "release-date": "2024-02-29",
        "ratio": 0.5, "hosts": ["a", "b"], "tls": {}, "note": "line one\nline two\n", "nothing": None,
    }
    assert load("", "yaml") == {}
    properties_text = (
        "# a comment\n! another\nserver.port = 8080\ngreeting:\\u4f60\\u597d\n"
        "long.value = first \\\n    second\nempty=\n"
    )
    loaded = load(properties_text, "properties")
    assert loaded["server.port"] == "8080" and loaded["greeting"] == "你好"
    assert loaded["long.value"] == "first second" and loaded["empty"] == ""
    assert formats.type_of(8080) == "int" and formats.type_of(True) == "bool"
    assert formats.type_of(["x"]) == "json" and formats.type_of(None) == "json"
    assert formats.type_of("x") == "string" and formats.type_of(0.5) == "float"


@pytest.mark.parametrize(("fmt", "text", "line", "words"), [
    ("json", '{\n  "a": 1,\n  "b": \n}', 4, "not valid JSON"),
    ("json", '{\n  "a": 1,\n  "a": 2\n}', 3, "'a' is given twice"),
    ("json", '{\n  "ok": 1,\n  "bad key": 2\n}', 3, "'bad key' is not a valid key"),
    ("json", '{"a": {"b": 1}, "a.b": 2}', 1, "'a.b' is given twice"),
    ("json", "[1, 2]", 1, "must be an object"),
    ("yaml", "a: 1\nb: [1, 2\nc: 3\n", 3, "not valid YAML"),
    ("yaml", "a: 1\nb:\n  c: 1\n  c: 2\n", 4, "'b.c' is given twice (first on line 3)"),
    ("yaml", "base: &b 1\nother: *b\n", 1, "anchors and aliases"),
    ("yaml", "- a\n- b\n", 1, "must be a mapping"),
    ("yaml", "a: 1\n? [x]\n: 2\n", 2, "plain word"),
    ("yaml", "ok: 1\nbad/key: 2\n", 2, "'bad/key' is not a valid key"),
    ("yaml", "blob: !!binary aGVsbG8=\n", 1, "YAML type bytes"),
    ("yaml", "x: .inf\n", 1, "infinite"),
    ("properties", "a=1\nb=\\u00zz\nc=3\n", 2, "invalid escape"),
    ("properties", "a=1\n# comment\nlong=x \\\n  y\na=2\n", 5, "'a' is given twice (first on line 1)"),
    ("properties", "ok=1\nbad:key=2\nsp ace=3\n", 3, "'sp' ... never"),
])
def test_malformed_input_names_the_line(fmt, text, line, words):
    if words == "'sp' ... never":  # `sp ace=3` is key "sp", value "ace=3": valid properties
        assert load(text, fmt)["sp"] == "ace=3" and load(text, fmt)["bad"] == "key=2"
        return
    with pytest.raises(FormatError) as caught:
        load(text, fmt)
    assert caught.value.line == line, caught.value
    assert words in caught.value.message
    assert str(caught.value).startswith(f"line {line}: ")


def test_limits_and_unknown_formats():
    with pytest.raises(FormatError, match="larger than 1024 KiB"):
        load('{"a": "' + "x" * (1024 * 1024) + '"}', "json")
    with pytest.raises(FormatError, match="more than 5000 keys"):
        load("\n".join(f"k{i}=v" for i in range(5001)), "properties")
    assert len(load("\n".join(f"k{i}=v" for i in range(5000)), "properties")) == 5000
    with pytest.raises(FormatError, match="NaN is not a JSON number"):
        load('{"a": NaN}', "json")
    with pytest.raises(FormatError, match="cannot read format 'env'"):
        load("A=1", "env")
    with pytest.raises(FormatError, match="unknown format 'toml'"):
        dump({}, "toml")
    for fmt in ("json", "yaml", "properties"):
        assert load(dump({}, fmt), fmt) == {}
    assert dump({}, "env") == ""


def test_templates_fill_values_defaults_and_escapes():
    values = {"db.host": "db.internal", "db.port": 5432, "debug": False, "hosts": ["a", "b"], "none": None}
    text = (
        "url=postgres://${db.host}:${db.port}/app\n"
        "debug=${debug}\nhosts=${hosts}\nnone=[${none}]\n"
        "timeout=${timeout:30}\nempty=[${blank:}]\nurl2=${fallback:http://x:8080/}\n"
        "literal=$${db.host} and $${db.port:x}\nshell=${ not a placeholder } $HOME\n"
    )
    rendered, missing = render_template(text, values)
    assert missing == []
    assert rendered == (
        "url=postgres://db.internal:5432/app\n"
        'debug=false\nhosts=["a","b"]\nnone=[]\n'
        "timeout=30\nempty=[]\nurl2=http://x:8080/\n"
        "literal=${db.host} and ${db.port:x}\nshell=${ not a placeholder } $HOME\n"
    )
    # a value given wins over the default
    assert render_template("${db.port:1}", values) == ("5432", [])


def test_templates_list_every_missing_key_once_in_order():
    rendered, missing = render_template("${b} ${a} ${b} ${c:ok} ${d.e} $${z}", {"c": "given"})
    assert missing == ["b", "a", "d.e"]
    assert rendered == "${b} ${a} ${b} given ${d.e} ${z}"
