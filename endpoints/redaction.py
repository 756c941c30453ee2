"""Keeping credentials out of what people read: reprs, logs, error messages, saved specs.

One module decides what counts as a secret, so every place that formats a URL, a header or
a log line agrees:

* a URL's user info (``https://user:password@host/...``) is never shown;
  :func:`split_user_info` takes it out of the URL so that it can be sent as a header;
* an HTTP header's value is shown only for headers on :data:`HARMLESS_HEADERS` (content
  negotiation, the user agent, SageMaker's routing and custom-attribute headers). Any other
  header may carry a credential (``X-Api-Key``, ``X-Auth-Token``, ``Cookie``, a vendor's
  own), so its value is masked: an allowlist fails safe where a list of known credential
  headers cannot;
* botocore's DEBUG log lines carry the session token and the request signature;
  :func:`install_botocore_log_filter` masks them (the library installs it whenever it builds
  a boto3 client; call it yourself for clients you build).

The request actually sent is the one place the real values go.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = [
    "HARMLESS_HEADERS",
    "MASK",
    "SecretsLogFilter",
    "install_botocore_log_filter",
    "is_harmless_header",
    "redact_headers",
    "redact_text",
    "redact_url",
    "split_user_info",
]

#: What a secret looks like wherever it would have been shown.
MASK = "**********"

#: Headers whose values are shown and saved (lower case). Everything else is masked.
HARMLESS_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "content-encoding",
        "content-language",
        "content-type",
        "user-agent",
        "x-amzn-sagemaker-inference-component",
        "x-amzn-sagemaker-target-container-hostname",
        "x-amzn-sagemaker-target-model",
        "x-amzn-sagemaker-target-variant",
    }
)
#: SageMaker's ``X-Amzn-SageMaker-Custom-Attributes`` and its kin are routing data.
_HARMLESS_PATTERN = re.compile(r"^x-amzn-[a-z0-9-]*-attributes$")


def is_harmless_header(name: str) -> bool:
    """True for headers whose values may be shown: see :data:`HARMLESS_HEADERS`."""
    lowered = name.strip().lower()
    return lowered in HARMLESS_HEADERS or bool(_HARMLESS_PATTERN.match(lowered))


def redact_headers(headers: Mapping[str, object]) -> dict[str, str]:
    """``headers`` with every value but the harmless ones replaced by :data:`MASK`."""
    return {
        name: (str(value) if is_harmless_header(name) else MASK) for name, value in headers.items()
    }


def split_user_info(url: str) -> tuple[str, str | None]:
    """``("https://host/path", "user:password")`` for ``"https://user:password@host/path"``;
    the user info is percent-decoded, ``None`` when the URL has none."""
    parts = urlsplit(url)
    user_info, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, None
    return urlunsplit(parts._replace(netloc=host)), unquote(user_info)


def redact_url(url: str) -> str:
    """``url`` with its user info, if any, replaced by :data:`MASK`."""
    clean, user_info = split_user_info(url)
    if user_info is None:
        return url
    parts = urlsplit(clean)
    return urlunsplit(parts._replace(netloc=f"{MASK}@{parts.netloc}"))


# -- log lines -----------------------------------------------------------------------------

#: Names whose values are credentials in botocore's logs: signed-request headers, the
#: presigned-URL query, and the fields of STS / container credential responses.
_SECRET_NAMES = (
    r"x-amz-security-token|authorization|x-amz-signature|x-amz-credential"
    r"|aws_secret_access_key|aws_session_token|secretaccesskey|sessiontoken|token"
)
_SECRET_PATTERNS = tuple(
    re.compile(pattern, flags)
    for pattern, flags in (
        # {'X-Amz-Security-Token': b'...'}, "SessionToken": "..."
        (
            rf"""(?P<head>['"](?:{_SECRET_NAMES})['"]\s*:\s*b?(?P<q>['"]))(?P<value>.*?)(?=(?P=q))""",
            re.I,
        ),
        # x-amz-security-token:... on its own line (botocore.auth's CanonicalRequest)
        (rf"(?P<head>^(?:{_SECRET_NAMES}):)(?P<value>[^\n]*)", re.I | re.M),
        # X-Amz-Security-Token=... in a query string
        (rf"(?P<head>\b(?:{_SECRET_NAMES})=)(?P<value>[^&\s'\"]+)", re.I),
        # <SessionToken>...</SessionToken> in an XML response body
        (rf"(?P<head><(?:{_SECRET_NAMES})>)(?P<value>[^<]*)(?=</)", re.I),
        # Signature:\n<hex> (botocore.auth)
        (r"(?P<head>^Signature:\n)(?P<value>[0-9a-f]{64})", re.M),
    )
)


def redact_text(text: str) -> str:
    """``text`` with credential values, in the forms botocore logs them, masked."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda match: match.group("head") + MASK, text)
    return text


class SecretsLogFilter(logging.Filter):
    """Rewrites a log record's message through :func:`redact_text`; drops nothing.

    A filter on a logger runs only for records logged *at that logger*, not for records
    passing through it from children, so it is installed on each botocore logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_FILTER = SecretsLogFilter()
#: Loggers that print signed requests or credential responses, created here if botocore has
#: not imported them yet, so the filter is in place before their first record.
_KNOWN_LOGGERS = ("botocore.auth", "botocore.endpoint", "botocore.parsers", "botocore.hooks")


def install_botocore_log_filter() -> None:
    """Puts :class:`SecretsLogFilter` on every ``botocore`` / ``boto3`` logger (once each).

    With the root logger at DEBUG, botocore logs each signed request — session token and
    signature included. Idempotent and cheap: the library calls it whenever it builds a
    client, which also covers loggers of botocore modules imported since the last call."""
    names = [
        name
        for name in list(logging.Logger.manager.loggerDict)
        if name.split(".", 1)[0] in ("botocore", "boto3")
    ]
    for name in {*names, *_KNOWN_LOGGERS}:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
