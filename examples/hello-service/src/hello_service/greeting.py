"""What the service says."""

from __future__ import annotations


def greet(name: str | None = None, *, language: str = "en") -> str:
    """A greeting for ``name`` in English or Chinese; strangers are greeted as the world."""
    who = (name or "").strip() or ("world" if language == "en" else "世界")
    if language == "zh":
        return f"你好，{who}！"
    if language != "en":
        raise ValueError(f"unsupported language: {language}")
    return f"Hello, {who}!"
