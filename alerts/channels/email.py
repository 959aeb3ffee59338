"""Alerts by email: plain text and HTML from templates, sent with smtplib over STARTTLS or
implicit TLS, certificates checked.

The SMTP conversation is driven step by step (MAIL, RCPT, DATA) so the server's exact reply is
kept for the delivery log and ``veye alerts test``. Blocking is fine: the dispatcher runs each
channel in its own thread."""

from __future__ import annotations

import email.policy
import email.utils
import ipaddress
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Literal

from alerts.channels.base import Message, RefusedError, RetryLaterError, SendResult
from alerts.channels.render import Templates, one_line
from alerts.errors import AlertsError, DeliveryError

__all__ = ["EmailChannel", "EmailSettings"]

Security = Literal["starttls", "tls", "none"]


@dataclass(frozen=True, slots=True)
class EmailSettings:
    """Where and how to send alert email."""

    name: str
    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    #: ``starttls`` upgrades a plain connection, ``tls`` is implicit TLS (port 465), ``none``
    #: sends in clear (allowed only to a loopback server).
    security: Security = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    #: Check the server's certificate and name (keep on; ``ca_file`` trusts a private CA).
    verify_tls: bool = True
    ca_file: str | None = None


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (where sending in clear harms no one)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class EmailChannel:
    """Sends each message as one email to every configured recipient."""

    def __init__(
        self,
        settings: EmailSettings,
        templates: Templates | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if settings.security == "none" and not is_loopback(settings.host):
            raise AlertsError(
                f"channel {settings.name}: security: none is only allowed to a loopback "
                f"server, not {settings.host}; use starttls or tls"
            )
        self.settings = settings
        self.templates = templates or Templates()
        self.clock = clock

    @property
    def name(self) -> str:
        return self.settings.name

    def close(self) -> None:
        """Nothing held between messages: each one is its own SMTP session."""

    # -- composing -------------------------------------------------------------------------

    def compose(self, message: Message) -> EmailMessage:
        """The email for ``message``. Headers take only configured values and sanitised one-line
        text, so no feed title can add or split a header."""
        s = self.settings
        try:
            subject = one_line(self.templates.render("subject.txt", message), limit=200)
            text = self.templates.render("email.txt", message)
            html = self.templates.render("email.html", message)
        except AlertsError as e:
            raise RefusedError(f"cannot render the message: {e}") from e
        domain = s.sender.rpartition("@")[2].strip("<> ") or "veye.invalid"
        msg = EmailMessage(policy=email.policy.SMTP)
        msg["Subject"] = subject or "veye alert"
        msg["From"] = s.sender
        msg["To"] = ", ".join(s.to)
        msg["Date"] = email.utils.format_datetime(self.clock().astimezone(UTC))
        msg["Message-ID"] = f"<{message.delivery_id}@{domain}>"
        follows = message.alerts[0].payload.get("update", {}).get("follows")
        if not message.is_digest and isinstance(follows, str) and _is_token(follows):
            msg["In-Reply-To"] = f"<{follows}@{domain}>"
            msg["References"] = f"<{follows}@{domain}>"
        msg["X-Veye-Delivery"] = message.delivery_id
        msg["X-Veye-Event"] = message.event
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(text, cte="quoted-printable")
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
        return msg

    # -- sending ---------------------------------------------------------------------------

    def send(self, message: Message) -> SendResult:
        msg = self.compose(message)
        s = self.settings
        where = f"{s.host}:{s.port}"
        try:
            smtp = self._connect()
        except DeliveryError:
            raise
        except (OSError, smtplib.SMTPException) as e:
            raise _wrap(where, e) from e
        try:
            return self._converse(smtp, msg, where)
        except DeliveryError:
            raise
        except (OSError, smtplib.SMTPException) as e:
            raise _wrap(where, e) from e
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()

    def _tls_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.settings.ca_file)
        if not self.settings.verify_tls:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "tls":
            return smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self._tls_context())
        return smtplib.SMTP(s.host, s.port, timeout=s.timeout)

    def _converse(self, smtp: smtplib.SMTP, msg: EmailMessage, where: str) -> SendResult:
        s = self.settings
        _expect(smtp.ehlo(), (250,), "EHLO", where)
        encrypted = s.security == "tls"
        if s.security == "starttls":
            if not smtp.has_extn("starttls"):
                raise RefusedError(
                    f"{where}: the server does not offer STARTTLS; refusing to send in clear "
                    "(use security: tls for port 465)"
                )
            _expect(smtp.starttls(context=self._tls_context()), (220,), "STARTTLS", where)
            _expect(smtp.ehlo(), (250,), "EHLO", where)
            encrypted = True
        if s.username:
            if not encrypted and not is_loopback(s.host):
                raise RefusedError(
                    f"{where}: refusing to send the SMTP password over an unencrypted "
                    "connection; use security: starttls or tls"
                )
            try:
                smtp.login(s.username, s.password or "")
            except smtplib.SMTPAuthenticationError as e:
                raise _reply_error(where, "AUTH", e.smtp_code, e.smtp_error) from e
            except smtplib.SMTPNotSupportedError as e:
                raise RefusedError(f"{where}: the server does not offer AUTH ({e})") from e
        _expect(smtp.mail(s.sender), (250,), "MAIL FROM", where)
        refused: dict[str, tuple[int, bytes]] = {}
        for rcpt in s.to:
            code, reply = smtp.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = (code, reply)
        if len(refused) == len(s.to):
            smtp.rset()
            codes = [c for c, _ in refused.values()]
            detail = "; ".join(f"{r}: {c} {_text(t)}" for r, (c, t) in refused.items())
            error = f"{where}: every recipient was refused ({detail})"
            if any(400 <= c < 500 for c in codes):
                raise RetryLaterError(error, status=codes[0], reply=detail)
            raise RefusedError(error, status=codes[0], reply=detail)
        code, reply = smtp.data(msg.as_bytes())
        answer = _text(reply)
        if code != 250:
            raise _reply_error(where, "DATA", code, reply)
        if refused:
            answer += "; refused: " + ", ".join(f"{r} ({c})" for r, (c, _) in refused.items())
        return SendResult(code, answer)


