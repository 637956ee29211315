"""Console forms of Jenkins controllers, a repository's default runner, and a build's parameters."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from ..forms import parse_variables


class ControllerForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[
            DataRequired(),
            Length(max=100),
            Regexp(r"^[a-z0-9][a-z0-9_.-]*$", message=_l("Lower-case letters, digits, '.', '_' and '-'.")),
        ],
    )
    url = StringField(
        _l("URL"),
        validators=[DataRequired(), Length(max=500)],
        render_kw={"placeholder": "https://jenkins.example.com"},
    )
    username = StringField(_l("User"), validators=[DataRequired(), Length(max=200)])
    token = PasswordField(_l("API token"), validators=[Optional(), Length(max=500)])
    description = StringField(_l("Description"), validators=[Optional(), Length(max=500)])
    is_default = BooleanField(_l("Default controller: jobs that name none run here"))


class RunnerForm(FlaskForm):
    default_runner = SelectField(
        _l("Runner of jobs that name none"),
        choices=[("platform", _l("Taiji's own runner")), ("jenkins", "Jenkins")],
    )
    jenkins_controller = SelectField(_l("Jenkins controller"), choices=[], validate_choice=False)


class TriggerForm(FlaskForm):
    parameters = TextAreaField(
        _l("Parameters"),
        validators=[Optional(), Length(max=20000)],
        render_kw={"rows": 3, "placeholder": "VERSION=1.2.3"},
    )

    def validate_parameters(self, field):
        try:
            parse_variables(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
