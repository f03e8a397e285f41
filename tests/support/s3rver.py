"""A second, independent S3 implementation for compatibility tests: s3rver (Node.js), installed from npm on demand."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PREFIX = ROOT / ".cache" / "s3rver"
VERSION = "3.7.1"
KEY = "S3RVER"  # s3rver's fixed credentials


def binary() -> Path:
    exe = PREFIX / "node_modules" / ".bin" / "s3rver"
    if not exe.exists():
        npm = shutil.which("npm")
        if not npm:
            raise RuntimeError("npm is needed for the s3rver compatibility test: apt-get install npm")
        PREFIX.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--silent", "--prefix", str(PREFIX), f"s3rver@{VERSION}"], check=True)
    return exe


class S3rver:
    access_key = KEY
    secret_key = KEY

    def __init__(self, bucket: str):
        self.bucket = bucket
        self.dir = Path(tempfile.mkdtemp(prefix="cnb-s3rver-"))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self) -> S3rver:
        log = open(self.dir / "s3rver.log", "wb")
        cmd = [str(binary()), "-d", str(self.dir / "data"), "-a", "127.0.0.1", "-p", str(self.port)]
        self.proc = subprocess.Popen([*cmd, "--configure-bucket", self.bucket], stdout=log, stderr=log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"s3rver did not start; see {self.dir / 's3rver.log'}")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