def _is_token(value: str) -> bool:
    return all(c.isalnum() or c == "-" for c in value) and 0 < len(value) <= 64


def _text(reply: bytes | str) -> str:
    raw = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return one_line(raw, limit=500)


def _expect(answer: tuple[int, bytes], ok: tuple[int, ...], step: str, where: str) -> None:
    code, reply = answer
    if code not in ok:
        raise _reply_error(where, step, code, reply)


def _reply_error(where: str, step: str, code: int, reply: bytes | str) -> DeliveryError:
    """4xx replies are temporary, 5xx permanent (RFC 5321)."""
    text = f"{code} {_text(reply)}"
    message = f"{where}: {step} answered {text}"
    if 500 <= code < 600:
        return RefusedError(message, status=code, reply=text)
    return RetryLaterError(message, status=code, reply=text)


def _wrap(where: str, e: Exception) -> DeliveryError:
    if isinstance(e, smtplib.SMTPResponseException):
        return _reply_error(where, "the server", e.smtp_code, e.smtp_error)
    if isinstance(e, socket.timeout | TimeoutError):
        return RetryLaterError(f"{where}: no answer in time ({e})")
    if isinstance(e, smtplib.SMTPServerDisconnected):
        return RetryLaterError(f"{where}: the server closed the connection ({e})")
    if isinstance(e, ssl.SSLCertVerificationError):
        return RetryLaterError(
            f"{where}: certificate check failed ({e.verify_message}); fix the server's "
            "certificate or set ca_file"
        )
    if isinstance(e, ssl.SSLError):
        return RetryLaterError(f"{where}: TLS failed ({e.reason or e})")
    return RetryLaterError(f"{where}: cannot reach the server ({e})")
