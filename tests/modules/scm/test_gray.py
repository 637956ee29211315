"""Gray release selection (taiji.modules.scm.gray): label selectors as Kubernetes writes them,
malformed ones refused with where and why; percentage buckets that every process computes alike
(forever) and that split 10,000 instances fairly."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from taiji.modules.scm import gray
from taiji.modules.scm.gray import SelectorError, bucket, in_percentage, parse_labels, parse_selector
from tests.conftest import ROOT

pytestmark = pytest.mark.no_database

GOLD_BJ = {"zone": "bj", "tier": "gold"}
SILVER_SH = {"zone": "sh", "tier": "silver", "canary": ""}
BARE: dict = {}


@pytest.mark.parametrize(("selector", "selected"), [
    ("zone=bj", [GOLD_BJ]),
    ("zone==bj", [GOLD_BJ]),
    ("zone!=bj", [SILVER_SH, BARE]),  # a missing label is "not bj"
    ("tier in (gold, silver)", [GOLD_BJ, SILVER_SH]),
    ("tier notin (gold)", [SILVER_SH, BARE]),
    ("canary", [SILVER_SH]),  # set, even to an empty value
    ("!canary", [GOLD_BJ, BARE]),
    ("canary=", [SILVER_SH]),
    ("zone=bj,tier in (gold)", [GOLD_BJ]),  # comma is AND
    ("zone=bj,tier=silver", []),
    ("  zone = sh ,  tier in(silver)  ", [SILVER_SH]),
    ("example.com/team=pay", []),
])
def test_selectors_select_what_kubernetes_would(selector, selected):
    parsed = parse_selector(selector)
    assert [labels for labels in (GOLD_BJ, SILVER_SH, BARE) if parsed.matches(labels)] == selected
    assert parse_selector(str(parsed)) == parsed  # the canonical text reads back the same
    assert parsed.matches(None) == parsed.matches({})


def test_canonical_text():
    assert str(parse_selector(" zone==bj , tier in ( gold , silver, gold ) ,!x,y")) == \
        "zone=bj,tier in (gold,silver),!x,y"


@pytest.mark.parametrize(("selector", "words"), [
    ("", "empty"),
    ("   ", "empty"),
    ("zone=bj,", "expected a label name at the end"),
    (",zone=bj", "expected a label name at position 1"),
    ("zone=bj,,tier=x", "expected a label name at position 9"),
    ("zone bj", "after the label 'zone' expected =, !=, in, notin"),
    ("zone=bj=sh", "expected ',' between requirements at position 8"),
    ("tier in gold", "expected '(' after in/notin"),
    ("tier in ()", "expected a value in the list"),
    ("tier in (gold silver)", "expected ',' or ')'"),
    ("tier in (gold", "expected ',' or ')' in the list of the label 'tier' at the end"),
    ("=bj", "expected a label name at position 1"),
    ("!", "expected a label name at the end"),
    ("-zone=bj", "'-zone' is not a label name"),
    ("zone=b*j", "'b*j' is not a value"),
    ("zone=(bj)", "'(' is not a value"),
    ("x" * 64 + "=1", "is not a label name"),
    ("z=" + "v" * 64, "is not a value"),
    ("a=1," * 300 + "a=1", "longer than 1000"),
    (",".join(f"k{i}" for i in range(33)), "more than 32 requirements"),
])
def test_malformed_selectors_say_where(selector, words):
    with pytest.raises(SelectorError) as caught:
        parse_selector(selector)
    assert words in str(caught.value)


def test_instance_labels():
    assert parse_labels(None) == {} and parse_labels("") == {}
    assert parse_labels("zone=bj, tier=gold,canary=") == {"zone": "bj", "tier": "gold", "canary": ""}
    assert parse_labels("example.com/team=pay") == {"example.com/team": "pay"}
    assert gray.format_labels({"z": "1", "a": "2"}) == "a=2,z=1"
    refused = [("zone", "not a label: write name=value"), ("zone=bj,zone=sh", "given twice"),
               ("zo ne=bj", "'zo ne' is not a label name"), ("zone=b j", "'b j' is not a value"),
               ("a=1,", "'' is not a label"), (",".join(f"k{i}=v" for i in range(65)), "more than 64"),
               ("k=" + "v" * 2000, "longer than 2000")]
    for text, words in refused:
        with pytest.raises(SelectorError, match=words):
            parse_labels(text)


def test_buckets_never_change():
    # Promises to running instances: a change would move them in and out of gray releases.
    assert bucket("orders", "prod", "i-0001") == bucket("orders", "prod", "i-0001")
    # sha256("c/dev/i-1"), first 8 bytes big-endian, modulo 10,000 (computed once, written here)
    assert [bucket("c", "dev", "i-1"), bucket(42, "prod", "host-7:8080"), bucket("支付", "dev", "实例")] \
        == [1183, 8458, 3535]
    assert bucket(42, "prod", "host-7:8080") == bucket("42", "prod", "host-7:8080")
    assert all(0 <= bucket("c", "dev", f"i-{i}") < 10_000 for i in range(2000))


def test_buckets_are_the_same_in_another_process():
    ids = [f"pod-{i}" for i in range(300)]
    here = [bucket("orders", "prod", instance) for instance in ids]
    code = ("import json, sys; from taiji.modules.scm.gray import bucket; "
            "print(json.dumps([bucket('orders', 'prod', i) for i in json.loads(sys.stdin.read())]))")
    # A fresh interpreter with another hash seed: nothing may depend on Python's randomised hash().
    there = subprocess.run([sys.executable, "-c", code], input=json.dumps(ids), capture_output=True,
                           text=True, cwd=ROOT, env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
                           timeout=60, check=True).stdout
    assert json.loads(there) == here


@pytest.mark.parametrize("percentage", [5, 20, 50, 12.5])
def test_percentages_are_fair_over_10000_instances(percentage):
    ids = [f"instance-{i}" for i in range(10_000)]
    chosen = {i for i in ids if in_percentage(bucket("orders", "prod", i), percentage)}
    assert abs(len(chosen) / len(ids) * 100 - percentage) <= 1.5, len(chosen)
    # another component's (or environment's) gray release picks other instances, not the same ones
    other = {i for i in ids if in_percentage(bucket("payments", "prod", i), percentage)}
    expected_overlap = len(ids) * (percentage / 100) ** 2
    assert abs(len(chosen & other) - expected_overlap) <= 0.015 * len(ids), len(chosen & other)


def test_raising_the_percentage_only_adds_instances():
    ids = [f"i{i}" for i in range(2000)]
    buckets = [bucket("c", "prod", i) for i in ids]
    previous: set = set()
    for percentage in (1, 5, 20, 50, 99.99, 100):
        now = {i for i, b in zip(ids, buckets, strict=True) if in_percentage(b, percentage)}
        assert previous <= now
        previous = now
    assert len(previous) == 2000


def test_percentage_checks():
    assert gray.check_percentage(20) == 20.0 and gray.check_percentage(0.01) == 0.01
    assert gray.check_percentage(20.3) == 20.3 and gray.check_percentage(100) == 100.0
    for bad in (0, -1, 100.5, 12.345, "20", True, None):
        with pytest.raises(SelectorError, match="percentage"):
            gray.check_percentage(bad)
    assert in_percentage(1999, 20) and not in_percentage(2000, 20)
