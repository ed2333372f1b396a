"""Downloading input data (GTEx, TCGA, annotation files) reproducibly.

`fetch` streams a URL to disk through `txai.io.atomic_path`, so an interrupted or failed download
never leaves a partial file at the destination; it retries transient failures with exponential
backoff and checks the SHA-256, so a corrupt or silently changed upstream file is caught before
anything is computed from it.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

from txai import io
from txai.io import TxaiError, atomic_path

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20


class DownloadError(TxaiError, RuntimeError):
    """A download failed for good: every attempt failed, or the server refused the request.

    Its message names the URL, the destination and the cause, so a job ends with it alone."""


class _AttemptError(Exception):
    """One attempt delivered wrong data (truncated, or not matching the checksum); worth a retry."""


# Worth another try (HTTPError is sorted out first); a full disk or a permission error is not.
_RETRYABLE = (
    _AttemptError,
    urllib.error.URLError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
)


def _attempt(url: str, dest: Path, expected: str | None, timeout_s: float) -> str:
    """Stream `url` into a temporary file, check it, and only then rename it to `dest`."""
    with atomic_path(dest) as tmp, urllib.request.urlopen(url, timeout=timeout_s) as resp:
        size = resp.headers.get("Content-Length")
        log.info("downloading %s (%s bytes)", url, size or "unknown")
        hasher, received = hashlib.sha256(), 0
        with tmp.open("wb") as out:
            while chunk := resp.read(CHUNK_BYTES):
                hasher.update(chunk)
                out.write(chunk)
                received += len(chunk)
        if size is not None and received < int(size):
            raise _AttemptError(f"truncated: received {received} of {size} bytes")
        digest = hasher.hexdigest()
        if expected is not None and digest != expected:
            raise _AttemptError(
                f"checksum mismatch: expected sha256 {expected}, received {digest}; "
                "if the file changed upstream on purpose, put the new checksum in the config"
            )
    log.info("downloaded %s: %d bytes, sha256 %s", dest, received, digest)
    return digest


def fetch(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    *,
    retries: int = 3,
    backoff_s: float = 2.0,
    timeout_s: float = 60.0,
) -> str:
    """Download `url` to `dest`, check its SHA-256 and return the hex digest.

    Without `sha256` the digest is recorded in `{dest}.sha256` and a warning asks the user to pin
    it in the config. Raises DownloadError once `retries` extra attempts have failed, or at once
    for an HTTP 4xx other than 429.
    """
    dest = Path(dest)
    expected = sha256.strip().lower() if sha256 else None
    if expected is not None and not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    if expected is not None and dest.is_file() and io.sha256(dest) == expected:
        log.info("%s is already present with the expected checksum; not downloading", dest)
        return expected

    attempts = retries + 1
    for attempt in range(attempts):
        try:
            digest = _attempt(url, dest, expected, timeout_s)
            break
        except urllib.error.HTTPError as e:
            e.close()  # it holds the connection open
            if e.code < 500 and e.code != 429:
                raise DownloadError(_failure(url, dest, attempt + 1, f"{e} (not retried)")) from e
            last = e
        except _RETRYABLE as e:
            last = e
        if attempt < retries:
            delay = backoff_s * 2**attempt
            log.warning("download of %s failed (%s); retrying in %g s", url, last, delay)
            time.sleep(delay)
    else:
        raise DownloadError(_failure(url, dest, attempts, str(last))) from last

    if expected is None:
        sidecar = dest.with_name(f"{dest.name}.sha256")
        with atomic_path(sidecar) as tmp:
            tmp.write_text(f"{digest}  {dest.name}\n")
        msg = "no sha256 configured for %s; recorded sha256 %s in %s: put it in the config"
        log.warning(msg, url, digest, sidecar)
    return digest


def _failure(url: str, dest: Path, attempts: int, cause: str) -> str:
    """The DownloadError message: what failed, where to, how often, and why."""
    tries = "attempt" if attempts == 1 else "attempts"
    return f"could not download {url} to {dest} after {attempts} {tries}: {cause}"
