"""The hook scripts Taiji installs into each hosted repository.

``git receive-pack`` (run by ``git http-backend`` for a push) runs ``pre-receive`` before any
ref moves and ``post-receive`` after. Both scripts only forward what git gives them (the ref
updates on stdin, the quarantine directory of the objects received) over a Unix socket that
the serving request opened for this one push, with a one-time token, and print Taiji's answer:
git shows it to the pusher as ``remote: ...``.

Why a socket and not a call with the database URL: the hook runs inside the environment of a
process serving a user's request, so it must hold no platform secret. The socket lives in a
private directory for the length of one push, its token is useless afterwards, and all the
decisions (roles, protection, quotas) are made by the Taiji process that already authenticated
the pusher. A push that reaches the repository any other way (no socket in the environment)
is refused.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HOOKS = ("pre-receive", "post-receive")

_SCRIPT = '''#!{python}
# Installed by Taiji; rewritten when it differs. Forwards the push to Taiji and prints its answer.
import json, os, socket, sys

hook = os.path.basename(sys.argv[0])
where, token = os.environ.get("TAIJI_HOOK_SOCKET"), os.environ.get("TAIJI_HOOK_TOKEN")
if not where or not token:
    print("Taiji: this repository accepts pushes only through Taiji's Git HTTP address.", file=sys.stderr)
    sys.exit(1)
# Ref names are bytes to git; the ones that are not UTF-8 travel escaped, for Taiji to judge.
text = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
updates = [line.split(" ", 2) for line in text.split("\\n") if line.strip()]
env = {{k: os.environ.get(k) for k in ("GIT_QUARANTINE_PATH", "GIT_OBJECT_DIRECTORY",
                                      "GIT_ALTERNATE_OBJECT_DIRECTORIES")}}
request = json.dumps({{"token": token, "hook": hook, "updates": updates, "env": env}}).encode()
try:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(600)
        conn.connect(where)
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    reply = json.loads(answer or b"{{}}")
except (OSError, ValueError) as exc:
    if hook == "post-receive":
        # The refs moved before this hook ran: say so, and leave the news to Taiji's reconciliation.
        print("Taiji: your push was written, but Taiji could not record it (%s); it will be announced "
              "within a few minutes." % exc, file=sys.stderr)
        sys.exit(0)
    print("Taiji could not check this push (%s); nothing was written. Try again." % exc, file=sys.stderr)
    sys.exit(1)
for line in reply.get("messages", []):
    print(line, file=sys.stderr)
sys.exit(0 if reply.get("ok") else 1)
'''


def script() -> str:
    # The interpreter running Taiji: the hook then needs nothing installed beside it.
    return _SCRIPT.format(python=sys.executable)


def install_hooks(git_dir: Path) -> None:
    """Write the hooks into ``git_dir/hooks`` unless they are there already, as they are now."""
    text = script()
    hooks_dir = Path(git_dir) / "hooks"
    hooks_dir.mkdir(exist_ok=True)
    for name in HOOKS:
        path = hooks_dir / name
        try:
            if path.read_text() == text:
                continue
        except OSError:
            pass
        tmp = path.with_suffix(".taiji-tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o755)  # noqa: S103 - git must execute it; nothing secret inside
        tmp.replace(path)
