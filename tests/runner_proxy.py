"""A counting proxy in front of a real runner, at the edge between the functions and the runner:
it forwards every request as it is, counts the draw runs that reached the runner per program,
and can hold a chosen run (the n-th) before forwarding it, so a test can act while that run is
in flight (kill the worker that sent it, or cancel its job)."""

from __future__ import annotations

import collections
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


class RunnerProxy:
    def __init__(self, runner_url: str) -> None:
        self.runner_url = runner_url
        self.runs: collections.Counter[str] = collections.Counter()  # code -> runs forwarded
        self.refused = 0  # answers other than 200 to /run (e.g. 429 for background runs)
        self.hold_at = 0  # hold the n-th draw run (1-based; 0: none)
        self.held = threading.Event()  # set once that run is held
        self.release = threading.Event()  # set to let it go on
        self.forward_held = True  # False: drop the held run instead of forwarding it
        self._seen = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.runs.values())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                answer = requests.get(proxy.runner_url + self.path, timeout=30)
                self._send(answer.status_code, answer.content, answer.headers)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not proxy.admit(body):
                    self.close_connection = True
                    return  # dropped: the sender sees its connection end
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = requests.post(proxy.runner_url + self.path, data=body,
                                       headers=headers, timeout=60)  # fmt: skip
                proxy.count(body, answer.status_code)
                self._send(answer.status_code, answer.content, answer.headers)

            def _send(self, status: int, content: bytes, headers: object) -> None:
                self.send_response(status)
                for key in ("Content-Type", "Retry-After"):
                    value = headers.get(key)  # type: ignore[attr-defined]
                    if value:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        return Handler

    def admit(self, body: bytes) -> bool:
        """Whether to forward the run (holding it first if it is the chosen one)."""
        message = json.loads(body)
        if message.get("task", "draw") != "draw":
            return True
        with self._lock:
            self._seen += 1
            chosen = self._seen == self.hold_at
        if chosen:
            self.held.set()
            self.release.wait(60)
            return self.forward_held
        return True

    def count(self, body: bytes, status: int) -> None:
        message = json.loads(body)
        with self._lock:
            if status != 200:
                self.refused += 1
            elif message.get("task", "draw") == "draw":
                self.runs[message["code"]] += 1


@contextmanager
def runner_proxy(runner_url: str) -> Iterator[RunnerProxy]:
    proxy = RunnerProxy(runner_url)
    thread = threading.Thread(target=proxy.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.release.set()
        proxy.server.shutdown()
        proxy.server.server_close()
