"""HTTPS for the lab's S3 on Outposts endpoints: a CONNECT proxy that terminates TLS with the lab's own CA.

Why: botocore sends every request for an Outposts access point ARN to
``https://{access-point}-{account}.{outpost-id}.{endpoint authority}`` (the S3 endpoint rules allow no plain HTTP
and no path-style form for these ARNs). Against the lab's ``http://127.0.0.1:PORT`` that is
``https://backups-111111111111.op-0123456789abcdef0.127.0.0.1:PORT``: a name no resolver knows, over TLS. Rather
than edit ``/etc/hosts`` or weaken the client, the lab offers what a corporate network offers: an HTTPS proxy
(``HTTPS_PROXY``) and a CA bundle (``AWS_CA_BUNDLE``), both standard botocore settings, so skyvault runs unchanged.

The proxy accepts ``CONNECT`` only for Outposts access point hosts under the lab's own authority (it is no open
proxy), answers the TLS handshake with a certificate for exactly that name, issued on the fly by a CA made when the
lab starts (its key never leaves the lab's folder), and relays the decrypted bytes to the lab's HTTP port, where
the ``s3_outposts`` model serves them. Plain-HTTP lab traffic never passes through it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger("skyvault.lab.tlsproxy")

# {access point}-{account}.{outpost id}.{authority}: what botocore builds for an access point ARN.
OUTPOSTS_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?-\d{12}\.op-[0-9a-f]{17}\.(?P<authority>.+)$")
_HEADER_LIMIT = 16 * 1024
_CHUNK = 256 * 1024


@dataclass(frozen=True)
class ProxyInfo:
    url: str  # what HTTPS_PROXY is set to
    ca_bundle: Path  # what AWS_CA_BUNDLE is set to


class _Issuer:
    """The lab's CA: one EC key and certificate per lab run, and a leaf certificate per host name asked for."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        self.folder = folder
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "skyvault lab CA (this lab run only)")])
        now = dt.datetime.now(dt.UTC)
        self._ca = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self.ca_bundle = folder / "ca.pem"
        self.ca_bundle.write_bytes(self._ca.public_bytes(serialization.Encoding.PEM))
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def context_for(self, host: str) -> ssl.SSLContext:
        with self._lock:
            context = self._contexts.get(host)
            if context is None:
                context = self._contexts[host] = self._issue(host)
            return context

    def _issue(self, host: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host[:64])]))
            .issuer_name(self._ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        path = self.folder / f"leaf-{len(self._contexts)}.pem"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            + cert.public_bytes(serialization.Encoding.PEM)
        )
        path.chmod(0o600)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(path)
        return context


class _Handler(socketserver.BaseRequestHandler):
    server: _ProxyServer

    def handle(self) -> None:
        client: socket.socket = self.request
        client.settimeout(30)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk or len(head) > _HEADER_LIMIT:
                return
            head += chunk
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        target = parts[1] if len(parts) == 3 and parts[0] == "CONNECT" else ""
        host, _, port = target.rpartition(":")
        match = OUTPOSTS_HOST.match(host)
        if not match or f"{match['authority']}:{port}" not in self.server.authorities:
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            log.warning("refused %r: the lab proxies only its own S3 on Outposts hosts", request_line)
            return
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        context = self.server.issuer.context_for(host)
        try:
            tls = context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.info("TLS handshake for %s failed: %s", host, exc)
            return
        tls.settimeout(None)
        upstream = socket.create_connection(("127.0.0.1", self.server.upstream_port))
        relay = threading.Thread(target=_pump, args=(upstream, tls), daemon=True, name="outposts-relay")
        relay.start()
        _pump(tls, upstream)
        relay.join(timeout=5)
        for sock in (upstream, tls):
            with contextlib.suppress(OSError):
                sock.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(_CHUNK):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, issuer: _Issuer, upstream_port: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.issuer = issuer
        self.upstream_port = upstream_port
        self.authorities = {f"{name}:{upstream_port}" for name in ("127.0.0.1", "localhost")}


class OutpostsProxy:
    """Started by the lab server beside its HTTP server; ``info`` is what clients set as HTTPS_PROXY and CA bundle."""

    def __init__(self, folder: Path, upstream_port: int) -> None:
        self._server = _ProxyServer(_Issuer(folder), upstream_port)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="outposts-proxy")
        port = int(self._server.server_address[1])
        self.info = ProxyInfo(url=f"http://127.0.0.1:{port}", ca_bundle=self._server.issuer.ca_bundle)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
