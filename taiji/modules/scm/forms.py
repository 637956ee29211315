"""Console forms of SCM: items of a draft, publishing and the release actions, import, the schema,
environment policies and access keys. The services check every value again; these forms check
what a person can be told before the request reaches them."""

from __future__ import annotations

import json

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DecimalField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError

# The names SCM accepts (SCM_SPEC "Concepts"); the services check them again.
ENVIRONMENT = r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$"
NAMESPACE = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
KEY = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$"

LAYER_LABELS = {
    "tenant": _l("Tenant"),
    "product": _l("Product"),
    "component": _l("Component"),
    "environment": _l("Environment"),
    "label": _l("Instance label"),
}
TYPE_LABELS = {
    "string": _l("Text"),
    "int": _l("Whole number"),
    "float": _l("Decimal number"),
    "bool": _l("True or false"),
    "json": "JSON",
    "file": _l("File"),
}
STATUS_LABELS = {
    "pending": _l("Awaiting approval"),
    "gray": _l("Gray"),
    "published": _l("Published"),
    "abandoned": _l("Abandoned"),
    "rejected": _l("Rejected"),
}
CHANGE_LABELS = {
    "added": lazy_pgettext("config change", "Added"),
    "changed": lazy_pgettext("config change", "Changed"),
    "removed": lazy_pgettext("config change", "Removed"),
}
# History actions in the reader's words; an unknown one is shown as it is.
ACTION_LABELS = {
    "item.created": lazy_pgettext("config change", "Added"),
    "item.updated": lazy_pgettext("config change", "Changed"),
    "item.deleted": lazy_pgettext("config change", "Removed"),
    "release.published": _l("Published"),
    "release.pending": _l("Submitted for approval"),
    "release.gray": _l("Published to some instances"),
    "release.approved": _l("Approved"),
    "release.rejected": _l("Rejected"),
    "release.promoted": _l("Promoted"),
    "release.abandoned": _l("Abandoned"),
    "release.rolled_back": _l("Rolled back"),
}
FORMAT_LABELS = {"yaml": "YAML", "json": "JSON", "properties": _l("Java properties"),
                 "env": _l("Environment variables")}
IMPORT_FORMATS = ("yaml", "json", "properties")

ENVIRONMENT_HINT = _l("A profile name: lower-case letters, digits and dashes, such as dev or prod.")
NAMESPACE_HINT = _l("Lower-case letters, digits and dashes, such as application or db.")
KEY_HINT = _l("Letters, digits, '_', '.' and '-', not starting with '.' or '-'.")


def choices(labels: dict, only=None) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in labels.items() if only is None or value in only]


def namespace_field():
    return StringField(_l("Namespace"), default="application",
                       validators=[DataRequired(), Length(max=63), Regexp(NAMESPACE, message=NAMESPACE_HINT)])


def environment_field(label=None):
    return StringField(label or _l("Environment"),
                       validators=[DataRequired(), Length(max=32),
                                   Regexp(ENVIRONMENT, message=ENVIRONMENT_HINT)])


class StartForm(FlaskForm):
    """Open (or begin) the configuration of a component in an environment."""

    component = StringField(_l("Component"), validators=[DataRequired(), Length(max=130)])
    environment = environment_field()


class ItemForm(FlaskForm):
    """Set one item of a layer (create or replace)."""

    key = StringField(lazy_pgettext("config", "Key"),
                      validators=[DataRequired(), Length(max=200), Regexp(KEY, message=KEY_HINT)])
    namespace = namespace_field()
    layer = SelectField(_l("Layer"), choices=choices(LAYER_LABELS), default="environment")
    label = StringField(_l("Label selector"), validators=[Optional(), Length(max=255)])
    type = SelectField(_l("Type"), choices=choices(TYPE_LABELS), default="string")
    value = TextAreaField(_l("Value"))
    secret = BooleanField(_l("Secret (encrypted, masked everywhere)"))
    description = StringField(_l("Description"), validators=[Optional(), Length(max=2000)])

    def validate_label(self, field):
        if self.layer.data == "label" and not (field.data or "").strip():
            raise ValidationError(_l("An instance-label item needs a selector, such as zone=bj."))
        if self.layer.data != "label" and (field.data or "").strip():
            raise ValidationError(_l("Only an instance-label item takes a selector."))

    def validate_value(self, field):
        text = field.data or ""
        if self.type.data == "json" and text.strip():
            try:
                json.loads(text)
            except ValueError as error:
                raise ValidationError(_l("Not valid JSON: %(error)s", error=str(error)[:200])) from None
        if (self.type.data not in ("string", "file") or self.secret.data) and not text.strip():
            raise ValidationError(_l("Give a value."))


