"""Every cache this process used, so that the close-caches hook can close them all.

Django keeps cache instances per thread and async context (like database connections),
so the hook's own thread sees none of them: each is remembered when a request ends.
"""

from __future__ import annotations

import threading
import weakref

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache


class SeenCaches:
    def __init__(self) -> None:
        self._seen: weakref.WeakSet[BaseCache] = weakref.WeakSet()
        self._lock = threading.Lock()

    def remember_used(self) -> None:
        """Remember the caches the calling thread (or async context) has opened."""
        used = caches.all(initialized_only=True)
        if used:
            with self._lock:
                self._seen.update(used)

    def close_all(self) -> None:
        """Close the connections of every cache seen (Redis, Memcached, ...)."""
        with self._lock:
            seen = {*self._seen, *caches.all(initialized_only=True)}
        for cache in seen:
            cache.close()
            if isinstance(cache, RedisCache):
                # RedisCache.close() is a no-op (its pools are meant to outlive requests); at
                # shutdown they must go, or Redis only learns of them when the process dies.
                for pool in getattr(cache._cache, "_pools", {}).values():
                    pool.disconnect()
