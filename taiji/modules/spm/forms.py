"""Console forms of SPM."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

LIFECYCLE_CHOICES = [
    ("experimental", _l("Experimental")),
    ("production", _l("Production")),
    ("deprecated", _l("Deprecated")),
]
KIND_CHOICES = [
    ("service", _l("Service")),
    ("frontend", _l("Front end")),
    ("library", _l("Library")),
    ("job", _l("Job")),
    ("database", _l("Database")),
]


SEVERITY_CHOICES = [("error", _l("Error")), ("warning", _l("Warning"))]
VERSION_STATUS_LABELS = {
    "draft": _l("Draft"),
    "released": _l("Released"),
    "deprecated": _l("Deprecated"),
    "retired": _l("Retired"),
}


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as the choices of a SelectField."""
    return [SelectChoice(value, label) for value, label in pairs]


def split_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def parse_apis(text: str | None) -> list[dict]:
    """``orders:rest:v1, events:event:v2`` -> API entries (type and version optional)."""
    apis = []
    for item in split_list(text):
        name, kind, version = ([*item.split(":"), "", ""])[:3]
        apis.append({"name": name, "type": kind or "rest", "version": version or "v1"})
    return apis


class ProductForm(FlaskForm):
    slug = StringField(_l("Slug"), validators=[DataRequired(), Length(max=63)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=5000)])
    lifecycle = SelectField(_l("Lifecycle"), choices=choices(LIFECYCLE_CHOICES), default="experimental")
    owners = StringField(_l("Owners"), validators=[Optional(), Length(max=1000)])
    tags = StringField(_l("Tags"), validators=[Optional(), Length(max=1000)])


class ComponentForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=63)])
    kind = SelectField(_l("Kind"), choices=choices(KIND_CHOICES), default="service")
    layer = SelectField(_l("Layer"), choices=[])
    owner = StringField(_l("Owner"), validators=[Optional(), Length(max=255)])
    version = StringField(_l("Version"), default="0.1.0", validators=[DataRequired(), Length(max=50)])
    repository_url = StringField(_l("Repository URL"), validators=[Optional(), Length(max=500)])
    owns_database = StringField(_l("Owns database"), validators=[Optional(), Length(max=63)])
    provides = StringField(_l("Provides APIs"), validators=[Optional(), Length(max=2000)])
    consumes = StringField(_l("Consumes APIs"), validators=[Optional(), Length(max=2000)])


class ComponentEditForm(ComponentForm):
    """The component form without the name: a component keeps its name (others refer to it)."""

    name = None


class DependencyForm(FlaskForm):
    source = SelectField(_l("Component"), choices=[])
    target = StringField(_l("Depends on component"), validators=[Optional(), Length(max=130)])
    name = StringField(_l("or third-party product"), validators=[Optional(), Length(max=200)])
    version_range = StringField(
        _l("Version range"), default="*", validators=[DataRequired(), Length(max=100)]
    )
    license = StringField(_l("License"), validators=[Optional(), Length(max=200)])
    purl = StringField(_l("Package URL"), validators=[Optional(), Length(max=500)])


class VersionForm(FlaskForm):
    version = StringField(_l("Version"), validators=[DataRequired(), Length(max=50)])
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=10000)])


class DependencyEditForm(FlaskForm):
    version_range = StringField(_l("Version range"), validators=[DataRequired(), Length(max=100)])
    license = StringField(_l("License"), validators=[Optional(), Length(max=200)])
    purl = StringField(_l("Package URL"), validators=[Optional(), Length(max=500)])


class RulesForm(FlaskForm):
    """The tenant's layers (highest first) and a severity per rule; the cycle rule is fixed."""

    layers = StringField(_l("Layers, highest first"), validators=[DataRequired(), Length(max=800)])
    same_layer = SelectField(_l("Same-layer dependency"), choices=choices(SEVERITY_CHOICES))
    upward_dependency = SelectField(_l("Upward dependency"), choices=choices(SEVERITY_CHOICES))
    shared_database = SelectField(_l("Shared database"), choices=choices(SEVERITY_CHOICES))


class ProductEditForm(ProductForm):
    """The product form without the slug: a product keeps its slug (URLs and references use it)."""

    slug = None


class ProductDeleteForm(FlaskForm):
    confirm = StringField(_l("Type the product's slug to confirm"),
                          validators=[DataRequired(), Length(max=63)])


class ImportForm(FlaskForm):
    file = FileField(_l("catalog-info.yaml file"))
    text = TextAreaField(_l("or paste the YAML"), validators=[Optional()])
