"""The error summary of a refused form: every field error at once, listed at the top of the form.

Each field keeps its own errors under it (the ``field`` macro); the summary repeats them as
"label: error" links to the fields, so a person sees at once how many things to fix and where.
The layout renders one summary per form of the page that has errors (every WTForms form the view
passed to the template, whatever its name); ``taiji.js`` moves each summary to the top of its
form, scrolls it into view and focuses it (without script it stays at the top of the page).
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import pass_context

# A field whose errors are not the person's to fix by editing it (shown, but not as a link).
_HIDDEN_FIELDS = ("csrf_token",)


@dataclass(frozen=True)
class Problem:
    field_id: str | None  # the id of the input to link to (None: the form as a whole)
    label: str
    message: str


@dataclass(frozen=True)
class Summary:
    name: str  # the form's name in the template (the summary's id derives from it)
    problems: list[Problem]


def problems(form) -> list[Problem]:
    """The errors of ``form``'s fields, in the order of its fields, with their labels."""
    found = []
    for field in getattr(form, "_fields", {}).values():
        errors = getattr(field, "errors", None) or []
        if isinstance(errors, dict):  # a FormField: its sub-fields' errors, flattened
            errors = [m for messages in errors.values()
                      for m in (messages if isinstance(messages, list) else [messages])]
        hidden = field.name in _HIDDEN_FIELDS or getattr(field, "type", "") == "HiddenField"
        label = getattr(getattr(field, "label", None), "text", "") or field.name
        for message in errors:
            found.append(Problem(None if hidden else getattr(field, "id", field.name),
                                 "" if hidden else str(label), str(message)))
    return found


@pass_context
def error_summaries(context) -> list[Summary]:
    """A summary for each form among the template's variables that has field errors."""
    seen, summaries = set(), []
    for name, value in sorted(context.get_all().items(), key=lambda kv: (kv[0] != "form", kv[0])):
        if id(value) in seen or not hasattr(value, "_fields") or not hasattr(value, "validate"):
            continue
        seen.add(id(value))
        found = problems(value)
        if found:
            summaries.append(Summary(name, found))
    return summaries


def init_app(app) -> None:
    app.jinja_env.globals["error_summaries"] = error_summaries
