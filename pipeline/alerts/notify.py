"""The channels behind one small interface: webhook, email and an outbox folder.

A :class:`Notifier` knows its channel and its targets (one per URL, recipient or folder)
and sends one :class:`~pipeline.alerts.message.AlertMessage` to one target within a
:class:`~pipeline.alerts.deadline.Deadline`. It raises :class:`DeliveryError` on
failure, saying what kind of failure it was, so that only what may pass is retried.
Scheduling, attempts, concurrency and back-off live in :mod:`pipeline.alerts.deliveries`.

How replies are read:

* webhook: 2xx is sent; 429 and 5xx are transient; any other answer (4xx, a redirect)
  is permanent; a target that is not an http(s) URL is a configuration error.
* email: SMTP as RFC 5321 means it — a 4xx reply (greylisting, a busy mailbox) is
  transient, a 5xx refusal of the recipient is final (``refused``), other 5xx replies
  are permanent; a server without STARTTLS while ``FINSENT_SMTP_STARTTLS`` is on, a
  certificate that does not verify, or refused credentials are configuration errors.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from pipeline.alerts.deadline import Deadline
from pipeline.alerts.message import AlertMessage, build_email, email_text, webhook_payload
from pipeline.alerts.states import Channel, DeliveryEvent
from pipeline.settings import Settings

SIGNATURE_HEADER = "X-Finsent-Signature"


class Failure(StrEnum):
    """What kind of failure a :class:`DeliveryError` is, which decides what happens next."""

    TRANSIENT = "transient"  # may pass: retried with back-off
    PERMANENT = "permanent"  # the receiver will not take it: not retried
    REFUSED = "refused"  # the mail server refused this recipient for good
    CONFIGURATION = "configuration"  # finsent's settings are wrong: not retried


class DeliveryError(Exception):
    """A notification did not go through, and why (:class:`Failure`)."""

    def __init__(self, message: str, *, failure: Failure = Failure.TRANSIENT) -> None:
        super().__init__(message)
        self.failure = failure


@runtime_checkable
class Notifier(Protocol):
    """Sends alert events on one channel to each of its targets."""

    channel: Channel

    def targets(self) -> list[str]:
        """Where this notifier delivers: one entry per URL, recipient or folder."""
        ...

    def send(self, message: AlertMessage, *, target: str, deadline: Deadline) -> str:
        """Deliver ``message`` to ``target``; return the body sent (kept as a record).

        Register every connection with ``deadline.watch`` as soon as it exists: the
        caller cuts them when the deadline passes.
        """
        ...


def sign(body: bytes, secret: str) -> str:
    """The ``X-Finsent-Signature`` value: ``sha256=<hex HMAC-SHA256 of the raw body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _http_url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError as exc:
        return f"is not a URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return f"is not an http(s) URL (scheme {parts.scheme or 'missing'!r})"
    if not parts.hostname:
        return "has no host"
    return None


def _watch_connections(deadline: Deadline) -> Any:
    """An httpcore ``trace`` hook registering each new TCP connection with ``deadline``."""

    def trace(event: str, info: dict[str, Any]) -> None:
        if event.endswith("connect_tcp.complete"):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                deadline.watch(sock)

    return trace


@dataclass
class WebhookNotifier:
    """POSTs the Alertmanager-style JSON to each URL; signs it when a secret is set."""

    urls: list[str]
    secret: SecretStr | None = None
    receiver: str = "finsent"
    channel: Channel = Channel.WEBHOOK

    def targets(self) -> list[str]:
        return list(self.urls)

    def send(self, message: AlertMessage, *, target: str, deadline: Deadline) -> str:
        # The URL itself is never repeated in an error: webhook URLs often hold a token.
        problem = _http_url_problem(target)
        if problem is not None:
            raise DeliveryError(f"webhook target {problem}", failure=Failure.CONFIGURATION)
        body = json.dumps(webhook_payload(message, receiver=self.receiver)).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "finsent-alerts/0.1"}
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, self.secret.get_secret_value())
        # Each socket operation gets at most what is left; the whole exchange is bounded
        # by the deadline cutting the connection.
        timeout = httpx.Timeout(max(deadline.remaining(), 0.001))
        try:
            with (
                httpx.Client(timeout=timeout) as client,
                client.stream(
                    "POST",
                    target,
                    content=body,
                    headers=headers,
                    extensions={"trace": _watch_connections(deadline)},
                ) as response,
            ):
                # The status line and headers say it all; the body is never read, so a
                # receiver cannot make finsent hold an endless answer in memory.
                status, reason = response.status_code, response.reason_phrase
        except httpx.HTTPError as exc:
            if deadline.expired:
                raise DeliveryError(deadline.timeout_message()) from exc
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if 200 <= status < 300:
            return body.decode()
        # 429 and 5xx may pass later; any other answer (4xx, a redirect) will not.
        transient = status == 429 or status >= 500
        raise DeliveryError(
            f"HTTP {status} {reason}".strip(),
            failure=Failure.TRANSIENT if transient else Failure.PERMANENT,
        )


