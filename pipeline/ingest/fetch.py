"""Fetching feed bodies over HTTP(S) or from local files, defensively.

- Timeouts on connect and on every read, plus a whole-download deadline.
- A body-size cap applied while streaming (after gzip decoding), so an
  oversized or decompression-bomb body is cut off, never loaded.
- Redirects followed by hand (at most ``fetch_max_redirects``); every hop goes
  through the SSRF guard in :mod:`pipeline.ingest.netguard`, which checks the
  addresses a host resolves to when the connection is opened and connects to
  exactly the checked address (no DNS-rebinding window).
- Conditional GET with ``ETag`` / ``Last-Modified``; ``Retry-After`` read on 429/503.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import httpx

from pipeline.ingest.netguard import (
    AddressGuard,
    RefusedAddress,
    UnresolvableHost,
    guarded_transport,
)
from pipeline.ingest.urls import WEB_SCHEMES, redact_text, url_secrets
from pipeline.settings import Settings

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class FetchStatus(StrEnum):
    """How fetching one feed URL ended (the values are what reports have always said)."""

    OK = "ok"  # a body came back
    NOT_MODIFIED = "not_modified"  # the validators matched: nothing new
    ERROR = "error"


@dataclass
class FetchResult:
    """What fetching one feed URL returned, and how long it took."""

    status: FetchStatus
    url: str  # the last URL requested (after redirects)
    http_status: int | None = None
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    retry_after_seconds: float | None = None
    error: str | None = None  # why, when the status is ERROR (credentials redacted)
    duration_ms: int = 0


class _FetchFailed(Exception):
    """A fetch that ends in an error with this message (and maybe an HTTP status)."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class _GzipDecoder:
    """Incremental gzip decoding that never produces more than it is allowed to."""

    def __init__(self) -> None:
        self._inflater = zlib.decompressobj(wbits=31)

    def decode(self, data: bytes, *, room: int) -> bytes:
        out = bytearray()
        while data and len(out) < room:
            out += self._inflater.decompress(data, room - len(out))
            if self._inflater.eof and self._inflater.unused_data:
                # Concatenated gzip members are one body (RFC 1952).
                data = self._inflater.unused_data
                self._inflater = zlib.decompressobj(wbits=31)
            else:
                data = self._inflater.unconsumed_tail
        return bytes(out)


