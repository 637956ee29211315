"""Console forms of VCS."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, SelectField, SelectMultipleField, StringField
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


VISIBILITY_CHOICES = [("private", _l("Private: members of the tenant")),
                      ("public", _l("Public: anyone who can reach Taiji may read and clone"))]
PUSH_ROLE_CHOICES = [("owner", _l("Owner")), ("admin", _l("Admin")), ("member", _l("Member"))]


class GeneralForm(FlaskForm):
    """A repository's description, default branch, visibility and component."""

    description = StringField(_l("Description"), validators=[Optional(), Length(max=500)])
    default_branch = SelectField(_l("Default branch"), choices=[], validate_choice=False)
    visibility = SelectField(_l("Visibility"), choices=VISIBILITY_CHOICES, validate_choice=False)
    component = StringField(_l("Component"), validators=[Optional(), Length(max=130)])


class ProtectionForm(FlaskForm):
    """A protected branch rule; no role ticked: every role that may write may push."""

    pattern = StringField(_l("Branch or pattern"), validators=[DataRequired(), Length(max=200)])
    push_roles = SelectMultipleField(_l("Who may push"), choices=PUSH_ROLE_CHOICES, validate_choice=False)
    allow_force_push = BooleanField(_l("Allow force-push"))
    allow_deletion = BooleanField(_l("Allow deletion"))

    def changes(self) -> dict:
        return {"pattern": (self.pattern.data or "").strip(), "push_roles": list(self.push_roles.data or []),
                "allow_force_push": bool(self.allow_force_push.data),
                "allow_deletion": bool(self.allow_deletion.data)}


class DeleteForm(FlaskForm):
    confirm = StringField(_l("Type the repository's name to confirm"), validators=[DataRequired()])
