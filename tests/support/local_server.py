"""What the harness's own S3 servers share: a private directory, a free port on 127.0.0.1, waiting until the server
listens (or has died), and stopping it."""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from pathlib import Path


class LocalServer:
    name = "server"

    def __init__(self, bucket: str, prefix: str):
        self.bucket = bucket
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def wait_until_listening(self, log: Path, timeout: float = 30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start; see {log}")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
