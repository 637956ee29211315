"""URL arguments of BPR routes for the tenant-isolation walk, and one request per BPR permission
for the permission matrix. Imported at the end of tests/factories.py."""

from __future__ import annotations

from tests.factories import ISOLATION_SEEDERS, PERMISSION_REQUESTS  # noqa: F401
