"""Console forms of VCS."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

PROVIDER_CHOICES = [
    ("", _l("Hosted here")),
    ("github", "GitHub"),
    ("gitlab", "GitLab"),
    ("gitea", "Gitea"),
    ("git", _l("Other Git server")),
]


class RepositoryForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=63)])
    description = StringField(_l("Description"), validators=[Optional(), Length(max=500)])
    provider = SelectField(_l("Where it lives"), default="",
                           choices=[SelectChoice(v, label) for v, label in PROVIDER_CHOICES])
    url = StringField(_l("Repository URL"), validators=[Optional(), Length(max=500)])
    mirror = BooleanField(_l("Keep a mirror here"))
    mirror_interval_s = IntegerField(_l("Fetch every (seconds)"), default=300,
                                     validators=[Optional(), NumberRange(min=60, max=7 * 86400)])
    username = StringField(_l("Mirror username"), validators=[Optional(), Length(max=255)])
    password = PasswordField(_l("Mirror password or token"), validators=[Optional(), Length(max=1000)])

    def external_spec(self) -> dict | None:
        """The external part of the request, or None for a hosted repository."""
        if not self.provider.data:
            return None
        spec = {"provider": self.provider.data, "url": self.url.data or "", "mirror": bool(self.mirror.data),
                "mirror_interval_s": self.mirror_interval_s.data or 300}
        if self.password.data:
            spec["mirror_credentials"] = {"username": self.username.data or "",
                                          "password": self.password.data}
        return spec


class ExternalForm(FlaskForm):
    """An external repository's settings; a blank password keeps the stored one."""

    url = StringField(_l("Repository URL"), validators=[DataRequired(), Length(max=500)])
    mirror = BooleanField(_l("Keep a mirror here"))
    mirror_interval_s = IntegerField(_l("Fetch every (seconds)"), default=300,
                                     validators=[Optional(), NumberRange(min=60, max=7 * 86400)])
    username = StringField(_l("Mirror username"), validators=[Optional(), Length(max=255)])
    password = PasswordField(_l("New mirror password or token"), validators=[Optional(), Length(max=1000)])
    forget_credentials = BooleanField(_l("Forget the stored credentials"))

    def changes(self) -> dict:
        spec = {"url": self.url.data or "", "mirror": bool(self.mirror.data),
                "mirror_interval_s": self.mirror_interval_s.data or 300}
        if self.forget_credentials.data:
            spec["mirror_credentials"] = None
        elif self.password.data:
            spec["mirror_credentials"] = {"username": self.username.data or "",
                                          "password": self.password.data}
        return spec
