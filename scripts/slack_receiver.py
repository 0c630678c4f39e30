"""A local stand-in for Slack's incoming-webhook endpoint: it records every POST and answers "ok".

Standard library only. Used two ways:
- by the local stack (`scripts/stack.sh up`), as a server on its own port writing one JSON line per
  message to a file, so `make demo` shows the alerts the suite would have sent;
- by the tests, as an in-process `Receiver` whose `messages` they assert on.

    python3 scripts/slack_receiver.py --port 26390 --out .stack/slack/messages.jsonl --pidfile slack.pid
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class Receiver:
    """An HTTP server on 127.0.0.1 recording what is posted to it."""

    def __init__(self, port: int = 0, out: Path | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._out = out
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    payload = json.loads(body or b"{}")
                except ValueError:
                    payload = {"raw": body.decode(errors="replace")}
                receiver._record({"path": self.path, "payload": payload, "received_at": time.time()})
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:  # keep request lines (with the token path) out of logs
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self._thread: threading.Thread | None = None

    def url(self, token: str = "T000/B000/local-test-token") -> str:
        return f"http://127.0.0.1:{self.port}/services/{token}"

    def _record(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.messages.append(message)
            if self._out:
                with self._out.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(message) + "\n")

    def texts(self) -> list[str]:
        with self._lock:
            return [m["payload"].get("text", "") for m in self.messages]

    def wait_for(self, predicate: Any, timeout: float) -> list[str]:
        """Texts received, once one satisfies `predicate` or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(predicate(t) for t in self.texts()):
                break
            time.sleep(0.2)
        return self.texts()

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def start(self) -> Receiver:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pidfile", type=Path)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    receiver = Receiver(args.port, args.out)
    if args.pidfile:
        args.pidfile.write_text(str(os.getpid()))
    receiver.server.serve_forever()


if __name__ == "__main__":
    main()
