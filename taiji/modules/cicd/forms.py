"""Console forms of CICD: run a pipeline by hand, set a secret."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


def parse_variables(text: str | None) -> dict[str, str]:
    """``NAME=value`` lines -> a dict; blank lines and ``#`` comments are skipped.

    Raises ValueError naming the first bad line, for the form to show."""
    variables: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, value = stripped.partition("=")
        name = name.strip()
        if not sep or not VARIABLE_NAME.match(name):
            raise ValueError(str(_l("Line %(n)s: write NAME=value, the name in letters, digits and _.",
                                    n=number)))
        variables[name] = value.strip()
    return variables


class RunPipelineForm(FlaskForm):
    # Choices are the tenant's repositories (the view fills them); the service judges the value.
    repository = SelectField(_l("Repository"), validators=[DataRequired(), Length(max=100)],
                             validate_choice=False)
    # Rendered as a picker of the repository's branches and tags (cicd/_ref_field.html).
    ref = StringField(_l("Branch or tag"), validators=[DataRequired(), Length(max=255)])
    variables = TextAreaField(_l("Variables"), validators=[Optional(), Length(max=20000)],
                              render_kw={"rows": 3, "placeholder": "DEPLOY=staging"})

    def validate_variables(self, field):
        try:
            parse_variables(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class SecretForm(FlaskForm):
    name = StringField(_l("Name"), validators=[
        DataRequired(), Length(max=100),
        Regexp(r"^[A-Za-z_][A-Za-z0-9_]*$", message=_l("Letters, digits and _, not starting with a digit."))])
    value = PasswordField(_l("Value"), validators=[DataRequired(), Length(max=65536)])
    repository = StringField(_l("Repository"), validators=[Optional(), Length(max=100)])
    protected = BooleanField(_l("Protected: only for pipelines of protected branches"), default=True)
