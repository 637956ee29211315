"""BPR test helpers: a repository maker, and the live server the real pip and twine talk to."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

import pytest

from tests.conftest import ROOT, app_overrides, sibling_database


@pytest.fixture
def make_repo(tenant):
    """``make_repo(name, kind, **settings)`` -> a repository of the test tenant."""
    from taiji.modules.bpr import services as bpr
    from taiji.platform.db import db

    def make(name="files", kind="generic", **settings):
        repository = bpr.create_repository(tenant, {"name": name, "kind": kind, **settings})
        db.session.commit()
        return repository

    return make


def put_package(tenant, repository, filename: str, body: bytes = b"not really a wheel", **kwargs):
    from taiji.modules.bpr import services as bpr
    from taiji.platform.db import db

    row = bpr.store_package(tenant, repository, filename, io.BytesIO(body), length=len(body), **kwargs)
    db.session.commit()
    return row


@dataclass
class Live:
    url: str
    app: object
    data_dir: object


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The application served by werkzeug in a thread, on its own committed database."""
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from taiji.platform.app import create_app
    from taiji.platform.db import db

    tmp = tmp_path_factory.mktemp("bpr-live")
    app = create_app(app_overrides(sibling_database("bprlive", tmp, migrated=True), tmp / "data"))
    with app.app_context():
        upgrade(directory=str(ROOT / "taiji" / "migrations"))
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, name="bpr-live", daemon=True)
    thread.start()
    try:
        yield Live(url=url, app=app, data_dir=tmp / "data")
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
