"""Real HTTP servers on loopback for tests: werkzeug in a thread, free port."""

from __future__ import annotations

import threading
from collections.abc import Callable

from werkzeug.serving import make_server


class LiveServer:
    """Serve a WSGI app on 127.0.0.1 and a free port, in a daemon thread.

    The port is known before the app exists (``url``), so an app whose config needs
    its own address (an issuer, a redirect URI) can be built afterwards and attached
    with :meth:`start`.
    """

    def __init__(self):
        self._app = None
        self._server = make_server("127.0.0.1", 0, self._dispatch, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def _dispatch(self, environ, start_response):
        return self._app(environ, start_response)

    def start(self, app: Callable) -> LiveServer:
        self._app = app
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread:
            self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
