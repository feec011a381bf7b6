#!/usr/bin/python3
"""A real WebSocket client (python3-websockets) driven by the integration tests.

Usage: ws_client.py MODE URL [--cafile F]
  messages    1,000 text messages echoed in order, a 1 MiB binary frame, ping/pong,
              then a close with code 4001 that must come back (close codes both ways)
  concurrent  200 sessions at once, each echoing 10 messages
  steady      one message every 50 ms, each echo checked, for --seconds S (default 5); a close
              from the server ends it: prints "closed CODE" and exits 0 when CODE is --expect-close
  slow        sends 1 MiB messages without reading the echoes until sending blocks (2 s),
              prints how many it sent, then holds the connection unread for --hold seconds
Prints "ok ..." and exits 0 on success, prints the problem and exits 1 otherwise.
"""
import asyncio
import os
import ssl
import sys

import websockets


def ssl_context(cafile):
    if not cafile:
        return None
    ctx = ssl.create_default_context(cafile=cafile)
    return ctx


async def messages(url, ctx):
    async with websockets.connect(url, ssl=ctx, max_size=4 * 1024 * 1024) as ws:
        for i in range(1000):
            await ws.send(f"message {i}")
        for i in range(1000):
            got = await asyncio.wait_for(ws.recv(), 10)
            if got != f"message {i}":
                raise AssertionError(f"expected 'message {i}', got {got!r}")
        big = bytes((i * 7) % 251 for i in range(1024 * 1024))
        await ws.send(big)
        got = await asyncio.wait_for(ws.recv(), 10)
        if got != big:
            raise AssertionError("1 MiB binary frame came back different")
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 10)
        await ws.close(code=4001, reason="test done")
        if ws.close_code != 4001:
            raise AssertionError(f"close code {ws.close_code}, expected 4001 echoed back")
    print("ok messages=1000 binary=1MiB ping=pong close=4001")


async def one_session(url, ctx, n):
    async with websockets.connect(url, ssl=ctx) as ws:
        for i in range(10):
            await ws.send(f"s{n} m{i}")
            got = await asyncio.wait_for(ws.recv(), 30)
            if got != f"s{n} m{i}":
                raise AssertionError(f"session {n}: got {got!r}")


async def concurrent(url, ctx):
    await asyncio.gather(*(one_session(url, ctx, n) for n in range(200)))
    print("ok sessions=200")


async def slow(url, ctx):
    async with websockets.connect(url, ssl=ctx, max_size=None, write_limit=1024 * 1024) as ws:
        chunk = b"x" * (1024 * 1024)
        sent = 0
        for _ in range(256):
            try:
                await asyncio.wait_for(ws.send(chunk), 2)
            except asyncio.TimeoutError:
                break
            sent += 1
        print(f"ok sent={sent}", flush=True)
        # Hold the connection, not reading, while the test measures the proxy.
        await asyncio.sleep(HOLD)
        sys.stdout.flush()
        os._exit(0)  # drop the connection at once: no close handshake with unread data queued


HOLD = 5.0
SECONDS = 5.0
EXPECT_CLOSE = None


async def steady(url, ctx):
    loop = asyncio.get_running_loop()
    end = loop.time() + SECONDS
    sent = 0
    async with websockets.connect(url, ssl=ctx) as ws:
        print("ok open", flush=True)
        try:
            while loop.time() < end:
                await ws.send(f"tick {sent}")
                got = await asyncio.wait_for(ws.recv(), 10)
                if got != f"tick {sent}":
                    raise AssertionError(f"expected 'tick {sent}', got {got!r}")
                sent += 1
                await asyncio.sleep(0.05)
        except websockets.exceptions.ConnectionClosed as closed:
            print(f"closed {closed.code} after {sent}", flush=True)
            if EXPECT_CLOSE is not None and closed.code == EXPECT_CLOSE:
                return
            raise
    if EXPECT_CLOSE is not None:
        raise AssertionError(f"no close {EXPECT_CLOSE} within {SECONDS}s")
    print(f"ok steady messages={sent}", flush=True)


def main():
    global HOLD, SECONDS, EXPECT_CLOSE
    mode, url = sys.argv[1], sys.argv[2]
    if "--seconds" in sys.argv:
        SECONDS = float(sys.argv[sys.argv.index("--seconds") + 1])
    if "--expect-close" in sys.argv:
        EXPECT_CLOSE = int(sys.argv[sys.argv.index("--expect-close") + 1])
    if "--hold" in sys.argv:
        HOLD = float(sys.argv[sys.argv.index("--hold") + 1])
    cafile = sys.argv[sys.argv.index("--cafile") + 1] if "--cafile" in sys.argv else None
    ctx = ssl_context(cafile)
    try:
        asyncio.run({"messages": messages, "concurrent": concurrent, "slow": slow, "steady": steady}[mode](url, ctx))
    except Exception as e:  # noqa: BLE001 - report anything as a test failure
        print(f"FAIL {type(e).__name__}: {e}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
