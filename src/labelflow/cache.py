"""Per-process caches of values computed from the database, invalidated by facts, not by time.

An entry is found by its key — what is cached and for whom (`what`, then the scope: the
viewer's visibility rule, a project id...) — and holds the tokens it was computed under. A
token is something the request reads from the database (in the transaction that would have
computed the value) which every fact changing the value changes in its own transaction: the
figures' `figures_versions` row, a project's version and chain head. A process whose tokens
differ recomputes, so a value cached by one process goes stale in all of them the moment the
fact commits. A value that also depends on the day has the Paris date among its tokens.

Check mode (`Settings.cache_check`, `LABELFLOW_CACHE_CHECK`, on in the test suite): every hit
is computed again and compared with what the cache holds; a difference raises `StaleCache`,
so a fact that forgets to change a token fails the test that shows it. The cached value is
still the one answered (callers may rely on its identity).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

_check = False


def configure(*, check: bool) -> None:
    """Set by `create_app` from the settings (the CLI keeps the default: no check)."""
    global _check
    _check = check


class StaleCache(AssertionError):
    """Check mode: a cached value differs from the value computed now (a missing token)."""


class Cache:
    """A bounded LRU of `key → (tokens, value)`, safe across the request threads."""

    def __init__(self, name: str, size: int = 256) -> None:
        self.name = name
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self._lock = threading.Lock()
        _caches.append(self)

    def get(self, key: Hashable, tokens: Hashable, compute: Callable[[], T]) -> T:
        """The value cached under `key` when computed under the same `tokens`, else
        `compute()`, kept. A token of None (nothing to be invalidated by) is never cached."""
        if tokens is None:
            return compute()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == tokens:
                self._entries.move_to_end(key)
            else:
                entry = None
        if entry is not None:
            if _check:
                fresh = compute()
                if fresh != entry[1]:
                    raise StaleCache(
                        f"Cache « {self.name} » : la valeur gardée pour {key!r} sous {tokens!r} "
                        "n'est plus celle que la base donne (un fait ne change pas ce jeton)."
                    )
            return entry[1]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            self._entries[key] = (tokens, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def hit(self, key: Hashable, tokens: Hashable) -> Any:
        """The value cached under `key` and `tokens`, or None (and None in check mode, where a
        hit is computed again: `get`). For an async caller that computes only on a miss, in
        the thread pool."""
        if _check or tokens is None:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != tokens:
                return None
            self._entries.move_to_end(key)
        return entry[1]

    def peek(self, key: Hashable) -> Any:
        """The value kept under `key` whatever its tokens (None: none is), to read beside the
        tokens what a hit would need (`pipeline.cached_page`); `get` still decides."""
        with self._lock:
            entry = self._entries.get(key)
        return None if entry is None else entry[1]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# Every cache of this process (module-level singletons), for `clear_all`.
_caches: list[Cache] = []


def clear_all() -> None:
    """Empty every cache of this process: what a request costs the first time after a fact
    (bench/served.py counts its statements so)."""
    for one in _caches:
        one.clear()
