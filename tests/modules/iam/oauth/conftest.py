"""A Taiji served over HTTP in a background thread, with its own committed database."""

from __future__ import annotations

import threading

import pytest
import requests
from werkzeug.serving import make_server

from taiji.platform.db import db
from tests.conftest import ROOT, app_overrides, sibling_database
from tests.factories import PASSWORD

from .relying_party import Provider


@pytest.fixture(scope="package")
def provider(tmp_path_factory):
    from flask_migrate import upgrade

    from taiji.modules.iam import services as iam
    from taiji.modules.tm import services as tm
    from taiji.platform.app import create_app

    url = sibling_database("oidc", tmp_path_factory.mktemp("oidc-db"), migrated=True)
    app = create_app(
        app_overrides(
            url,
            tmp_path_factory.mktemp("oidc-data"),
            WTF_CSRF_ENABLED=True,
            LOGIN_RATE_LIMIT="1000 per minute",
        )
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.port}"
    app.config["BASE_URL"] = base
    with app.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        user = iam.create_user("ada@example.com", "Ada Lovelace", PASSWORD)
        db.session.flush()
        tenant = tm.create_tenant("analytical", "Analytical Engines", owner_id=user.id)
        db.session.commit()
        slug = tenant.slug
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        metadata = requests.get(base + "/.well-known/openid-configuration", timeout=10).json()
        yield Provider(app=app, base=base, metadata=metadata, user=user, tenant_slug=slug)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
