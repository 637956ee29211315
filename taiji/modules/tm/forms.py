"""Console forms of TM."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length

ROLE_CHOICES = [("owner", _l("Owner")), ("admin", _l("Admin")), ("member", _l("Member")), ("viewer", _l("Viewer"))]


class TenantForm(FlaskForm):
    slug = StringField(_l("Slug"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])


class RenameForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])


class InviteForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email()])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="member")


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)


class RegisterForm(FlaskForm):
    """Create the account an invitation was sent to."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=255)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=10)])
