"""Console forms of BPR."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

KIND_CHOICES = [
    SelectChoice("pypi", _l("Python package index")),
    SelectChoice("generic", _l("Generic files")),
]
VISIBILITY_CHOICES = [
    SelectChoice("private", _l("Private: members only")),
    SelectChoice("public", _l("Public: anyone may download")),
]


class SettingsForm(FlaskForm):
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=5000)])
    visibility = SelectField(_l("Visibility"), choices=VISIBILITY_CHOICES)
    immutable = BooleanField(_l("Immutable: a path once written cannot be overwritten"))
    keep_last = IntegerField(
        _l("Keep the last N versions of each package"), validators=[Optional(), NumberRange(min=1, max=10000)]
    )
    max_age_days = IntegerField(
        _l("Delete files older than (days)"), validators=[Optional(), NumberRange(min=1, max=36500)]
    )


class RepositoryForm(SettingsForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    kind = SelectField(_l("Kind"), choices=KIND_CHOICES)


class YankForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=1000)])


def settings_of(form: SettingsForm, kind: str) -> dict:
    data = {
        "description": form.description.data or "",
        "visibility": form.visibility.data,
        "keep_last": form.keep_last.data,
        "max_age_days": form.max_age_days.data,
    }
    if kind == "generic":
        data["immutable"] = bool(form.immutable.data)
    return data
