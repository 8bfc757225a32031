"""Refuse every outbound (non-loopback) connection: the tests and notebooks must run offline.

``install()`` patches the ``socket`` module in this process. The root ``conftest.py`` calls it for the
pytest process and puts this folder first on ``PYTHONPATH``, so ``sitecustomize.py`` (beside this file)
calls it in every Python subprocess too: nbval's and nbclient's Jupyter kernels, the book build, the CLI.

Loopback keeps working (Jupyter kernels talk ZMQ over 127.0.0.1; the browser test serves the book on
127.0.0.1), and so do Unix sockets. ZMQ itself uses C sockets and is untouched.
"""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["MESSAGE", "NetworkDisabledError", "install", "installed"]

MESSAGE = "network disabled by gruseg tests"

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_originals: dict = {}


class NetworkDisabledError(OSError):
    """Raised instead of opening a non-loopback connection or resolving a remote host name."""


def _is_loopback_host(host) -> bool:
    if host is None or host == "":
        return True  # getaddrinfo(None, port): the local wildcard, used for binding
    if isinstance(host, bytes):
        host = host.decode("idna", "replace")
    host = str(host).strip("[]").split("%", 1)[0].lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if address.is_loopback or address.is_unspecified:
        return True
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(mapped and mapped.is_loopback)


def _refuse(what, target):
    raise NetworkDisabledError(
        f"{MESSAGE}: {what} {target!r} refused (only loopback is allowed; ship small data with the "
        "repository or make it in code instead of downloading it)")


def _check_address(sock, address, what):
    family = getattr(sock, "family", None)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return  # AF_UNIX, AF_NETLINK, ...: not the network
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_loopback_host(host):
        _refuse(what, address)


def _guarded_connect(self, address):
    _check_address(self, address, "connect to")
    return _originals["connect"](self, address)


def _guarded_connect_ex(self, address):
    _check_address(self, address, "connect to")
    return _originals["connect_ex"](self, address)


def _guarded_sendto(self, data, *args):
    address = args[-1] if args else None
    if address is not None:
        _check_address(self, address, "send to")
    return _originals["sendto"](self, data, *args)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if not _is_loopback_host(host):
        _refuse("look up", host)
    return _originals["getaddrinfo"](host, *args, **kwargs)


def _guarded_gethostbyname(host):
    if not _is_loopback_host(host):
        _refuse("look up", host)
    return _originals["gethostbyname"](host)


def _guarded_gethostbyname_ex(host):
    if not _is_loopback_host(host):
        _refuse("look up", host)
    return _originals["gethostbyname_ex"](host)


def installed() -> bool:
    """True when this process's ``socket`` module is guarded."""
    return socket.socket.connect is _guarded_connect


def install() -> None:
    """Patch ``socket`` in this process (idempotent)."""
    if installed():
        return
    _originals.update(
        connect=socket.socket.connect,
        connect_ex=socket.socket.connect_ex,
        sendto=socket.socket.sendto,
        getaddrinfo=socket.getaddrinfo,
        gethostbyname=socket.gethostbyname,
        gethostbyname_ex=socket.gethostbyname_ex,
    )
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex
    socket.socket.sendto = _guarded_sendto
    socket.getaddrinfo = _guarded_getaddrinfo
    socket.gethostbyname = _guarded_gethostbyname
    socket.gethostbyname_ex = _guarded_gethostbyname_ex
    # socket.create_connection resolves through socket.getaddrinfo and connects through
    # socket.socket.connect, so it is covered by the two patches above.
