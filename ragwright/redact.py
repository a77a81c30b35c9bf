"""Secret redaction for every text that leaves the process: error replies, CLI lines, logs.

A provider's error body, an exception message or a log line can carry what the
request carried: an ``Authorization`` header echoed back by a proxy, an API key
in a query string, a password inside a database URL. :func:`redact` replaces
such values with ``[redacted]`` wherever errors leave ragwright (the HTTP
server's error replies, the CLI's error lines, ragwright's log records through
:class:`RedactingFilter`, the eval reports). It works on shapes, so it needs no
configuration, and also on the exact values the settings hold: every setting
loaded by :func:`ragwright.settings.load_settings` registers its secrets with
:func:`register_secrets`, like a CI system's masked variables.

:func:`mask_url` is the structured twin for values known to be URLs
(``ragwright config``): it keeps the URL readable and masks only the password
and secret query parameters.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import re
import threading
import traceback
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote, urlsplit, urlunsplit

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "MASK",
    "REDACTED",
    "RedactingFilter",
    "install_log_redaction",
    "mask_url",
    "redact",
    "register_secrets",
    "secret_values",
]

REDACTED = "[redacted]"
"""What :func:`redact` puts where a secret was."""

MASK = "**********"
"""What :func:`mask_url` and ``Settings.masked()`` put where a secret was (pydantic's mask)."""

MIN_SECRET_LENGTH = 6
"""Shorter registered values are not replaced verbatim: "pw" would shred ordinary text."""

# fmt: off
SECRET_KEYS = frozenset({
    "access_token", "api_key", "apikey", "auth_token", "client_secret", "id_token", "key",
    "passwd", "password", "private_token", "pwd", "refresh_token", "secret", "session_token",
    "sig", "signature", "token", "x_api_key",
})
# fmt: on
"""Query-string and ``key=value`` names whose value is a credential (``-`` reads as ``_``)."""


class _Patterns(NamedTuple):
    authorization: re.Pattern[str]
    bearer: re.Pattern[str]
    basic: re.Pattern[str]
    url_password: re.Pattern[str]
    key_value: re.Pattern[str]
    key_shapes: re.Pattern[str]


@functools.cache
def _patterns() -> _Patterns:
    """The credential shapes, compiled on first use: the CLI's start-up does not pay for them."""
    names = "|".join(
        sorted((re.escape(k).replace("_", "[_-]?") for k in SECRET_KEYS), key=len, reverse=True)
    )
    return _Patterns(
        # Authorization: <anything up to the end of the value>
        authorization=re.compile(
            r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)([^\"'\r\n,}]+)"
        ),
        bearer=re.compile(r"(?i)\b(bearer\s+)([A-Za-z0-9._~+/-]{8,}=*)"),
        basic=re.compile(r"(?i)\b(basic\s+)([A-Za-z0-9+/]{6,}={0,2})"),
        # scheme://user:password@host -> the password; greedy up to the authority's last @
        url_password=re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/?#:@]*:)([^\s/?#]*)(@)"),
        # name=value, name: value, "name": "value"; the name must not continue a longer
        # word (max_tokens=50 is not a token); a value never starts with "[" ([redacted])
        key_value=re.compile(
            rf"(?i)(?<![A-Za-z0-9_-])((?:{names})[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;<>}}\[\]]+)"
        ),
        key_shapes=re.compile(
            r"\b(?:"
            r"sk-[A-Za-z0-9_-]{16,}"  # OpenAI (sk-, sk-proj-), Anthropic (sk-ant-)
            r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub
            r"|xox[abprs]-[A-Za-z0-9-]{10,}"  # Slack
            r"|AKIA[0-9A-Z]{16}"  # AWS access key id
            r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
            r"|hf_[A-Za-z0-9]{20,}"  # Hugging Face
            r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # a JWT
            r")"
        ),
    )


_lock = threading.Lock()
_registered: frozenset[str] = frozenset()


def register_secrets(values: Iterable[str]) -> None:
    """Remember exact secret values (an API key, a password) that :func:`redact` must remove.

    Process-wide, because errors surface far from where settings were read; values
    shorter than ``MIN_SECRET_LENGTH`` are ignored.
    """
    global _registered  # noqa: PLW0603 - one registry per process, like logging's
    fresh = {v for v in values if len(v) >= MIN_SECRET_LENGTH}
    if fresh - _registered:
        with _lock:
            _registered = _registered | fresh


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with credentials replaced by ``[redacted]``.

    Removes the registered and given ``secrets`` wherever they occur, verbatim or
    URL-encoded, then anything shaped like a credential: ``Authorization``
    values, bearer and basic credentials, passwords in URLs, ``api_key=``-style
    values, well-known key formats (``sk-...``, ``ghp_...``, ``AKIA...``, JWTs).
    Already redacted text passes unchanged.
    """
    # Known values first, whole: a shape could otherwise cut one in two ("secret:1").
    known = _registered | {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
    for secret in sorted(known, key=len, reverse=True):  # a key containing another goes first
        text = text.replace(secret, REDACTED)
        encoded = quote(secret, safe="")
        if encoded != secret:
            text = text.replace(encoded, REDACTED)
    shapes = _patterns()
    text = shapes.authorization.sub(rf"\1{REDACTED}", text)
    text = shapes.bearer.sub(rf"\1{REDACTED}", text)
    text = shapes.basic.sub(_basic_credentials, text)
    text = shapes.url_password.sub(rf"\1{REDACTED}\3", text)
    text = shapes.key_value.sub(rf"\1{REDACTED}", text)
    text = shapes.key_shapes.sub(REDACTED, text)
    return text


def _basic_credentials(match: re.Match[str]) -> str:
    """Only real ``Basic`` credentials (base64 of ``user:password``), not "basic settings"."""
    try:
        decoded = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    return f"{match.group(1)}{REDACTED}" if b":" in decoded else match.group(0)


def mask_url(value: str) -> str:
    """A URL with its password and secret query or fragment values replaced by ``MASK``.

    ``user:pw@host`` keeps the user; userinfo without a password (``https://TOKEN@host``,
    the usual way to put a token in a URL) is masked whole. Anything that is not a
    URL with ``://`` comes back unchanged.
    """
    if "://" not in value:
        return value
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if has_password else f"{MASK}@{host}"
    query, fragment = _mask_params(parts.query), _mask_params(parts.fragment)
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return value  # untouched: keep the original spelling
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def _mask_params(params: str) -> str:
    """``a=1&token=x`` -> ``a=1&token=MASK``, leaving every other byte as written."""
    pieces = []
    for piece in params.split("&"):
        name, has_value, _ = piece.partition("=")
        secret = has_value and name.lower().replace("-", "_") in SECRET_KEYS
        pieces.append(f"{name}={MASK}" if secret else piece)
    return "&".join(pieces)


def secret_values(model: BaseModel) -> list[str]:
    """Every secret a settings object holds: ``SecretStr`` values, URL passwords, URL tokens.

    Walks nested models, lists and mappings, so a secret is found wherever a
    setting carries it; :func:`ragwright.settings.load_settings` registers them.
    """
    found: list[str] = []
    _collect(model.model_dump(), found)
    return found


def _collect(value: Any, found: list[str]) -> None:
    from pydantic import SecretStr

    if isinstance(value, SecretStr):
        found.append(value.get_secret_value())
    elif isinstance(value, Mapping):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect(item, found)
    elif isinstance(value, str) and "://" in value:
        found.extend(_url_secrets(value))


def _url_secrets(value: str) -> list[str]:
    from urllib.parse import unquote

    try:
        parts = urlsplit(value)
    except ValueError:
        return []
    found = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, has_password, password = userinfo.partition(":")
        found.extend([password, unquote(password)] if has_password else [user, unquote(user)])
    for params in (parts.query, parts.fragment):
        for piece in params.split("&"):
            name, _, secret = piece.partition("=")
            if secret and name.lower().replace("-", "_") in SECRET_KEYS:
                found.extend([secret, unquote(secret)])
    return found


class RedactingFilter(logging.Filter):
    """Rewrites a log record's message and traceback with :func:`redact`; drops nothing.

    Attach it to the handlers ragwright's records reach (:func:`install_log_redaction`
    does this for the CLI, ``ragwright serve`` for uvicorn's handlers). The rewrite
    happens in place, so handlers after this one see the redacted record too.
    """

    def __init__(self, name: str = "", secrets: Iterable[str] = ()) -> None:
        super().__init__(name)
        self.secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken %-format: leave it to the handler to report
            return True
        clean = redact(message, self.secrets)
        if clean != message and not self._redact_args(record):
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True

    def _redact_args(self, record: logging.LogRecord) -> bool:
        """Redact the template and its arguments apart, if that leaves no secret.

        Some formatters read ``record.args`` themselves (uvicorn's access log
        unpacks the client, method, path, ...), so a record keeps its shape when
        it can; otherwise the caller collapses it into one redacted message.
        """
        if not isinstance(record.msg, str) or not isinstance(record.args, tuple):
            return False
        msg = redact(record.msg, self.secrets)
        args = tuple(redact(a, self.secrets) if isinstance(a, str) else a for a in record.args)
        try:
            rebuilt = msg % args if args else msg
        except (TypeError, ValueError):
            return False
        if redact(rebuilt, self.secrets) != rebuilt:
            return False  # a secret spans template and argument ("api_key=%s")
        record.msg, record.args = msg, args
        return True


_HANDLER_MARK = "_ragwright_redacting_handler"


def install_log_redaction(logger_name: str = "ragwright") -> logging.Handler:
    """Send ``logger_name``'s records to stderr through a :class:`RedactingFilter`.

    Without this, ragwright's warnings reach Python's last-resort handler (or
    whatever handler a library put on the root logger) unredacted; this handler
    prints them the same way (the bare message, warnings and up) and stops them
    from propagating, so nothing prints them twice. Calling it again replaces
    the handler it installed before.
    """
    logger = logging.getLogger(logger_name)
    for old in [h for h in logger.handlers if getattr(h, _HANDLER_MARK, False)]:
        logger.removeHandler(old)
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    handler.addFilter(RedactingFilter())
    setattr(handler, _HANDLER_MARK, True)
    logger.addHandler(handler)
    logger.propagate = False
    return handler
