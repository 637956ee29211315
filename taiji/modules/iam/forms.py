"""Console forms of IAM (Flask-WTF, CSRF-protected)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, PasswordField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    # The tenant whose directory should check the password (as ?tenant= in a link); optional.
    organisation = StringField(_l("Organisation"), validators=[Optional(), Length(max=40)])
    # Asked for only while failures from elsewhere throttle the account: password and code together.
    code = StringField(_l("Authenticator code"), validators=[Optional(), Length(max=32)])


class SignInLinkForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email()])


class TokenForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    expires_on = DateField(_l("Expires on"), validators=[Optional()])
    # Choices are the permission catalog, filled in by the view; none ticked means all of yours.
    scopes = SelectMultipleField(_l("Scopes"), choices=[], validate_choice=True)


class ProfileForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=255)])


class UserForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email()])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=255)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=10)])
    admin = BooleanField(_l("Platform administrator"))


class MfaCodeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)])


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=200)])


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=255)])


class ResetPasswordForm(FlaskForm):
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=200)])
    confirm = PasswordField(_l("New password again"), validators=[
        DataRequired(), EqualTo("new", message=_l("The two passwords differ."))])
