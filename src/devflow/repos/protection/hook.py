"""DevFlow's pre-receive hook: it hands the refs a push would move to the DevFlow process
serving the push, over the UNIX socket named in `DEVFLOW_HOOK_SOCKET`, and prints the reasons
of a refusal (git shows them as `remote:` lines and reports the push rejected).

Fail closed: a socket that cannot be reached, an exchange that breaks or lasts over two
minutes, or any answer but `ok` refuses the push. A push DevFlow serves always names the
socket; one it serves without (`DEVFLOW_PUSH_LOG` set, no socket) is refused too. Only a push
made on the server's own files, outside DevFlow, is not asked about: whoever can do that can
change the refs directly anyway.

The client is Python from the standard library only, started isolated (`-I -S`) with the
interpreter DevFlow runs on (`DEVFLOW_HOOK_PYTHON`), so the hook file is the same on every
machine and holds no path. Kept free of single quotes: the shell quotes it with them.
"""

from __future__ import annotations

CLIENT = """
import json, os, socket, sys
def refuse(message):
    sys.stderr.write(message.rstrip() + "\\n")
    sys.exit(1)
try:
    moves = sys.stdin.buffer.read()
    names = ("GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH")
    head = json.dumps({n: os.environ.get(n, "") for n in names}).encode()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(120)
    conn.connect(os.environ["DEVFLOW_HOOK_SOCKET"])
    conn.sendall(head + b"\\n" + moves)
    conn.shutdown(socket.SHUT_WR)
    answer = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        answer += chunk
except Exception as exc:
    name = type(exc).__name__
    refuse("DevFlow could not check this push against its branch rules (%s): refused" % name)
verdict, _, reasons = answer.decode("utf-8", "replace").partition("\\n")
if verdict != "ok":
    refuse(reasons.strip() or "DevFlow refused this push")
"""

PRE_RECEIVE = f"""#!/bin/sh
# Written by DevFlow. Asks the DevFlow process serving this push whether the refs it moves keep
# the repository's branch rules (devflow repo protect); a push it cannot ask is refused.
if [ -n "$DEVFLOW_HOOK_SOCKET" ]; then
    exec "$DEVFLOW_HOOK_PYTHON" -I -S -c '{CLIENT}'
fi
if [ -n "$DEVFLOW_PUSH_LOG" ]; then
    echo "DevFlow could not check this push against its branch rules: refused" >&2
    exit 1
fi
exit 0
"""

__all__ = ["PRE_RECEIVE"]
