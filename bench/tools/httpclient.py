"""Minimal HTTP/1.1 response reading shared by the benchmark clients (Content-Length only)."""


def parse_head(head: bytes) -> tuple[int, int]:
    """Returns (status, content_length) from a response head without the final CRLFCRLF."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ValueError(f"bad status line {lines[0][:80]!r}")
    status = int(parts[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding":
            raise ValueError("chunked responses are not supported by the benchmark client")
    if length is None:
        raise ValueError("response has no Content-Length")
    return status, length


def request(path: str, host: str = "127.0.0.1") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sluice-bench\r\n\r\n".encode()