def email_recipients(target: str) -> list[str]:
    """The recipients of an email delivery: one address, or (in rows written before one
    delivery per recipient) several separated by commas."""
    return [part.strip() for part in target.split(",") if part.strip()]


class _WatchedSMTP(smtplib.SMTP):
    """smtplib's client with its connection registered with a deadline as soon as it
    exists, before the server's greeting is read."""

    def __init__(self, deadline: Deadline, host: str, port: int) -> None:
        self._deadline = deadline
        super().__init__(host, port, timeout=max(deadline.remaining(), 0.001))

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # smtplib's own hook for making the connection (SMTP_SSL overrides it too);
        # typeshed leaves it out.
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        self._deadline.watch(sock)
        return sock


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode(errors="replace") if isinstance(text, bytes) else text
    return f"SMTP {code} {message}".strip()


def _code_failure(code: int, *, on_5xx: Failure) -> Failure:
    return Failure.TRANSIENT if 400 <= code < 500 else on_5xx


@dataclass
class EmailNotifier:
    """Sends each alert event through SMTP, one transaction per recipient, so that each
    recipient's outcome is its own (a greylisted one is retried alone)."""

    host: str
    port: int
    sender: str
    recipients: list[str]
    user: str | None = None
    password: SecretStr | None = None
    starttls: bool = True
    channel: Channel = Channel.EMAIL

    def targets(self) -> list[str]:
        return list(self.recipients)

    def send(self, message: AlertMessage, *, target: str, deadline: Deadline) -> str:
        to = email_recipients(target)
        # Every copy shows the whole list in To:, as one message to the team would.
        mail = build_email(message, sender=self.sender, recipients=self.recipients or to)
        try:
            smtp = _WatchedSMTP(deadline, self.host, self.port)
        except smtplib.SMTPConnectError as exc:
            raise DeliveryError(
                _reply(exc.smtp_code, exc.smtp_error),
                failure=_code_failure(exc.smtp_code, on_5xx=Failure.PERMANENT),
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise self._transport_error(exc, deadline) from exc
        try:
            self._transact(smtp, mail, to)
        except DeliveryError:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            raise self._transport_error(exc, deadline) from exc
        finally:
            smtp.close()
        return email_text(message)

    def _transact(self, smtp: smtplib.SMTP, mail: EmailMessage, to: list[str]) -> None:
        code, text = smtp.ehlo()
        if 400 <= code < 500:
            raise DeliveryError(_reply(code, text))
        if self.starttls:
            if not smtp.has_extn("starttls"):
                raise DeliveryError(
                    "the SMTP server does not offer STARTTLS, and FINSENT_SMTP_STARTTLS is on",
                    failure=Failure.CONFIGURATION,
                )
            try:
                smtp.starttls(context=ssl.create_default_context())
            except ssl.SSLCertVerificationError as exc:
                raise DeliveryError(
                    f"the SMTP server's certificate does not verify: {exc.verify_message}",
                    failure=Failure.CONFIGURATION,
                ) from exc
            smtp.ehlo()
        if self.user:
            password = self.password.get_secret_value() if self.password else ""
            try:
                smtp.login(self.user, password)
            except smtplib.SMTPResponseException as exc:
                # 454: try later; 535 and friends: the credentials are wrong.
                raise DeliveryError(
                    "SMTP login refused: " + _reply(exc.smtp_code, exc.smtp_error),
                    failure=_code_failure(exc.smtp_code, on_5xx=Failure.CONFIGURATION),
                ) from exc
            except smtplib.SMTPException as exc:  # e.g. no AUTH offered, no common method
                raise DeliveryError(
                    f"SMTP login impossible: {exc}", failure=Failure.CONFIGURATION
                ) from exc
        try:
            refused = smtp.send_message(mail, from_addr=self.sender, to_addrs=to)
        except smtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients
            if len(refused) == len(to):
                raise _refusal(refused) from exc
        except smtplib.SMTPResponseException as exc:  # MAIL FROM or DATA refused
            raise DeliveryError(
                _reply(exc.smtp_code, exc.smtp_error),
                failure=_code_failure(exc.smtp_code, on_5xx=Failure.PERMANENT),
            ) from exc
        # The message is handed over; a slow or failed goodbye changes nothing.
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()
        if refused:  # only for a row that still lists several recipients
            error = _refusal(refused)
            raise DeliveryError(f"delivered to the others; {error}", failure=error.failure)

    @staticmethod
    def _transport_error(exc: Exception, deadline: Deadline) -> DeliveryError:
        if deadline.expired:
            return DeliveryError(deadline.timeout_message())
        return DeliveryError(f"{type(exc).__name__}: {exc}")


def _refusal(refused: dict[str, tuple[int, bytes]]) -> DeliveryError:
    """One error for refused recipients: transient if any refusal was a 4xx."""
    codes = [code for code, _ in refused.values()]
    failure = Failure.TRANSIENT if any(400 <= c < 500 for c in codes) else Failure.REFUSED
    if len(refused) == 1:
        ((code, text),) = refused.values()
        return DeliveryError(f"{_reply(code, text)} (at RCPT TO)", failure=failure)
    detail = "; ".join(f"{rcpt}: {_reply(code, text)}" for rcpt, (code, text) in refused.items())
    return DeliveryError(f"recipients refused at RCPT TO: {detail}", failure=failure)


@dataclass
class OutboxNotifier:
    """Writes each alert event as ``.eml`` and ``.json`` files, so nothing is lost."""

    folder: Path
    sender: str = "finsent@localhost"
    recipients: list[str] = field(default_factory=list)
    channel: Channel = Channel.OUTBOX

    def targets(self) -> list[str]:
        return [str(self.folder)]

    def send(self, message: AlertMessage, *, target: str, deadline: Deadline) -> str:
        folder = Path(target)
        moment = (message.ends_at if message.event == DeliveryEvent.RESOLVED else None) or (
            message.starts_at
        )
        stem = (
            f"{moment.strftime('%Y%m%dT%H%M%SZ')}-alert{message.alert_id}-"
            f"{message.fingerprint}-{message.event}"
        )
        body = json.dumps(webhook_payload(message), indent=2)
        mail = build_email(message, sender=self.sender, recipients=self.recipients)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{stem}.json").write_text(body, encoding="utf-8")
            (folder / f"{stem}.eml").write_bytes(mail.as_bytes())
        except OSError as exc:
            raise DeliveryError(f"cannot write to outbox {folder}: {exc}") from exc
        return body


def notifiers_from_settings(settings: Settings) -> list[Notifier]:
    """The configured channels; the outbox folder alone when none is configured."""
    notifiers: list[Notifier] = []
    if settings.webhook_urls:
        notifiers.append(
            WebhookNotifier(urls=list(settings.webhook_urls), secret=settings.webhook_secret)
        )
    if settings.smtp_host and settings.alert_email_to:
        notifiers.append(
            EmailNotifier(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.smtp_from,
                recipients=list(settings.alert_email_to),
                user=settings.smtp_user,
                password=settings.smtp_password,
                starttls=settings.smtp_starttls,
            )
        )
    if not notifiers:
        notifiers.append(
            OutboxNotifier(
                folder=settings.outbox_dir,
                sender=settings.smtp_from,
                recipients=list(settings.alert_email_to),
            )
        )
    return notifiers
