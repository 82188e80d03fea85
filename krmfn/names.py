"""Kubernetes-safe names, as the llm-d controller derived them."""

from __future__ import annotations

import re

from krmfn.krm.errors import FieldError

_OUTSIDE = re.compile(r"[^a-z0-9-]+")
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
MAX_LABEL = 63
_SECRET_NAME = re.compile(r"(?i)(TOKEN|SECRET|PASSWORD|API_?KEY)")


def is_secret_name(name: str) -> bool:
    """An env var named like a credential: its value is never copied into a message or
    a record."""
    return bool(_SECRET_NAME.search(name))


def sanitize(value: str, field: str = "") -> str:
    """Lower-case, runs outside [a-z0-9-] become one '-', trim '-._', cut to 63.

    >>> sanitize("ibm-granite/granite-3.3-2b-instruct")
    'ibm-granite-granite-3-3-2b-instruct'

    Raises FieldError, about `field`, for a value that sanitises to no valid label.
    """
    out = _OUTSIDE.sub("-", value.strip().lower()).strip("-._")[:MAX_LABEL]
    if not _DNS1123_LABEL.fullmatch(out):
        raise FieldError(
            f"{value!r} sanitises to {out!r}, which is not a valid DNS-1123 label"
            " (lower-case letters, digits and '-', starting and ending with a letter or digit,"
            " at most 63 characters)",
            field,
        )
    return out


def is_dns1123_subdomain(value: str) -> bool:
    return len(value) <= 253 and bool(_DNS1123_SUBDOMAIN.fullmatch(value))
