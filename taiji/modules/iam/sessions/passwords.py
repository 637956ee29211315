"""Password policy: long enough, and not one of the guesses attackers try first.

A small list of the most common passwords ships with Taiji; the patterns catch what a list cannot:
the account's own email name, one repeated character or short repeated chunk, keyboard and digit runs.
"""

from __future__ import annotations

import re

MIN_LENGTH = 10

# Frequent entries of public breach corpora that are at least MIN_LENGTH long (shorter ones are
# refused by length already), lower-cased; the check compares lower-cased too.
_COMMON_TEXT = """
1234567890 0123456789 12345678910 1234567891 0987654321 1111111111 1234512345 1q2w3e4r5t 1qaz2wsx3edc
qwertyuiop qwertyuiop1 qwerty1234 qwerty12345 qwerty123456 asdfghjkl1 asdfghjkl; zxcvbnm123 1qazxsw23edc
password12 password123 password1234 password12345 passw0rd123 p@ssw0rd123 p@ssword123 password01
iloveyou12 iloveyou123 princess12 sunshine12 football12 football123 baseball12 superman12 welcome123
welcome1234 letmein123 letmein1234 changeme12 changeme123 administrator admin12345 admin123456 adminadmin
rootroot12 trustno1trustno1 starwars12 dragon1234 monkey1234 master1234 shadow1234 michael123 jennifer12
abcdefghij abcdefghijk abc1234567 abcd123456 a123456789 aa12345678 q1w2e3r4t5 qazwsxedc123 1q2w3e4r5t6y
computer12 internet12 whatever12 chocolate1 butterfly1 basketball basketball1 footballer sunshine123
correcthorsebatterystaple secret1234 secret12345 test123456 testtest12 testing123 helloworld helloworld1
"""
COMMON = frozenset(_COMMON_TEXT.split())

_KEYBOARD_RUNS = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890", "0987654321",
                  "abcdefghijklmnopqrstuvwxyz")


def problem(password: str, email: str | None = None) -> str | None:
    """Why ``password`` is refused (a short code: length, common, email, repeated, sequence) or None."""
    if len(password) < MIN_LENGTH:
        return "length"
    folded = password.lower()
    if folded in COMMON:
        return "common"
    local = (email or "").split("@")[0].lower()
    if len(local) >= 4 and local in folded and len(folded) - len(local) < 6:
        return "email"
    if len(set(password)) < 4 or re.fullmatch(r"(.{1,4})\1+.{0,2}", password):
        return "repeated"
    stripped = re.sub(r"[^a-z0-9]", "", folded)
    if stripped and any(stripped in run for run in _KEYBOARD_RUNS):
        return "sequence"
    return None
