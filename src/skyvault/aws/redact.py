"""Secrets out of log records: a ``logging.Filter`` that rewrites every record before a handler formats it.

At ``-vv`` botocore logs request headers (``Authorization: AWS4-HMAC-SHA256 ... Signature=...``,
``X-Amz-Security-Token``), the canonical request it signs, the signature, and raw response bodies, among them
the AssumeRole response with the tenant role's ``SecretAccessKey`` and ``SessionToken``. ``SecretRedactor``
replaces those values with ``[redacted]`` whatever shape they come in (XML elements, dict/JSON keys, HTTP
header lines, query parameters), and remembers each secret it saw so that the same value is redacted wherever
else it shows up later (a token echoed in another message). Values known up front (a library passphrase) are
added with ``add_secret``.

Installed on handlers, not loggers: a logger's filters do not see records that propagate from child loggers
(``botocore.endpoint`` ...), a handler's filters see every record it is about to emit.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback

REDACTED = "[redacted]"
MIN_REMEMBERED_LENGTH = 8  # shorter values are too likely to be ordinary words to redact everywhere
MAX_REMEMBERED = 256

# Names whose values are secrets, in any casing, as XML elements, dict/JSON keys, header names or query keys.
SECRET_NAMES = (
    "SecretAccessKey",
    "aws_secret_access_key",
    "secret_key",
    "SessionToken",
    "aws_session_token",
    "SecurityToken",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
    "Authorization",
    "Signature",
    "Password",
    "MasterUserPassword",
    "passphrase",
    "token",
    "X-Skyvault-Lab-Token",
)
_NAMES = "|".join(re.escape(name) for name in sorted(SECRET_NAMES, key=len, reverse=True))

# <SecretAccessKey>value</SecretAccessKey> (STS, IAM query protocol responses).
_XML = re.compile(rf"<(?P<name>{_NAMES})>(?P<value>[^<]*)</(?P=name)>", re.IGNORECASE)
# 'SessionToken': 'value' / "SessionToken": "value" / 'Authorization': b'value' (dict reprs, JSON bodies) and
# secret_key='value' (dataclass and namedtuple reprs such as botocore's frozen credentials).
_QUOTED = re.compile(
    rf"(?P<key>(?:(?P<q>['\"])(?:{_NAMES})(?P=q)|\b(?:{_NAMES}))\s*[:=]\s*b?)"
    rf"(?P<vq>['\"])(?P<value>(?:\\.|(?!(?P=vq)).)*)(?P=vq)",
    re.IGNORECASE,
)
# x-amz-security-token:value / Authorization: value (header lines of a canonical request or a raw request).
_HEADER_LINE = re.compile(rf"(?P<key>(?:^|(?<=\\n)|(?<=\n))(?:{_NAMES}):[ \t]*)(?P<value>[^\r\n\\]+)", re.IGNORECASE)
# X-Amz-Security-Token=value& (presigned URLs, query strings), Signature=hex (inside an Authorization value).
_ASSIGNED = re.compile(rf"(?P<key>\b(?:{_NAMES})=)(?P<value>[^&\s'\",;\\]+)", re.IGNORECASE)
# botocore.auth logs "Signature:\n<hex>" on its own.
_SIGNATURE_DUMP = re.compile(r"(?P<key>Signature:\s*\n)(?P<value>[0-9a-f]{64})")


class SecretRedactor(logging.Filter):
    """Rewrites each record's message (arguments merged in), exception text and stack text with secrets redacted."""

    def __init__(self) -> None:
        super().__init__()
        self._known: list[str] = []
        self._lock = threading.Lock()

    def add_secret(self, value: str | None) -> None:
        """Redact this exact value wherever it appears from now on (a passphrase, a key read from a file)."""
        if not value or len(value) < MIN_REMEMBERED_LENGTH or value == REDACTED:
            return
        with self._lock:
            if value in self._known:
                return
            self._known.append(value)
            if len(self._known) > MAX_REMEMBERED:
                del self._known[0]

    def redact(self, text: str) -> str:
        """``text`` with every secret value replaced by ``[redacted]``."""
        for pattern in (_XML, _QUOTED, _HEADER_LINE, _SIGNATURE_DUMP, _ASSIGNED):
            text = pattern.sub(self._replace, text)
        with self._lock:
            known = list(self._known)
        for value in known:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def _replace(self, match: re.Match[str]) -> str:
        value = match.group("value")
        if value.strip() in ("", REDACTED):
            return match.group(0)
        self.add_secret(value.strip())
        start, end = match.span("value")
        whole_start = match.start(0)
        text = match.group(0)
        return text[: start - whole_start] + REDACTED + text[end - whole_start :]

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: show its template and arguments, still redacted
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


# One per process: secrets learnt from one record (or added by the CLI) are redacted on every handler.
PROCESS_REDACTOR = SecretRedactor()


def install(handlers: list[logging.Handler], redactor: SecretRedactor = PROCESS_REDACTOR) -> SecretRedactor:
    """Put ``redactor`` on each handler that has no redactor yet; returns it so callers can add known secrets."""
    for handler in handlers:
        if not any(isinstance(f, SecretRedactor) for f in handler.filters):
            handler.addFilter(redactor)
    return redactor
