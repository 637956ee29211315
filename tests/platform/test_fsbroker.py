"""The embedded broker never hands a consumer a message that is still being written."""

from __future__ import annotations

import threading
from pathlib import Path

from kombu import Connection

from taiji.platform import config as config_mod
from taiji.platform import (
    fsbroker,
    tasks,  # noqa: F401  (installs the filesystem:// alias)
)


def test_filesystem_urls_use_the_whole_message_transport(tmp_path):
    options = config_mod.broker_options("filesystem://", tmp_path)
    with Connection("filesystem://", transport_options=options) as conn:
        assert isinstance(conn.transport, fsbroker.Transport)


def test_no_message_file_is_visible_to_consumers_before_it_is_written(tmp_path, monkeypatch):
    # Stock kombu creates "<n>_<uuid>.<queue>.msg" and only then serialises and writes into it,
    # so a consumer renaming it away in between reads an empty message (the worker dies on it).
    from kombu.transport import filesystem

    options = config_mod.broker_options("filesystem://", tmp_path)
    folder = Path(options["data_folder_out"])
    seen_while_writing = []

    def watching_dumps(payload):
        seen_while_writing.append(sorted(p.name for p in folder.iterdir() if p.name.endswith(".watch.msg")))
        return real_dumps(payload)

    real_dumps = fsbroker.dumps
    monkeypatch.setattr(fsbroker, "dumps", watching_dumps)
    monkeypatch.setattr(filesystem, "dumps", watching_dumps)
    with Connection("filesystem://", transport_options=options) as conn:
        conn.SimpleQueue("watch").put({"n": 1})
    assert seen_while_writing and not any(seen_while_writing)
    assert len([p for p in folder.iterdir() if p.name.endswith(".watch.msg")]) == 1


def test_a_consumer_racing_producers_reads_every_message_whole(tmp_path):
    options = config_mod.broker_options("filesystem://", tmp_path)
    sent = 400
    with Connection("filesystem://", transport_options=options) as producer_conn, \
            Connection("filesystem://", transport_options=options) as consumer_conn:
        queue = producer_conn.SimpleQueue("race")
        reader = consumer_conn.SimpleQueue("race")
        received, errors = [], []

        def consume():
            while len(received) < sent and not errors:
                try:
                    message = reader.get(timeout=10)
                except Exception as exc:  # an empty or torn file surfaces here as a decode error
                    errors.append(exc)
                    return
                received.append(message.payload)
                message.ack()

        thread = threading.Thread(target=consume)
        thread.start()
        for number in range(sent):
            queue.put({"n": number, "padding": "x" * 2048})
        thread.join(timeout=60)
        assert not errors
        assert sorted(item["n"] for item in received) == list(range(sent))
