"""A TCP proxy between the client and `runnel serve` that cuts connections on request."""

from __future__ import annotations

import asyncio
import contextlib


class Proxy:
    """Forwards 127.0.0.1:port -> target. ``cut()`` kills every current connection (both
    sides, like a network failure); ``freeze()`` silently stops forwarding on them (a dead
    link the client must notice by missing pongs); ``refuse()`` stops accepting new ones."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.accepted = 0
        self.cuts = 0
        self.refusing = False
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    def cut(self) -> int:
        """Abort every open connection; returns how many."""
        links = list(self._links)
        for link in links:
            link.abort()
        self._links.clear()
        self.cuts += 1
        return len(links)

    def freeze(self) -> int:
        """Stop forwarding on every open connection, without closing it."""
        for link in self._links:
            link.frozen = True
        return len(self._links)

    def refuse(self) -> None:
        """Close every connection and every new one at once (the server looks gone)."""
        self.refusing = True
        self.cut()

    def accept_again(self) -> None:
        """Undo ``refuse()``."""
        self.refusing = False

    def open_connections(self) -> int:
        return len(self._links)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        link = _Link(writer, upstream_writer)
        self._links.add(link)
        await asyncio.gather(
            link.pipe(reader, upstream_writer),
            link.pipe(upstream_reader, writer),
            return_exceptions=True,
        )
        link.abort()
        self._links.discard(link)


class _Link:
    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream = upstream
        self.frozen = False
        self.closed = False

    async def pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while not self.closed:
            data = await source.read(65536)
            if not data:
                break
            if self.frozen:
                continue
            sink.write(data)
            await sink.drain()
        self.abort()

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            self.client.transport.abort()
            self.upstream.transport.abort()
