"""A real S3-compatible HTTP endpoint for tests: ``python -m moto.server`` in its own process.

State lives in the server process: ``stop()`` + ``start()`` (same port) loses it, ``reset()`` clears it in place,
and ``outage()`` makes the endpoint unreachable for the duration of a ``with`` block.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, Optional

from .pg import free_port

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


class MotoServer:
    def __init__(self, host: str = "127.0.0.1", port: Optional[int] = None):
        self.host = host
        self.port = port
        self.proc: Optional[subprocess.Popen] = None
        self.logfile = Path(tempfile.mkstemp(prefix="cnb-moto-", suffix=".log")[1])

    @property
    def connect_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host  # noqa: S104

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.connect_host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30.0) -> MotoServer:
        if self.running:
            return self
        if self.port is None:
            self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, AWS_DEFAULT_REGION=REGION)
        with open(self.logfile, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self._answers():
                return self
            time.sleep(0.1)
        tail = self.logfile.read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"moto server did not come up on {self.endpoint_url}:\n{tail}")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # any HTTP answer means the server is up
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> MotoServer:
        """Stop and start again on the same port (all buckets and objects are lost)."""
        self.stop()
        return self.start()

    @contextlib.contextmanager
    def outage(self, recreate_buckets: bool = True) -> Iterator[None]:
        """The endpoint is down inside the block; afterwards it is back, with the same buckets, empty."""
        buckets = [b["Name"] for b in self.client().list_buckets().get("Buckets", [])] if recreate_buckets else []
        self.stop()
        try:
            yield
        finally:
            self.start()
            for name in buckets:
                self.create_bucket(name)

    def reset(self) -> None:
        """Forget all state without restarting (moto's reset API)."""
        req = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def client(self, **kwargs):
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
        )
        config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}, connect_timeout=5)
        return session.client("s3", endpoint_url=self.endpoint_url, config=config, **kwargs)

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def close(self) -> None:
        self.stop()
        self.logfile.unlink(missing_ok=True)

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