class ItemRefForm(FlaskForm):
    """Which item a button acts on (delete, reveal)."""

    key = HiddenField(validators=[DataRequired(), Regexp(KEY)])
    namespace = HiddenField(validators=[DataRequired(), Regexp(NAMESPACE)])
    layer = HiddenField(validators=[DataRequired()])
    label = HiddenField(validators=[Optional(), Length(max=255)])


class LabelsForm(FlaskForm):
    """The labels of an instance, to see the draft as it would resolve for it (a GET form)."""

    class Meta:
        csrf = False

    labels = StringField(_l("Instance labels"), validators=[Optional(), Length(max=500)])


GRAY_CHOICES = [("", _l("Every instance")), ("selector", _l("Instances matching a label selector")),
                ("percentage", _l("A percentage of instances"))]


class PublishForm(FlaskForm):
    comment = StringField(lazy_pgettext("release", "Comment"), validators=[Optional(), Length(max=1000)])
    gray = RadioField(_l("Publish to"), choices=GRAY_CHOICES, default="", validators=[Optional()])
    selector = StringField(_l("Label selector"), validators=[Optional(), Length(max=500)])
    percentage = DecimalField(_l("Percentage"), places=None,
                              validators=[Optional(), NumberRange(min=0.01, max=100)])

    def validate_selector(self, field):
        if self.gray.data == "selector" and not (field.data or "").strip():
            raise ValidationError(_l("Give the selector of the instances, such as zone=bj."))

    def validate_percentage(self, field):
        if self.gray.data == "percentage" and field.data is None:
            raise ValidationError(_l("Give a percentage between 0.01 and 100."))

    def gray_value(self) -> dict | None:
        if self.gray.data == "selector":
            return {"selector": self.selector.data.strip()}
        if self.gray.data == "percentage":
            return {"percentage": float(self.percentage.data)}
        return None


class CommentForm(FlaskForm):
    """A release action: rollback (with an optional comment), approve, reject, promote, abandon."""

    comment = StringField(lazy_pgettext("release", "Comment"), validators=[Optional(), Length(max=1000)])


class ImportForm(FlaskForm):
    namespace = namespace_field()
    format = SelectField(_l("Format"), choices=choices(FORMAT_LABELS, IMPORT_FORMATS), default="yaml")
    file = FileField(_l("File"))
    text = TextAreaField(_l("Or paste the text"))
    dry_run = BooleanField(_l("Dry run: show what would change, change nothing"), default=True)


class ExportForm(FlaskForm):
    class Meta:
        csrf = False

    namespace = namespace_field()
    format = SelectField(_l("Format"), choices=choices(FORMAT_LABELS), default="yaml")


class SchemaForm(FlaskForm):
    schema = TextAreaField(_l("JSON Schema"), validators=[Optional(), Length(max=262144)])

    def validate_schema(self, field):
        text = (field.data or "").strip()
        if not text:
            return
        try:
            value = json.loads(text)
        except ValueError as error:
            raise ValidationError(_l("Not valid JSON: %(error)s", error=str(error)[:200])) from None
        if not isinstance(value, dict):
            raise ValidationError(_l("A JSON Schema is a JSON object."))


class PolicyForm(FlaskForm):
    environment = environment_field()
    four_eyes = BooleanField(_l("Four eyes: a second person approves each publish"))


class AccessKeyForm(FlaskForm):
    environment = environment_field()
    description = StringField(_l("Description"), validators=[Optional(), Length(max=255)])
