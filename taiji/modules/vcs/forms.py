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


METHOD_CHOICES = [("merge", _l("Merge commit")), ("squash", _l("Squash and merge")),
                  ("ff", _l("Fast-forward"))]


class ProtectionForm(FlaskForm):
    """A protected branch rule; no role ticked: every role that may write may push. The merge
    settings are checked by the service (services/protection.py), whose refusals go under them."""

    pattern = StringField(_l("Branch or pattern"), validators=[DataRequired(), Length(max=200)])
    push_roles = SelectMultipleField(_l("Who may push"), choices=PUSH_ROLE_CHOICES, validate_choice=False)
    allow_force_push = BooleanField(_l("Allow force-push"))
    allow_deletion = BooleanField(_l("Allow deletion"))
    required_approvals = IntegerField(_l("Approvals required"), validators=[Optional()], default=0)
    approval_roles = SelectMultipleField(_l("Whose approvals count"), choices=PUSH_ROLE_CHOICES,
                                         validate_choice=False)
    merge_methods = SelectMultipleField(_l("Merge methods allowed"), choices=METHOD_CHOICES,
                                        validate_choice=False)
    require_merge_request = BooleanField(_l("Changes only through merge requests"))
    require_green_pipeline = BooleanField(_l("The pipeline must succeed before merging"))
    reset_approvals_on_push = BooleanField(_l("A new push to the source branch voids earlier approvals"))

    MERGE_FIELDS = ("required_approvals", "approval_roles", "merge_methods", "require_merge_request",
                    "require_green_pipeline", "reset_approvals_on_push")

    @classmethod
    def of(cls, rule, **kwargs) -> ProtectionForm:
        """The form filled with ``rule``'s settings."""
        return cls(data={"pattern": rule.pattern, "push_roles": rule.push_roles,
                         "allow_force_push": rule.allow_force_push, "allow_deletion": rule.allow_deletion,
                         **{name: getattr(rule, name) for name in cls.MERGE_FIELDS}}, **kwargs)

    def changes(self) -> dict:
        approvals = self.required_approvals.data
        return {"pattern": (self.pattern.data or "").strip(), "push_roles": list(self.push_roles.data or []),
                "allow_force_push": bool(self.allow_force_push.data),
                "allow_deletion": bool(self.allow_deletion.data),
                "required_approvals": 0 if approvals is None else approvals,
                "approval_roles": list(self.approval_roles.data or []),
                "merge_methods": list(self.merge_methods.data or []),
                "require_merge_request": bool(self.require_merge_request.data),
                "require_green_pipeline": bool(self.require_green_pipeline.data),
                "reset_approvals_on_push": bool(self.reset_approvals_on_push.data)}


class DeleteForm(FlaskForm):
    confirm = StringField(_l("Type the repository's name to confirm"), validators=[DataRequired()])
