#!/usr/bin/env python3
"""Opens COUNT keep-alive connections, sends one GET on each, reads the answer, keeps them open.

Writes a JSON status file once every connection is up (or failed), then holds the sockets until
the release file appears (or --hold-max seconds pass), writes how many were still open, closes
everything and exits. Used to measure proxy RSS per idle keep-alive connection.
"""
import argparse
import asyncio
import collections
import json
import os
import sys
import time

from httpclient import parse_head, request


async def open_one(port, req, sem, conns, errors):
    async with sem:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
            writer.write(req)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            status, length = parse_head(head[:-4])
            await asyncio.wait_for(reader.readexactly(length), 10)
            if status != 200:
                errors[f"status {status}"] += 1
                writer.close()
                return
            conns.append((reader, writer))
        except Exception as e:  # noqa: BLE001 - every failure kind is counted and reported
            errors[type(e).__name__ + (f": {e.errno}" if isinstance(e, OSError) and e.errno else "")] += 1


async def run(args):
    req = request(args.path)
    sem = asyncio.Semaphore(args.concurrency)
    conns, errors = [], collections.Counter()
    start = time.monotonic()
    await asyncio.gather(*(open_one(args.port, req, sem, conns, errors) for _ in range(args.count)))
    status = {"ok": len(conns), "failed": sum(errors.values()), "errors": dict(errors),
              "open_seconds": round(time.monotonic() - start, 2)}
    with open(args.status + ".tmp", "w") as f:
        json.dump(status, f)
    os.replace(args.status + ".tmp", args.status)

    deadline = time.monotonic() + args.hold_max
    while not os.path.exists(args.release) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(0)
    status["still_open_at_release"] = sum(1 for r, _ in conns if not r.at_eof())
    with open(args.status + ".tmp", "w") as f:
        json.dump(status, f)
    os.replace(args.status + ".tmp", args.status)
    for _, w in conns:
        w.close()
    await asyncio.sleep(0.5)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--status", required=True)
    ap.add_argument("--release", required=True)
    ap.add_argument("--hold-max", type=float, default=120.0)
    args = ap.parse_args()
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
