"""A small HTTP/1.1 load generator: N keep-alive connections posting one body for D seconds.

Run as its own process (``python benchmarks/loadgen.py URL BODY_FILE --connections 16
--seconds 10``) so that it never shares an interpreter with the server it measures. It speaks
raw HTTP over asyncio streams (uvloop when installed): an httpx client costs about a
millisecond of CPU per request, which on a 2-core machine would be taken from the server.
Each connection sends its next request when the previous answer has arrived (closed loop), as
wrk does. Prints one JSON object: requests, errors (non-2xx or broken connections), req/s and
latency percentiles in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from urllib.parse import urlsplit


def _request_bytes(url: str, body: bytes, content_type: str) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return host, port, head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def _connection(
    host: str, port: int, payload: bytes, until: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < until:
            start = time.perf_counter()
            writer.write(payload)
            try:
                status = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                errors.append(0)
                return
            latencies.append(time.perf_counter() - start)
            if not 200 <= status < 300:
                errors.append(status)
    finally:
        writer.close()


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index] * 1000


async def run(url: str, body: bytes, content_type: str, connections: int, seconds: float,
              warmup: float) -> dict[str, float]:  # fmt: skip
    host, port, payload = _request_bytes(url, body, content_type)
    if warmup > 0:
        await asyncio.gather(
            *(
                _connection(host, port, payload, time.perf_counter() + warmup, [], [])
                for _ in range(connections)
            )  # fmt: skip
        )
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    until = start + seconds
    await asyncio.gather(
        *(_connection(host, port, payload, until, latencies, errors) for _ in range(connections))
    )
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    return {
        "connections": connections,
        "requests": len(latencies),
        "errors": len(errors),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": _percentile(ordered, 0.50),
        "p90_ms": _percentile(ordered, 0.90),
        "p99_ms": _percentile(ordered, 0.99),
        "max_ms": ordered[-1] * 1000 if ordered else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("body_file")
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args(argv)
    with open(args.body_file, "rb") as fh:
        body = fh.read()
    with contextlib.suppress(ImportError):  # plain asyncio without uvloop
        import uvloop

        uvloop.install()
    result = asyncio.run(
        run(args.url, body, args.content_type, args.connections, args.seconds, args.warmup)
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
