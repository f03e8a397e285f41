"""A second, independent S3 implementation for compatibility tests: s3rver (Node.js), installed from npm on demand."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from support.local_server import LocalServer

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


class S3rver(LocalServer):
    name = "s3rver"
    access_key = KEY
    secret_key = KEY

    def __init__(self, bucket: str):
        super().__init__(bucket, "cnb-s3rver-")

    def start(self) -> S3rver:
        log = open(self.dir / "s3rver.log", "wb")
        cmd = [str(binary()), "-d", str(self.dir / "data"), "-a", "127.0.0.1", "-p", str(self.port)]
        # s3rver's ListObjectsV2 continuation token is DES, which OpenSSL 3 (Node >= 17) keeps in its legacy
        # provider: without it every listing of more than one page answers 500
        env = {**os.environ, "NODE_OPTIONS": "--openssl-legacy-provider"}
        self.proc = subprocess.Popen([*cmd, "--configure-bucket", self.bucket], stdout=log, stderr=log, env=env)
        return self.wait_until_listening(self.dir / "s3rver.log")
