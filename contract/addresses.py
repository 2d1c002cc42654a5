"""The one form every address this project takes has: HOST:PORT (the Temporal server's,
the worker's metrics endpoint, the codec server's), an IPv6 host in brackets."""


def host_and_port(text: str) -> tuple[str, int]:
    """The host (without brackets) and the port of `text`, or a ValueError naming it."""
    host, _, port = text.rpartition(":")
    if not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not host:port (for example 127.0.0.1:7233)")
    return host.strip("[]"), int(port)
