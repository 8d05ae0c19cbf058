"""A real S3-compatible server on 127.0.0.1 for the archive tests: moto in server mode, as s3fs's own suite uses.

:class:`S3Server` starts ``python -m moto.server`` as a subprocess on a free port, waits until it answers,
and keeps its request log (werkzeug's one line per request) in a file, so tests count the listing
requests the code really made. :meth:`S3Server.put` fills buckets named like NOAA's with public-read
objects (NOAA's buckets are public; moto, like AWS, refuses anonymous reads of private objects).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
_LIST = re.compile(r'"GET /(?P<bucket>[^/?\s]+)\?list-type=2&prefix=(?P<prefix>[^&\s]*)[^"]*" (?P<status>\d{3})')
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_GET = re.compile(r'"GET /(?P<bucket>[^/?\s]+)/(?P<key>[^?\s]+) HTTP[^"]*" (?P<status>\d{3})')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """One moto server process; ``url`` is its endpoint, ``log`` its request log."""

    def __init__(self, workdir: str | os.PathLike[str], port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.workdir / f"moto-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self._admin = None

    def start(self, timeout: float = 60.0) -> S3Server:
        out = open(self.log, "ab")  # noqa: SIM115 (the child keeps it)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **CREDENTIALS},
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited ({self.proc.returncode}): {self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server on {self.url} did not answer within {timeout} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    # -- filling ---------------------------------------------------------------------------------

    def admin(self):
        """A signed s3fs client (the uploader); the code under test reads anonymously."""
        if self._admin is None:
            import s3fs

            self._admin = s3fs.S3FileSystem(
                key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                secret=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                endpoint_url=self.url,
                skip_instance_cache=True,
                use_listings_cache=False,
            )
        return self._admin

    def put(self, objects: Mapping[str, bytes]) -> None:
        """Upload ``{"bucket/key": bytes}`` as public-read objects, creating the buckets."""
        fs = self.admin()
        for bucket in sorted({path.split("/", 1)[0] for path in objects}):
            if not fs.exists(bucket):
                fs.mkdir(bucket)
        fs.pipe(dict(objects), ACL="public-read")

    # -- the request log -------------------------------------------------------------------------

    def log_lines(self) -> list[str]:
        """The request log without werkzeug's colour codes (it colours 206, 4xx and 5xx lines)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return _ANSI.sub("", text).splitlines()

    def listing_requests(self) -> Counter:
        """``Counter({"bucket/prefix": n})`` of the list_objects_v2 requests the server answered."""
        counts: Counter = Counter()
        for line in self.log_lines():
            m = _LIST.search(line)
            if m:
                counts[f"{m['bucket']}/{urllib.request.unquote(m['prefix'])}"] += 1
        return counts

    def object_gets(self) -> Counter:
        """``Counter({"bucket/key": n})`` of the object GETs (ranged or not)."""
        counts: Counter = Counter()
        for line in self.log_lines():
            m = _GET.search(line)
            if m:
                counts[f"{m['bucket']}/{urllib.request.unquote(m['key'])}"] += 1
        return counts
