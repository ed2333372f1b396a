"""Tests for txai.download against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import logging
import os
import random
import threading
from collections import Counter
from types import SimpleNamespace

import pytest

from txai.download import DownloadError, fetch

GOOD = random.Random(0).randbytes(300_000)  # several 1 MiB-or-less reads, not one
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()
CORRUPT = GOOD[:1000] + bytes([GOOD[1000] ^ 0xFF]) + GOOD[1001:]
CORRUPT_SHA = hashlib.sha256(CORRUPT).hexdigest()
FLAKY_FAILURES = 2


@pytest.fixture
def server(monkeypatch):
    """Serve GOOD, CORRUPT, a truncated body and a flaky path; count requests per path."""
    monkeypatch.setenv("no_proxy", "*")  # never route 127.0.0.1 through a proxy
    hits: Counter[str] = Counter()
    lock = threading.Lock()
    files = {"/good.bin": GOOD, "/corrupt.bin": CORRUPT, "/flaky.bin": GOOD}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                hits[self.path] += 1
                n = hits[self.path]
            if self.path == "/truncated.bin":
                self.send_response(200)
                self.send_header("Content-Length", str(len(GOOD)))
                self.end_headers()
                self.wfile.write(GOOD[: len(GOOD) // 2])
                self.close_connection = True
            elif self.path == "/flaky.bin" and n <= FLAKY_FAILURES:
                self.send_error(500)
            elif self.path in files:
                body = files[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(404)

        def log_message(self, format, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield SimpleNamespace(url=lambda path: base + path, hits=hits)
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_good_file_is_downloaded_and_verified(server, tmp_path):
    dest = tmp_path / "good.bin"
    assert fetch(server.url("/good.bin"), dest, GOOD_SHA, backoff_s=0) == GOOD_SHA
    assert dest.read_bytes() == GOOD
    assert os.listdir(tmp_path) == ["good.bin"]
    assert server.hits["/good.bin"] == 1


def test_checksum_is_case_insensitive(server, tmp_path):
    dest = tmp_path / "good.bin"
    assert fetch(server.url("/good.bin"), dest, GOOD_SHA.upper(), backoff_s=0) == GOOD_SHA


def test_malformed_checksum_is_rejected_before_downloading(server, tmp_path):
    with pytest.raises(ValueError, match="not a SHA-256"):
        fetch(server.url("/good.bin"), tmp_path / "good.bin", "abc123", backoff_s=0)
    assert sum(server.hits.values()) == 0


def test_checksum_mismatch_is_retried_then_fails(server, tmp_path):
    out = tmp_path / "out"
    dest = out / "corrupt.bin"
    url = server.url("/corrupt.bin")
    with pytest.raises(DownloadError) as err:
        fetch(url, dest, GOOD_SHA, retries=2, backoff_s=0)
    message = str(err.value)
    assert GOOD_SHA in message
    assert CORRUPT_SHA in message
    assert url in message
    assert str(dest) in message
    assert "3 attempts" in message
    assert "config" in message
    assert not dest.exists()
    assert os.listdir(out) == []
    assert server.hits["/corrupt.bin"] == 3


def test_truncated_download_fails_and_leaves_nothing(server, tmp_path):
    dest = tmp_path / "truncated.bin"
    with pytest.raises(DownloadError, match="truncated") as err:
        fetch(server.url("/truncated.bin"), dest, GOOD_SHA, retries=1, backoff_s=0)
    assert f"received {len(GOOD) // 2} of {len(GOOD)} bytes" in str(err.value)
    assert not dest.exists()
    assert os.listdir(tmp_path) == []
    assert server.hits["/truncated.bin"] == 2


def test_server_errors_are_retried(server, tmp_path):
    dest = tmp_path / "flaky.bin"
    assert fetch(server.url("/flaky.bin"), dest, GOOD_SHA, retries=2, backoff_s=0) == GOOD_SHA
    assert dest.read_bytes() == GOOD
    assert server.hits["/flaky.bin"] == FLAKY_FAILURES + 1
    assert os.listdir(tmp_path) == ["flaky.bin"]


def test_server_errors_fail_once_retries_run_out(server, tmp_path):
    dest = tmp_path / "flaky.bin"
    with pytest.raises(DownloadError, match="after 2 attempts: HTTP Error 500"):
        fetch(server.url("/flaky.bin"), dest, GOOD_SHA, retries=1, backoff_s=0)
    assert server.hits["/flaky.bin"] == 2
    assert os.listdir(tmp_path) == []


def test_not_found_is_not_retried(server, tmp_path):
    dest = tmp_path / "missing.bin"
    with pytest.raises(DownloadError, match="after 1 attempt: HTTP Error 404"):
        fetch(server.url("/missing.bin"), dest, GOOD_SHA, retries=3, backoff_s=0)
    assert server.hits["/missing.bin"] == 1
    assert os.listdir(tmp_path) == []


def test_without_checksum_the_digest_is_recorded_with_a_warning(server, tmp_path, caplog):
    dest = tmp_path / "good.bin"
    with caplog.at_level(logging.INFO, logger="txai.download"):
        digest = fetch(server.url("/good.bin"), dest, backoff_s=0)
    assert digest == GOOD_SHA
    assert dest.read_bytes() == GOOD
    assert (tmp_path / "good.bin.sha256").read_text() == f"{GOOD_SHA}  good.bin\n"
    assert sorted(os.listdir(tmp_path)) == ["good.bin", "good.bin.sha256"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert GOOD_SHA in warnings[0]
    assert "no sha256" in warnings[0]


def test_present_file_with_matching_checksum_is_not_downloaded(server, tmp_path):
    dest = tmp_path / "good.bin"
    dest.write_bytes(GOOD)
    assert fetch(server.url("/good.bin"), dest, GOOD_SHA, backoff_s=0) == GOOD_SHA
    assert sum(server.hits.values()) == 0
    assert dest.read_bytes() == GOOD


def test_present_file_with_wrong_checksum_is_replaced(server, tmp_path):
    dest = tmp_path / "good.bin"
    dest.write_bytes(CORRUPT)
    assert fetch(server.url("/good.bin"), dest, GOOD_SHA, backoff_s=0) == GOOD_SHA
    assert dest.read_bytes() == GOOD
    assert server.hits["/good.bin"] == 1


def test_file_url(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "good.bin").write_bytes(GOOD)
    dest = tmp_path / "out" / "good.bin"
    assert fetch((mirror / "good.bin").as_uri(), dest, GOOD_SHA, backoff_s=0) == GOOD_SHA
    assert dest.read_bytes() == GOOD
    assert os.listdir(dest.parent) == ["good.bin"]
