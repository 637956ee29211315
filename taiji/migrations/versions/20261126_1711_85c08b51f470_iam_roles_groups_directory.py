"""IAM: custom tenant roles, groups, role bindings, upstream LDAP directories

Revision ID: 85c08b51f470
Revises: 5429e7b41d7f
Created: 2026-11-26 17:11:48.082536
"""

import sqlalchemy as sa
from alembic import op

import taiji.platform.db

revision = "85c08b51f470"
down_revision = "5429e7b41d7f"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "iam_directory",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("bind_dn", sa.String(length=500), nullable=False),
        sa.Column("bind_password_encrypted", sa.Text(), nullable=False),
        sa.Column("user_base", sa.String(length=500), nullable=False),
        sa.Column("user_filter", sa.String(length=500), nullable=False),
        sa.Column("email_attribute", sa.String(length=100), nullable=False),
        sa.Column("name_attribute", sa.String(length=100), nullable=False),
        sa.Column("group_base", sa.String(length=500), nullable=False),
        sa.Column("group_filter", sa.String(length=500), nullable=False),
        sa.Column("member_attribute", sa.String(length=100), nullable=False),
        sa.Column("group_roles", sa.JSON(), nullable=False),
        sa.Column("default_role", sa.String(length=20), nullable=False),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["kernel_tenant.id"],
            name=op.f("fk_iam_directory_tenant_id_kernel_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_iam_directory")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_iam_directory_tenant_id")),
    )
    with op.batch_alter_table("iam_directory", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_iam_directory_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "iam_group",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["kernel_tenant.id"],
            name=op.f("fk_iam_group_tenant_id_kernel_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_iam_group")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_iam_group_tenant_id_key")),
    )
    with op.batch_alter_table("iam_group", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_iam_group_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "iam_role",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["kernel_tenant.id"],
            name=op.f("fk_iam_role_tenant_id_kernel_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_iam_role")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_iam_role_tenant_id_key")),
    )
    with op.batch_alter_table("iam_role", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_iam_role_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "iam_binding",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("role", sa.String(length=50), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_at", taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (group_id IS NULL)", name=op.f("ck_iam_binding_one_subject")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["iam_group.id"], name=op.f("fk_iam_binding_group_id_iam_group"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["kernel_tenant.id"],
            name=op.f("fk_iam_binding_tenant_id_kernel_tenant"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["iam_user.id"], name=op.f("fk_iam_binding_user_id_iam_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_iam_binding")),
    )
    with op.batch_alter_table("iam_binding", schema=None) as batch_op:
        batch_op.create_index("ix_iam_binding_group", ["group_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_iam_binding_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_iam_binding_user", ["user_id", "tenant_id"], unique=False)

    op.create_table(
        "iam_directory_account",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("directory_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("dn", sa.String(length=500), nullable=False),
        sa.Column("synced_at", taiji.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["directory_id"],
            ["iam_directory.id"],
            name=op.f("fk_iam_directory_account_directory_id_iam_directory"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["iam_user.id"],
            name=op.f("fk_iam_directory_account_user_id_iam_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_iam_directory_account")),
        sa.UniqueConstraint("directory_id", "dn", name=op.f("uq_iam_directory_account_directory_id_dn")),
    )
    with op.batch_alter_table("iam_directory_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_iam_directory_account_user_id"), ["user_id"], unique=False)

    op.create_table(
        "iam_group_member",
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", taiji.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["iam_group.id"],
            name=op.f("fk_iam_group_member_group_id_iam_group"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["iam_user.id"],
            name=op.f("fk_iam_group_member_user_id_iam_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_iam_group_member")),
    )
    with op.batch_alter_table("iam_group_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_iam_group_member_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("iam_group_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_iam_group_member_user_id"))

    op.drop_table("iam_group_member")
    with op.batch_alter_table("iam_directory_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_iam_directory_account_user_id"))

    op.drop_table("iam_directory_account")
    with op.batch_alter_table("iam_binding", schema=None) as batch_op:
        batch_op.drop_index("ix_iam_binding_user")
        batch_op.drop_index(batch_op.f("ix_iam_binding_tenant_id"))
        batch_op.drop_index("ix_iam_binding_group")

    op.drop_table("iam_binding")
    with op.batch_alter_table("iam_role", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_iam_role_tenant_id"))

    op.drop_table("iam_role")
    with op.batch_alter_table("iam_group", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_iam_group_tenant_id"))

    op.drop_table("iam_group")
    with op.batch_alter_table("iam_directory", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_iam_directory_tenant_id"))

    op.drop_table("iam_directory")
