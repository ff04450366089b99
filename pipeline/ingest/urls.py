"""Feed URLs: which are accepted, the one form each is stored in, and how one is shown.

A feed URL may carry ``user:password@`` (a private feed); it is stored as given,
since fetching needs it, and redacted on every way out: listings, reports,
stored errors and error messages. Error text from the HTTP client can quote a
URL too, so error strings go through :func:`redact_text`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

import httpx

from pipeline.errors import FinsentError

WEB_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_CHARS = 2048
REDACTED = "***"
MIN_SECRET_CHARS = 4

# scheme://userinfo@ inside any text; the userinfo runs to the netloc's last "@".
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#\s'\"<>]*@")
_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def _split(url: str) -> SplitResult:
    """``urlsplit`` with its port check; :class:`ValueError` for a malformed URL."""
    parts = urlsplit(url)
    parts.port  # noqa: B018  (raises on a malformed or out-of-range port)
    return parts


def host_and_port(parts: SplitResult) -> str:
    """``host[:port]`` of an http(s) URL in one form: host case-folded, trailing dot and
    default port dropped, IPv6 literals in brackets. ``parts.port`` must be valid."""
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    port = parts.port
    return host if port in (None, DEFAULT_PORTS[parts.scheme.lower()]) else f"{host}:{port}"


def _web_netloc(parts: SplitResult) -> str:
    """The netloc in its stored form: :func:`host_and_port`, userinfo kept as given."""
    userinfo, at, _ = parts.netloc.rpartition("@")
    return f"{userinfo}@{host_and_port(parts)}" if at else host_and_port(parts)


def normalise_feed_url(url: str, *, allow_private: bool) -> str:
    """The URL to store for a feed, or a :class:`FinsentError` saying why it is refused.

    ``https://EXAMPLE.com.:443/rss`` and ``https://example.com/rss`` are the same
    feed; local paths become absolute ``file://`` URLs.

    >>> normalise_feed_url(" HTTPS://Example.COM.:443/rss ", allow_private=False)
    'https://example.com/rss'
    """
    url = url.strip()
    if not url:
        raise FinsentError("feed URL is empty")
    shown = redact_url(url)
    try:
        parts = _split(url)
    except ValueError as exc:
        raise FinsentError(f"invalid feed URL {shown!r}: {exc}") from None
    scheme = parts.scheme.lower()
    # A one-letter "scheme" is a Windows drive; no scheme at all is a path.
    is_path = not scheme or len(scheme) == 1
    if scheme in WEB_SCHEMES:
        if not (parts.hostname or "").rstrip("."):
            raise FinsentError(f"invalid feed URL {shown!r}: no host")
        if _SPACE_OR_CONTROL.search(url):
            raise FinsentError(f"invalid feed URL {shown!r}: spaces or control characters")
        normalised = parts._replace(scheme=scheme, netloc=_web_netloc(parts)).geturl()
        try:
            # What the fetcher will be given: refuse here what it could not request.
            httpx.URL(normalised)
        except httpx.InvalidURL as exc:
            raise FinsentError(f"invalid feed URL {shown!r}: {redact_text(str(exc))}") from None
    elif scheme == "file" or is_path:
        if not allow_private:
            raise FinsentError(
                f"local feed {shown!r} refused: file:// URLs and paths need "
                "FINSENT_ALLOW_PRIVATE_NETWORKS=1"
            )
        normalised = url if scheme == "file" else Path(url).expanduser().resolve().as_uri()
    else:
        raise FinsentError(f"unsupported URL scheme {scheme!r} in {shown!r}; use http(s) or a file")
    if len(normalised) > MAX_URL_CHARS:
        raise FinsentError(f"feed URL longer than {MAX_URL_CHARS} characters")
    return normalised


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@``, for showing.

    >>> redact_url("https://reader:s3cret@example.com/private.rss")
    'https://***@example.com/private.rss'
    """
    return _USERINFO.sub(rf"\1{REDACTED}@", url)


def without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` removed (a base for resolving entry links)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_url(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    return parts._replace(netloc=hostport).geturl() if at else url


def url_secrets(url: str) -> list[str]:
    """The username and password in ``url``, as written and percent-decoded."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    userinfo, at, _ = parts.netloc.rpartition("@")
    if not at:
        return []
    pieces = userinfo.split(":", 1)
    return [form for piece in pieces if piece for form in {piece, unquote(piece)}]


def redact_text(text: str, *, secrets: Iterable[str] = ()) -> str:
    """``text`` (an error message, say) with credentials in URLs redacted, and every
    one of ``secrets`` (see :func:`url_secrets`) replaced wherever it appears."""
    text = redact_url(text)
    # Longest first, so a password containing the username is replaced whole. Pieces
    # shorter than MIN_SECRET_CHARS would blank ordinary words of the message instead.
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= MIN_SECRET_CHARS:
            text = text.replace(secret, REDACTED)
    return text


def is_web_url(url: str | None) -> bool:
    """Whether ``url`` is an absolute http(s) URL with a host: the only links finsent keeps."""
    if not url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.hostname)
