"""Word counting, the whole of the service's logic."""

from __future__ import annotations

import re
from collections import Counter

WORD = re.compile(r"[\w']+")


def count_words(text: str) -> Counter:
    """Occurrences of each word, case-insensitively."""
    return Counter(word.lower() for word in WORD.findall(text))


def top(text: str, n: int = 3) -> list[tuple[str, int]]:
    """The ``n`` most frequent words, ties in alphabetical order."""
    return sorted(count_words(text).items(), key=lambda item: (-item[1], item[0]))[:n]
