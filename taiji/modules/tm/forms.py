"""Console forms of TM."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Regexp

from taiji.platform.tenancy import SLUG_PATTERN

ROLE_CHOICES = [("owner", _l("Owner")), ("admin", _l("Admin")), ("member", _l("Member")),
                ("viewer", _l("Viewer"))]

SLUG_RULE = _l("Use 1 to 40 lowercase letters, digits and dashes, "
               "starting and ending with a letter or digit.")


class TenantForm(FlaskForm):
    slug = StringField(_l("Slug"),
                       validators=[DataRequired(), Length(max=40), Regexp(SLUG_PATTERN, message=SLUG_RULE)],
                       filters=[lambda v: v.strip().lower() if v else v])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)],
                       filters=[lambda v: v.strip() if v else v])


class RenameForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)],
                       filters=[lambda v: v.strip() if v else v])
    mfa_required = BooleanField(_l("Require two-factor authentication of every member"))


class InviteForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email()])
    role = SelectField(_l("Role"), choices=[SelectChoice(value, label) for value, label in ROLE_CHOICES],
                       default="member")


class RegisterForm(FlaskForm):
    """Create the account an invitation was sent to."""

    name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=255)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=10)])
