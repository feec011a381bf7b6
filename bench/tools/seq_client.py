#!/usr/bin/env python3
"""Sends COUNT keep-alive GETs one after another on a single connection and checks each answer.

Used under callgrind: the proxy's instruction count divided by the requests sent.
"""
import argparse
import socket
import sys
import time

from httpclient import parse_head, request


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--expect-len", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=30.0, help="per-read timeout, seconds")
    ap.add_argument("--max-seconds", type=float, default=600.0, help="give up after this long")
    args = ap.parse_args()

    req = request(args.path)
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", args.port), timeout=args.timeout) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        for i in range(args.count):
            if time.monotonic() - start > args.max_seconds:
                print(f"seq_client: gave up after {i} requests ({args.max_seconds}s)", file=sys.stderr)
                return 1
            s.sendall(req)
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    print(f"seq_client: connection closed at request {i}", file=sys.stderr)
                    return 1
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            status, length = parse_head(head)
            while len(buf) < length:
                chunk = s.recv(65536)
                if not chunk:
                    print(f"seq_client: connection closed in body at request {i}", file=sys.stderr)
                    return 1
                buf += chunk
            buf = buf[length:]
            if status != 200 or length != args.expect_len:
                print(f"seq_client: request {i}: status {status}, length {length}", file=sys.stderr)
                return 1
    print(f"seq_client: {args.count} requests in {time.monotonic() - start:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
