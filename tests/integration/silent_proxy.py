"""A Temporal frontend that answers some calls and then goes silent: a TCP proxy in
front of a real server that forwards the first `answered` gRPC calls and then holds
every byte both ways, connections open, as a frozen server or a stalled network does.

Calls are counted by the HTTP/2 frames the client sends: each call opens a new stream
with a HEADERS frame (plaintext gRPC; the tests' servers use no TLS). `thaw()` lets the
held bytes through again, as a server that comes back does.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_HEADERS = 0x1


class SilentProxy:
    def __init__(self, target: str, answered: int) -> None:
        self.target = target
        self.answered = answered
        self.calls = 0
        self._open = asyncio.Event()
        self._open.set()
        self.silent = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._streams: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.address = ""

    def thaw(self) -> None:
        self.answered = 1 << 60
        self._open.set()

    async def __aenter__(self) -> "SilentProxy":
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.address = f"{host}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._streams:
            writer.close()
        for handler in self._handlers:
            handler.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        # Cancelled when the proxy closes: the end of this connection, not a failure.
        with contextlib.suppress(asyncio.CancelledError):
            await self._forward(client_reader, client_writer)

    async def _forward(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        host, port = self.target.rsplit(":", 1)
        server_reader, server_writer = await asyncio.open_connection(host, int(port))
        self._streams |= {client_writer, server_writer}
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            await asyncio.gather(
                self._pipe(self._client_frames(client_reader), server_writer),
                self._pipe(_chunks(server_reader), client_writer),
            )
        for writer in (client_writer, server_writer):
            writer.close()

    async def _pipe(self, chunks: AsyncIterator[bytes], writer: asyncio.StreamWriter) -> None:
        async for chunk in chunks:
            await self._open.wait()
            writer.write(chunk)
            await writer.drain()

    async def _client_frames(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        """The client's bytes frame by frame, going silent before the first frame of the
        call after the last one answered."""
        yield await reader.readexactly(len(_PREFACE))
        while True:
            header = await reader.readexactly(9)
            length = int.from_bytes(header[:3], "big")
            if header[3] == _HEADERS:
                self.calls += 1
                if self.calls > self.answered:
                    self._open.clear()
                    self.silent.set()
            yield header + await reader.readexactly(length)


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while chunk := await reader.read(65536):
        yield chunk
