"""Signatures of fleet control messages, valid across a SECRET_KEY rotation.

A message carries one HMAC-SHA256 per key of its sender: SECRET_KEY, then each of
SECRET_KEY_FALLBACKS, each under a key derived for this purpose only (as
django.core.signing derives its keys). A receiver accepts it when any of those
signatures verifies under any of its own keys. During a rolling rotation, processes on
the new key (with the old one as a fallback) and processes still on the old key thus
understand each other in both directions, as Django's own signing does.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

# More keys than a rotation has; bounds the work a forged message can cost a receiver.
MAX_SIGNATURES = 8


def secret_keys() -> list[str]:
    """SECRET_KEY first, then the fallbacks, each once."""
    keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return list(dict.fromkeys(str(key) for key in keys))


def _signatures(message: dict[str, Any], purpose: str, keys: list[str]) -> list[str]:
    body = {key: value for key, value in message.items() if key != "sig"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return [
        salted_hmac(purpose, canonical, secret=key, algorithm="sha256").hexdigest() for key in keys
    ]


def sign(message: dict[str, Any], purpose: str) -> dict[str, Any]:
    """The message with `sig`: one signature per key of this process."""
    return {**message, "sig": _signatures(message, purpose, secret_keys())}


def problem(message: dict[str, Any], purpose: str) -> str | None:
    """None when a signature verifies under one of our keys, else "unsigned" or "forged"."""
    received = message.get("sig")
    if (
        not isinstance(received, list)
        or not received
        or not all(isinstance(sig, str) for sig in received)
    ):
        return "unsigned"
    if len(received) > MAX_SIGNATURES:
        return "forged"
    expected = _signatures(message, purpose, secret_keys())
    if any(constant_time_compare(sig, mine) for sig in received for mine in expected):
        return None
    return "forged"