def _read_capped(response: httpx.Response, *, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _FetchFailed(f"body of {int(declared)} bytes exceeds the {max_bytes}-byte limit")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip"):
        raise _FetchFailed(f"unsupported Content-Encoding {encoding!r}")
    decoder = _GzipDecoder() if encoding in ("gzip", "x-gzip") else None
    body = bytearray()
    try:
        # Unsized iteration: chunks as they arrive (httpcore reads at most 64 KiB at a time),
        # so the deadline is checked even when bytes trickle in.
        for chunk in response.iter_raw():
            room = max_bytes + 1 - len(body)
            body += decoder.decode(chunk, room=room) if decoder else chunk[:room]
            if len(body) > max_bytes:
                raise _FetchFailed(f"body exceeds the {max_bytes}-byte limit; cut off")
            if time.monotonic() > deadline:
                raise _FetchFailed("download too slow; gave up at the whole-fetch deadline")
    except zlib.error as exc:
        raise _FetchFailed(f"corrupt gzip body: {exc}") from None
    return bytes(body)


class Fetcher:
    """Fetches feed URLs with one shared, guarded HTTP client; safe to use from threads.

    ``guard`` is injectable so tests can give a resolver or trusted addresses.
    """

    def __init__(self, settings: Settings, *, guard: AddressGuard | None = None) -> None:
        self.settings = settings
        self.guard = guard or AddressGuard(allow_private=settings.allow_private_networks)
        self._client = httpx.Client(
            transport=guarded_transport(self.guard, max_connections=settings.fetch_concurrency),
            timeout=httpx.Timeout(
                connect=settings.fetch_connect_timeout,
                read=settings.fetch_read_timeout,
                write=settings.fetch_read_timeout,
                pool=settings.fetch_total_timeout,
            ),
            follow_redirects=False,
            # Proxies from the environment would bypass the address check.
            trust_env=False,
            headers={"User-Agent": settings.user_agent, "Accept": ACCEPT},
        )
        self._host_slots: dict[str, threading.BoundedSemaphore] = {}
        self._slots_lock = threading.Lock()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    @contextmanager
    def _host_slot(self, host: str) -> Iterator[None]:
        """At most ``fetch_per_host`` requests at a time to one host."""
        with self._slots_lock:
            slot = self._host_slots.get(host)
            if slot is None:
                slot = threading.BoundedSemaphore(max(1, self.settings.fetch_per_host))
                self._host_slots[host] = slot
        with slot:
            yield

    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        now: datetime | None = None,
    ) -> FetchResult:
        """Fetch ``url`` once; never raises: a failure is a result with an ERROR status."""
        started = time.perf_counter()
        try:
            result = self._fetch_any(url, etag=etag, last_modified=last_modified, now=now)
        except Exception as exc:  # a bug on hostile input must not stop the run
            result = FetchResult(
                FetchStatus.ERROR, url, error=f"unexpected {type(exc).__name__}: {exc}"[:500]
            )
        if result.error is not None:
            # The URL's credentials must not reach a report, a log or the database.
            secrets = url_secrets(url) + url_secrets(result.url)
            result.error = redact_text(result.error, secrets=secrets)
        result.duration_ms = int((time.perf_counter() - started) * 1000)
        return result

    def _fetch_any(
        self, url: str, *, etag: str | None, last_modified: str | None, now: datetime | None
    ) -> FetchResult:
        scheme = urlsplit(url).scheme.lower()
        if scheme in WEB_SCHEMES:
            return self._fetch_http(url, etag=etag, last_modified=last_modified, now=now)
        if scheme == "file" or len(scheme) <= 1:
            return self._fetch_file(url, etag=etag)
        return FetchResult(FetchStatus.ERROR, url, error=f"unsupported URL scheme {scheme!r}")

    def _fetch_http(
        self, url: str, *, etag: str | None, last_modified: str | None, now: datetime | None
    ) -> FetchResult:
        settings = self.settings
        deadline = time.monotonic() + settings.fetch_total_timeout
        headers = {"Accept-Encoding": "gzip"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        visited = [url]
        try:
            for _hop in range(settings.fetch_max_redirects + 1):
                parts = urlsplit(url)
                if parts.scheme.lower() not in WEB_SCHEMES or not parts.hostname:
                    raise _FetchFailed(f"redirect to a non-HTTP URL {url!r} refused")
                with self._host_slot(parts.hostname.lower()):
                    request = self._client.build_request("GET", url, headers=headers)
                    response = self._client.send(request, stream=True)
                    try:
                        code = response.status_code
                        location = response.headers.get("location")
                        if code in REDIRECT_STATUSES and location:
                            url = urljoin(url, location.strip())
                        elif code == 304:
                            return FetchResult(FetchStatus.NOT_MODIFIED, url, http_status=304)
                        elif code == 200:
                            body = _read_capped(
                                response, max_bytes=settings.fetch_max_bytes, deadline=deadline
                            )
                            return FetchResult(
                                FetchStatus.OK,
                                url,
                                http_status=200,
                                body=body,
                                content_type=response.headers.get("content-type"),
                                etag=response.headers.get("etag"),
                                last_modified=response.headers.get("last-modified"),
                            )
                        else:
                            return self._http_error(response, url, now=now)
                    finally:
                        response.close()
                if url in visited:
                    raise _FetchFailed(f"redirect loop back to {url}")
                visited.append(url)
            raise _FetchFailed(f"too many redirects (more than {settings.fetch_max_redirects})")
        except _FetchFailed as exc:
            return FetchResult(FetchStatus.ERROR, url, http_status=exc.http_status, error=str(exc))
        except RefusedAddress as exc:
            return FetchResult(FetchStatus.ERROR, url, error=f"refused: {exc}")
        except UnresolvableHost as exc:
            return FetchResult(FetchStatus.ERROR, url, error=str(exc))
        except httpx.ConnectTimeout:
            return FetchResult(FetchStatus.ERROR, url, error="connect timeout")
        except httpx.TimeoutException:
            return FetchResult(
                FetchStatus.ERROR, url, error="timeout: the server stopped answering"
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return FetchResult(FetchStatus.ERROR, url, error=f"{type(exc).__name__}: {exc}"[:500])

    @staticmethod
    def _http_error(response: httpx.Response, url: str, *, now: datetime | None) -> FetchResult:
        code = response.status_code
        retry_after = None
        if code in (429, 503):
            retry_after = parse_retry_after(
                response.headers.get("retry-after"), now=now or datetime.now(UTC)
            )
        message = f"HTTP {code} {response.reason_phrase}".strip()
        if code in REDIRECT_STATUSES:
            message += " without a Location header"
        if retry_after is not None:
            message += f" (Retry-After {retry_after:.0f}s)"
        return FetchResult(
            FetchStatus.ERROR, url, http_status=code, retry_after_seconds=retry_after, error=message
        )

    def _fetch_file(self, url: str, *, etag: str | None) -> FetchResult:
        if not self.settings.allow_private_networks:
            return FetchResult(
                FetchStatus.ERROR,
                url,
                error="local feeds are refused unless FINSENT_ALLOW_PRIVATE_NETWORKS",
            )
        parts = urlsplit(url)
        if parts.scheme.lower() == "file":
            if parts.netloc not in ("", "localhost"):
                return FetchResult(
                    FetchStatus.ERROR, url, error=f"file URL on host {parts.netloc!r}"
                )
            path = Path(url2pathname(parts.path))
        else:
            path = Path(url)
        try:
            stat = path.stat()
            if not path.is_file():
                return FetchResult(FetchStatus.ERROR, url, error=f"{path} is not a regular file")
            # The file's own validator: unchanged size and mtime means unchanged content.
            file_etag = f'"file-{stat.st_mtime_ns:x}-{stat.st_size:x}"'
            if etag == file_etag:
                return FetchResult(FetchStatus.NOT_MODIFIED, url)
            if stat.st_size > self.settings.fetch_max_bytes:
                return FetchResult(
                    FetchStatus.ERROR,
                    url,
                    error=f"file exceeds the {self.settings.fetch_max_bytes}-byte limit",
                )
            with path.open("rb") as handle:
                body = handle.read(self.settings.fetch_max_bytes + 1)
        except OSError as exc:
            return FetchResult(
                FetchStatus.ERROR, url, error=f"cannot read {path}: {exc.strerror or exc}"
            )
        if len(body) > self.settings.fetch_max_bytes:
            return FetchResult(
                FetchStatus.ERROR, url, error="file grew past the byte limit while read"
            )
        return FetchResult(FetchStatus.OK, url, body=body, etag=file_etag)
