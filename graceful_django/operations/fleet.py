"""Reaching every server process of the project through the channel layer: `drain --fleet`.

Each server process listens on a channel of its own, added to the project's group
(GRACEFUL_FLEET_GROUP, by default derived from SECRET_KEY and the settings module). The
command sends one control message to the group and collects the replies on a reply
channel of its own. Anyone who can write to the Redis can write to the group, so every
message carries HMACs (`signing.py`: under SECRET_KEY and each of SECRET_KEY_FALLBACKS),
a timestamp and a nonce; unsigned, forged, stale and replayed messages are ignored and
counted (`fleet_rejected` in the status). Replies are signed too, and bound to the
request's nonce.

The default group is derived from the settings module alone, not from SECRET_KEY: a
rotation must not split the fleet into two groups.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from typing import Any

from django.conf import settings

from ..conf import conf
from .ops import OPS, answer, bad_options
from .signing import problem, sign
from .status import StatusFeed

logger = logging.getLogger("graceful_django")

REQUEST_PURPOSE = "graceful_django.fleet.request"
REPLY_PURPOSE = "graceful_django.fleet.reply"
MESSAGE_TYPE = "graceful.control"
# Clocks of a fleet agree to NTP precision; a message older than this is a replay.
MAX_AGE = 30.0
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)


def default_group() -> str:
    # A name, not a secret: the signatures keep other projects on the same Redis out.
    digest = hashlib.sha256(f"graceful_django.fleet.group:{settings.SETTINGS_MODULE}".encode())
    return f"graceful_django.{digest.hexdigest()[:24]}"


def group_name() -> str:
    return conf.GRACEFUL_FLEET_GROUP or default_group()


def is_cross_process(layer: Any) -> bool:
    from channels.layers import InMemoryChannelLayer

    return layer is not None and not isinstance(layer, InMemoryChannelLayer)


def request(op: str, reply_to: str, follow: float, *, delay: bool = True) -> dict[str, Any]:
    """A control message; `follow`: seconds the sender waits for progress; `delay`: a drain
    honours GRACEFUL_PRE_DRAIN_DELAY."""
    message = {
        "type": MESSAGE_TYPE,
        "op": op,
        "reply_to": reply_to,
        "follow": follow,
        "delay": delay,
        "ts": time.time(),
        "nonce": secrets.token_hex(16),
    }
    return sign(message, REQUEST_PURPOSE)


def reply_is_genuine(reply: dict[str, Any], nonce: str) -> bool:
    return reply.get("nonce") == nonce and problem(reply, REPLY_PURPOSE) is None


class Verifier:
    """Accepts each genuine, fresh request once; counts the rest by reason."""

    def __init__(self, max_age: float = MAX_AGE) -> None:
        self.max_age = max_age
        self.seen: dict[str, float] = {}
        self.rejected = {"unsigned": 0, "forged": 0, "stale": 0, "replayed": 0}

    def reason_to_reject(self, message: dict[str, Any]) -> str | None:
        signature_problem = problem(message, REQUEST_PURPOSE)
        if signature_problem is not None:
            return signature_problem
        now = time.time()
        sent = message.get("ts")
        if not isinstance(sent, (int, float)) or abs(now - sent) > self.max_age:
            return "stale"
        # Nonces older than max_age can go: their messages are stale anyway.
        self.seen = {nonce: at for nonce, at in self.seen.items() if now - at <= self.max_age}
        nonce = str(message.get("nonce"))
        if nonce in self.seen:
            return "replayed"
        self.seen[nonce] = now
        return None

    def check(self, message: Any) -> bool:
        reason = self.reason_to_reject(message if isinstance(message, dict) else {})
        if reason is None:
            return True
        self.rejected[reason] += 1
        logger.warning("ignored a %s fleet control message", reason)
        return False


class FleetListener:
    def __init__(self, layer: Any, group: str, feed: StatusFeed) -> None:
        self.layer = layer
        self.group = group
        self.feed = feed
        self.verifier = Verifier()
        self.channel: str | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # Redis away: keep serving, try again later
                delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
                failures += 1
                logger.warning("fleet control unavailable (%s); retrying in %.0fs", error, delay)
                await asyncio.sleep(delay)

    async def _listen(self) -> None:
        if self.channel is None:
            # The default prefix: channels_redis serves all of a process's channels through
            # one receive lock, and a receiver holding it waits (up to 5 s) in Redis on its
            # own prefix's key only, so another prefix stalls every consumer's messages.
            self.channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self.channel)
        logger.info("fleet control on channel layer group %s", self.group)
        while True:
            message = await self.layer.receive(self.channel)
            if self.verifier.check(message):
                self._spawn(self._handle(message))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _reply(self, message: dict[str, Any], body: dict[str, Any]) -> None:
        reply = {**body, "nonce": message["nonce"], "ts": time.time()}
        await self.layer.send(message["reply_to"], sign(reply, REPLY_PURPOSE))

    async def _handle(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        error = f"unknown op {op!r}" if op not in OPS else bad_options(message)
        if error is not None:
            await self._reply(message, {"ok": False, "error": error})
            return
        reply = answer(str(op), self.feed, delay=message.get("delay", True))
        await self._reply(message, reply)
        if op != "drain" or reply["status"]["drained"]:
            return
        follow = message.get("follow")
        seconds = max(0.0, float(follow)) if isinstance(follow, (int, float)) else 0.0
        statuses = self.feed.watch()
        try:
            async with asyncio.timeout(seconds):
                async for status in statuses:
                    await self._reply(message, {"ok": True, "op": "progress", "status": status})
                    if status["drained"]:
                        return
        except TimeoutError:
            pass  # the sender has stopped waiting
        finally:
            await statuses.aclose()

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.channel is not None:
            await self.layer.group_discard(self.group, self.channel)
