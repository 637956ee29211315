"""A transaction's options: how often and how patiently the engine calls participants."""

from __future__ import annotations

import math

from taiji.platform.errors import Invalid, msg

DEFAULTS: dict[str, float | int] = {
    # Retries of a forward call (saga action, TCC try) before the transaction turns back.
    "action_retries": 3,
    # Retries of a compensation, confirm or cancel before the transaction enters the redo queue.
    "retries": 5,
    # Further attempts from the redo queue before the transaction is parked for a person.
    "redo_retries": 5,
    # Delay before retry n is backoff * backoff_factor ** (n - 1), at most backoff_max seconds.
    "backoff": 1.0,
    "backoff_factor": 2.0,
    "backoff_max": 300.0,
    # Delay between attempts from the redo queue.
    "redo_backoff": 60.0,
    # Seconds one call may take; past it the answer is UNKNOWN.
    "timeout": 10.0,
}
INTEGER_KEYS = {"action_retries", "retries", "redo_retries"}
LIMITS = {"action_retries": 100, "retries": 1000, "redo_retries": 1000, "backoff": 86400.0,
          "backoff_factor": 10.0, "backoff_max": 86400.0, "redo_backoff": 86400.0, "timeout": 600.0}


def normalize(given: dict | None) -> dict:
    """Defaults filled in; unknown keys and out-of-range values are refused with field errors."""
    given = dict(given or {})
    errors: dict[str, list[str]] = {}
    result = dict(DEFAULTS)
    for key, value in given.items():
        if key not in DEFAULTS:
            errors[key] = [f"Unknown option; use one of: {', '.join(sorted(DEFAULTS))}."]
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            errors[key] = ["Must be a number."]
            continue
        if key in INTEGER_KEYS and int(value) != value:
            errors[key] = ["Must be a whole number."]
            continue
        low = 1.0 if key == "backoff_factor" else (0.001 if key == "timeout" else 0)
        if not low <= value <= LIMITS[key]:
            errors[key] = [f"Must be between {low:g} and {LIMITS[key]:g}."]
            continue
        result[key] = int(value) if key in INTEGER_KEYS else float(value)
    if errors:
        raise Invalid(msg("The transaction's options are not valid."), errors={"json": {"options": errors}})
    return result


def retry_delay(options: dict, attempt: int) -> float:
    """Seconds to wait after the ``attempt``-th failed call of one operation (1-based)."""
    opts = {**DEFAULTS, **options}
    delay = opts["backoff"] * opts["backoff_factor"] ** max(0, attempt - 1)
    return min(delay, opts["backoff_max"])


LEASE_MARGIN = 30.0


def lease_seconds(options: dict, margin: float = LEASE_MARGIN) -> float:
    """How long an engine owns a transaction without renewing: longer than any one call."""
    return float({**DEFAULTS, **options}["timeout"]) + margin
