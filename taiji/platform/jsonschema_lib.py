"""``jsonschema``, imported without building the RFC 3987 grammars until one is needed.

Importing jsonschema imports ``rfc3987_syntax`` when it is installed (it is: cyclonedx's SBOM
validation asks for it), which compiles some forty Lark grammars: about a second of CPU, paid by
every process that validates a pipeline file or a configuration schema, though only the "iri"
formats use them and Taiji checks no format. ``load()`` hands jsonschema a stand-in whose check
imports the real module at its first call, so such a check still answers exactly as before.
"""

from __future__ import annotations

import sys
import threading
import types

_lock = threading.Lock()


def _deferred_rfc3987() -> types.ModuleType:
    stand_in = types.ModuleType("rfc3987_syntax")

    def is_valid_syntax(rule: str, value: str) -> bool:
        import rfc3987_syntax  # the real module: the stand-in left sys.modules once jsonschema had it

        return rfc3987_syntax.is_valid_syntax(rule, value)

    stand_in.is_valid_syntax = is_valid_syntax
    return stand_in


def load():
    """The ``jsonschema`` package."""
    if "jsonschema" not in sys.modules:
        with _lock:
            if "jsonschema" not in sys.modules and "rfc3987_syntax" not in sys.modules:
                stand_in = _deferred_rfc3987()
                sys.modules["rfc3987_syntax"] = stand_in
                try:
                    import jsonschema
                finally:
                    if sys.modules.get("rfc3987_syntax") is stand_in:
                        del sys.modules["rfc3987_syntax"]
    import jsonschema

    return jsonschema
