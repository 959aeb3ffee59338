"""Content-Encoding decoded by hand, with a hard cap on what decompression may produce.

An HTTP client would decode for us, but it hands over whatever one compressed chunk expands
to: a few kilobytes of gzip can become gigabytes in one step. Here every step asks zlib for at
most the room left under the cap, so memory never exceeds the cap plus one network chunk."""

from __future__ import annotations

import zlib

from crawler.errors import FetchError, TooLarge

__all__ = ["SUPPORTED_ENCODINGS", "BoundedDecoder"]

#: What we advertise in ``Accept-Encoding`` and can undo.
SUPPORTED_ENCODINGS = "gzip, deflate"
_GZIP_OR_ZLIB = zlib.MAX_WBITS | 32  # zlib detects either header
_RAW_DEFLATE = -zlib.MAX_WBITS


class _Inflater:
    """One gzip/deflate layer. Accepts concatenated gzip members and raw deflate where a
    server mislabels it, and ignores junk after a complete member (as browsers do)."""

    def __init__(self, allow_raw: bool) -> None:
        self._d = zlib.decompressobj(_GZIP_OR_ZLIB)
        self._allow_raw = allow_raw
        self._started = False
        self._members = 0
        self._ignore_rest = False

    def decode(self, data: bytes, room: int) -> tuple[bytes, bytes]:
        """Decode at most ``room`` bytes of ``data``; return them and the input left over."""
        if self._ignore_rest:
            return b"", b""
        if self._d.eof:
            if not data.strip(b"\0"):
                return b"", b""  # padding after the last member
            self._members += 1
            self._d = zlib.decompressobj(_GZIP_OR_ZLIB)
        try:
            out = self._d.decompress(data, room)
        except zlib.error as e:
            if self._members:
                self._ignore_rest = True
                return b"", b""
            if not self._started and self._allow_raw:
                self._allow_raw = False
                self._d = zlib.decompressobj(_RAW_DEFLATE)
                return self.decode(data, room)
            raise FetchError(f"undecodable body: corrupt compressed data ({e})") from e
        self._started = True
        # After the end of a member, what follows may be another member.
        return out, (self._d.unused_data if self._d.eof else self._d.unconsumed_tail)

    def flush(self) -> bytes:
        """Output still buffered once the input has ended (a truncated body keeps what
        decoded)."""
        if self._ignore_rest or self._d.eof:
            return b""
        try:
            return self._d.flush()
        except zlib.error:
            return b""


class BoundedDecoder:
    """Undoes a ``Content-Encoding`` chain chunk by chunk; raises :class:`TooLarge` as soon as
    the decoded size passes ``limit``."""

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        self.limit = limit
        self.size = 0
        layers: list[_Inflater] = []
        codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
        # Codings are listed in the order they were applied: undo them from the last.
        for coding in reversed(codings):
            if coding in ("gzip", "x-gzip"):
                layers.append(_Inflater(allow_raw=False))
            elif coding == "deflate":
                layers.append(_Inflater(allow_raw=True))
            elif coding != "identity":
                raise FetchError(
                    f"the server used Content-Encoding {coding!r}, which we did not ask for "
                    f"(we accept {SUPPORTED_ENCODINGS})"
                )
        self._layers = layers

    def feed(self, data: bytes) -> bytes:
        """Decode the next raw chunk."""
        for layer in self._layers:
            data = self._run(layer, data)
        self._count(len(data))
        return data

    def finish(self) -> bytes:
        """What the decoders still held when the body ended."""
        out = b""
        for layer in self._layers:
            out = self._run(layer, out) + layer.flush()
        self._count(len(out))
        return out

    def _run(self, layer: _Inflater, data: bytes) -> bytes:
        parts: list[bytes] = []
        produced = 0
        while data:
            room = self.limit - self.size - produced + 1
            out, rest = layer.decode(data, max(room, 1))
            if not out and rest == data:
                break  # no progress is possible: never spin
            data = rest
            produced += len(out)
            if self.size + produced > self.limit:
                raise self._too_large()
            parts.append(out)
        return b"".join(parts)

    def _count(self, n: int) -> None:
        self.size += n
        if self.size > self.limit:
            raise self._too_large()

    def _too_large(self) -> TooLarge:
        return TooLarge(f"body larger than {self.limit:,} bytes after decompression")
