"""A tenant's upstream LDAP directory, the users it signed in, and the email domains it may sign in."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from taiji.platform.db import Model, TenantOwnedMixin, TimestampMixin, intpk, timestamp


class Directory(TenantOwnedMixin, TimestampMixin, Model):
    __tablename__ = "iam_directory"
    __table_args__ = (sa.UniqueConstraint("tenant_id"),)

    id: Mapped[intpk]
    enabled: Mapped[bool] = mapped_column(default=True)
    url: Mapped[str] = mapped_column(sa.String(500))
    bind_dn: Mapped[str] = mapped_column(sa.String(500), default="")
    # Fernet token; the key is derived from SECRET_KEY (see services._fernet).
    bind_password_encrypted: Mapped[str] = mapped_column(sa.Text, default="")
    user_base: Mapped[str] = mapped_column(sa.String(500))
    user_filter: Mapped[str] = mapped_column(sa.String(500), default="(objectClass=inetOrgPerson)")
    email_attribute: Mapped[str] = mapped_column(sa.String(100), default="mail")
    name_attribute: Mapped[str] = mapped_column(sa.String(100), default="cn")
    group_base: Mapped[str] = mapped_column(sa.String(500), default="")
    group_filter: Mapped[str] = mapped_column(sa.String(500), default="(objectClass=groupOfNames)")
    member_attribute: Mapped[str] = mapped_column(sa.String(100), default="member")
    # group cn -> role key (built-in or custom); a signed-in user holds the roles of their groups.
    group_roles: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    default_role: Mapped[str] = mapped_column(sa.String(20), default="member")
    # PEM certificates an ldaps:// server's chain must lead to; the system's CAs when empty.
    ca_certificate: Mapped[str] = mapped_column(sa.Text, default="", server_default="")


class DirectoryAccount(Model):
    """Which local user a directory entry became, so renames upstream keep the same account."""

    __tablename__ = "iam_directory_account"
    __table_args__ = (sa.UniqueConstraint("directory_id", "dn"),)

    id: Mapped[intpk]
    directory_id: Mapped[int] = mapped_column(sa.ForeignKey("iam_directory.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("iam_user.id", ondelete="CASCADE"), index=True)
    dn: Mapped[str] = mapped_column(sa.String(500))
    synced_at: Mapped[timestamp | None]


class DomainStatus:
    PENDING = "pending"
    VERIFIED = "verified"


class DirectoryDomain(TenantOwnedMixin, TimestampMixin, Model):
    """An email domain a tenant claims for its directory: ``pending`` until proven, then ``verified``.

    Several tenants may claim one domain; only one can hold it verified. The unique
    ``verified_domain`` (the domain while verified, NULL otherwise) makes that the database's
    rule, so two verifications racing cannot both win.
    """

    __tablename__ = "iam_directory_domain"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "domain"),)

    id: Mapped[intpk]
    domain: Mapped[str] = mapped_column(sa.String(253), index=True)
    status: Mapped[str] = mapped_column(sa.String(20), default=DomainStatus.PENDING)
    verified_domain: Mapped[str | None] = mapped_column(sa.String(253), unique=True)
    # The challenge published in DNS. Not a secret (anyone can read the TXT record, and it only
    # proves something for this tenant's claim), so it is kept readable for the owner to copy.
    token: Mapped[str] = mapped_column(sa.String(64))
    method: Mapped[str | None] = mapped_column(sa.String(10))  # "dns" or "admin" once verified
    verified_at: Mapped[timestamp | None]
    verified_by: Mapped[str | None] = mapped_column(sa.String(255))  # the approving admin's email
    checked_at: Mapped[timestamp | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
