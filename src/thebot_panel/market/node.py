"""The graph's node base and its router: streamz nodes that cost a fraction of a microsecond per hop.

streamz's ``Stream._emit`` iterates a weak ordered set of downstreams on every element (a few µs per hop), and
``Stream.emit`` on an asynchronous source wraps the result for tornado (more µs). Our nodes subclass ``Node``,
whose ``_emit`` walks a tuple of the downstream weakrefs that is rebuilt only when a downstream is added or
removed (or collected). Sources are fed with ``push`` (synchronous: no node of ours returns a future).

``each`` is streamz's ``sink`` without its per-element check for a coroutine result (our sinks are plain
functions). ``route`` sends each event to the one downstream registered for its key (``source.route(key).select(k)``):
one dict lookup per event, whatever the number of markets, where a ``filter`` per market costs O(markets).
"""

from __future__ import annotations

import logging

from streamz import Stream
from streamz.orderedweakset import OrderedSet


log = logging.getLogger(__name__)


class _Downstreams(OrderedSet):
    """The ordered set of weakrefs inside a node's ``downstreams``, with a tuple of them kept for ``_emit``.

    ``weakref.WeakSet`` adds, discards and drops collected members through this set only, so ``refs`` is exact.
    """

    def __init__(self):
        super().__init__()
        self.refs: tuple = ()

    def add(self, value):
        super().add(value)
        self.refs = tuple(self._od)

    def discard(self, value):
        super().discard(value)
        self.refs = tuple(self._od)


class Node(Stream):
    """A streamz node with a cheap ``_emit`` (same semantics: every downstream's ``update`` in order, results
    gathered). Elements with streamz metadata take streamz's own path."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.downstreams.data = _Downstreams()

    def _emit(self, x, metadata=None):
        if metadata:
            return super()._emit(x, metadata=metadata)
        results = []
        for ref in self.downstreams.data.refs:
            downstream = ref()
            if downstream is not None:
                result = downstream.update(x, self)
                if type(result) is list:
                    results.extend(result)
                elif result is not None:
                    results.append(result)
        return results

    def push(self, x) -> list:
        """Feed ``x`` into the graph from here, synchronously (``emit`` without tornado's future wrapping)."""
        return self._emit(x)


@Stream.register_api()
class route(Node):
    """Routing node: passes each element to the ``select`` node registered for ``key(element)`` only (one dict
    lookup); elements whose key has no ``select`` node (or is None) go nowhere."""

    def __init__(self, upstream, key, **kwargs):
        self.key, self.routes = key, {}
        super().__init__(upstream, **kwargs)

    def update(self, x, who=None, metadata=None):
        target = self.routes.get(self.key(x))
        return None if target is None else target.update(x, self, metadata)


@Stream.register_api()
class select(Node):
    """The branch of a ``route`` for one key: emits the elements routed to ``key``. ``ValueError`` if the route
    already has a node for ``key``; ``destroy()`` frees the key."""

    def __init__(self, upstream: route, key, **kwargs):
        if key in upstream.routes:
            raise ValueError(f"the route already has a node for {key!r}")
        self.key = key
        super().__init__(upstream, **kwargs)
        upstream.routes[key] = self

    def update(self, x, who=None, metadata=None):
        return self._emit(x, metadata)

    def destroy(self, streams=None):
        for upstream in self.upstreams:
            if upstream.routes.get(self.key) is self:
                del upstream.routes[self.key]
        super().destroy(streams)


@Stream.register_api()
class each(Node):
    """Sink node: calls ``func(x)`` for every element (a plain function: its result is ignored) and emits
    nothing. An exception in ``func`` is logged and counted in ``errors``: one failing view or service does not
    keep the element from the graph's other sinks. Keep a reference to it (or ``destroy()`` it): unlike ``sink``,
    streamz does not hold it."""

    def __init__(self, upstream, func, **kwargs):
        self.func, self.errors = func, 0
        super().__init__(upstream, **kwargs)

    def update(self, x, who=None, metadata=None):
        try:
            self.func(x)
        except Exception:
            self.errors += 1
            log.exception("sink %r failed on a %s; the graph goes on", self.func, type(x).__name__)
