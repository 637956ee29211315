"""Reading YAML that the platform's users wrote: pipeline files, catalog imports, configuration.

YAML lets a few hundred bytes stand for billions of values: an anchor (``&a``) names a node and
every alias (``*a``) repeats it, so nine levels of nine aliases are 9^9 values once anything
walks the tree (the "billion laughs"). Brackets nested ten thousand deep exhaust the stack of a
recursive walker. Both cost a worker minutes of CPU and gigabytes before any check of ours runs.

So every parse of untrusted YAML goes through here, and is bounded before it expands:

- anchors and aliases are refused outright: a file a person writes by hand never needs them,
  and a refusal is easier to understand (and to fix) than an expansion budget;
- nesting depth and the number of values per document are counted while the parser composes
  the tree, node by node, and the parse stops at the first one over the bound;
- the text itself has a size bound.

Each refusal is an ``UntrustedYAML`` error naming the line and column and saying what to change.
The parser is libyaml's when PyYAML has it (the event stream, in C), with our composer on top.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, CollectionStartEvent
from yaml.resolver import Resolver

try:  # libyaml: an event stream built in C, several times faster than the pure-Python parser
    from yaml._yaml import CParser as _Parser

    _PURE = False
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser as _Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    _PURE = True


@dataclass(frozen=True)
class Limits:
    """What one parse may cost: bytes of text, nesting depth, values (nodes) per document."""

    max_bytes: int = 1024 * 1024
    max_depth: int = 64
    max_nodes: int = 100_000


class UntrustedYAML(ValueError):
    """The text was refused or is not YAML; ``line`` and ``column`` count from 1 (None: the whole text)."""

    def __init__(self, problem: str, line: int | None = None, column: int | None = None):
        self.problem, self.line, self.column = problem, line, column
        where = f"line {line}, column {column}: " if line else ""
        super().__init__(where + problem)


class _BoundedComposer(Composer):
    """PyYAML's composer, counting as it goes: refuses aliases and anchors, too deep, too many."""

    def __init__(self, limits: Limits):
        super().__init__()
        self._limits = limits
        self._depth = 0
        self._nodes = 0

    def compose_document(self):
        self._nodes = 0  # a bound per document: each is constructed and let go before the next
        return super().compose_document()

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, AliasEvent) or event.anchor is not None:
            name = event.anchor
            raise _refusal(
                f"YAML anchors and aliases ('&{name}', '*{name}') are not accepted here; "
                "write the repeated part out in full", event.start_mark)
        self._nodes += 1
        if self._nodes > self._limits.max_nodes:
            raise _refusal(
                f"more than {self._limits.max_nodes} values in one document; "
                "split it into smaller files or documents", event.start_mark)
        if not isinstance(event, CollectionStartEvent):
            return super().compose_node(parent, index)
        if self._depth >= self._limits.max_depth:
            raise _refusal(
                f"nested more than {self._limits.max_depth} levels deep; flatten the structure",
                event.start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Constructor(SafeConstructor):
    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            # A 5,000-digit integer or a 30th of February: Python refuses the value, not YAML.
            if isinstance(exc, UntrustedYAML):
                raise
            raise _refusal(f"the value cannot be read: {exc}", node.start_mark) from None


if _PURE:  # pragma: no cover

    class _Loader(Reader, Scanner, _Parser, _BoundedComposer, _Constructor, Resolver):
        def __init__(self, text: str, limits: Limits):
            Reader.__init__(self, text)
            Scanner.__init__(self)
            _Parser.__init__(self)
            _BoundedComposer.__init__(self, limits)
            _Constructor.__init__(self)
            Resolver.__init__(self)

else:
    # Our composer comes first, so that its compose_* win over CParser's own (C) composer; the
    # events still come from C.
    class _Loader(_BoundedComposer, _Parser, _Constructor, Resolver):
        def __init__(self, text: str, limits: Limits):
            _Parser.__init__(self, text)
            _BoundedComposer.__init__(self, limits)
            _Constructor.__init__(self)
            Resolver.__init__(self)


def _refusal(problem: str, mark) -> UntrustedYAML:
    if mark is None:
        return UntrustedYAML(problem)
    return UntrustedYAML(problem, mark.line + 1, mark.column + 1)


def _translated(exc: yaml.YAMLError) -> UntrustedYAML:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "not valid YAML"
        return _refusal(f"not valid YAML: {problem}", mark)
    return UntrustedYAML(f"not valid YAML: {exc}")


def _checked_size(text: str, limits: Limits) -> None:
    # Characters are at most bytes, so most texts are judged without encoding them.
    size = len(text)
    if size <= limits.max_bytes < size * 4:
        size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise UntrustedYAML(
            f"the text is larger than {limits.max_bytes // 1024} KiB; make it smaller or split it")


def compose(text: str, limits: Limits = Limits()) -> yaml.Node | None:
    """The node tree of a one-document text (None when empty), every node with its marks."""
    _checked_size(text, limits)
    loader = _Loader(text, limits)
    try:
        return loader.get_single_node()
    except yaml.YAMLError as exc:
        raise _translated(exc) from None
    finally:
        loader.dispose()


def load_all(text: str, limits: Limits = Limits()) -> Iterator:
    """The Python values (dicts, lists, str, int, float, bool, None, dates) of every document."""
    _checked_size(text, limits)
    loader = _Loader(text, limits)
    try:
        while loader.check_node():
            yield loader.construct_document(loader.get_node())
    except yaml.YAMLError as exc:
        raise _translated(exc) from None
    finally:
        loader.dispose()


def load(text: str, limits: Limits = Limits()):
    """The Python value of a one-document text (None when empty)."""
    node = compose(text, limits)
    if node is None:
        return None
    constructor = _Constructor()
    try:
        return constructor.construct_document(node)
    except yaml.YAMLError as exc:
        raise _translated(exc) from None


def scalar(node: yaml.ScalarNode):
    """The Python value of one scalar node of a ``compose``d tree (for walkers that keep marks)."""
    try:
        return _Constructor().construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise _translated(exc) from None
