"""The embedded broker: kombu's filesystem transport with messages that appear whole.

kombu writes a message file in place (open, lock, write) while a consumer claims files by
renaming them, which ignores the lock: a consumer can claim a file between its creation and
its write and read an empty message, which kills the worker with a JSON error. Here a message
is written under a name no consumer matches, then renamed into place, so a consumer only ever
sees complete files. ``filesystem://`` resolves to this transport (see ``taiji.platform.tasks``).
"""

from __future__ import annotations

import contextlib
import os
import uuid

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{int(filesystem.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # A leading dot and a different suffix: `_get` matches only "<anything>.<queue>.msg".
        partial = os.path.join(self.data_folder_out, f".{uuid.uuid4().hex}.partial")
        try:
            with open(partial, "wb") as fh:
                fh.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
