"""An ASGI app served by uvicorn in a background thread of this process: the fake external
services (an OpenAI-compatible gateway, a 1Password Connect server) that tests and offline use
talk to over real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn


def server_on(app: Any, host: str, port: int) -> tuple[uvicorn.Server, socket.socket]:
    """A quiet uvicorn server for `app` and the socket it will serve, bound on `host:port`
    (0: a free port; read it from the socket)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="critical",
        access_log=False,
        lifespan="off",
        ws="none",
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config), sock


@dataclass
class ThreadedServer:
    """`app` served on `host:port` in a daemon thread named `name` while started."""

    app: Any
    host: str = "127.0.0.1"
    port: int = 0
    name: str = "asgi-server"
    _running: tuple[uvicorn.Server, socket.socket, threading.Thread] | None = field(
        default=None, repr=False
    )

    def start(self, *, timeout: float = 10) -> int:
        """Serve in the background; return the port once it accepts connections.

        Raises:
            RuntimeError: it did not start within `timeout` seconds.
        """
        server, sock = server_on(self.app, self.host, self.port)
        self.port = sock.getsockname()[1]
        thread = threading.Thread(
            target=lambda: server.run(sockets=[sock]), name=self.name, daemon=True
        )
        self._running = (server, sock, thread)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.005)
        return self.port

    def stop(self) -> None:
        """Stop serving (the port is kept: `start` serves on it again)."""
        if self._running is None:
            return
        server, sock, thread = self._running
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
        self._running = None


__all__ = ["ThreadedServer", "server_on"]
