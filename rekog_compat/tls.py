"""`serve --tls-cert FILE --tls-key FILE`: HTTPS in the server itself.

waitress has no TLS, and wrapping its listening socket with `ssl` does not work: its non-blocking loop
gets `SSLWantReadError` on the first read of every connection. So a server asked for TLS runs under
gunicorn (`workers.py`), even with one worker: gunicorn wraps each accepted connection in a worker
thread and does the handshake there. The certificate and key are loaded once here, before anything
else starts, so that a missing, unreadable or mismatched file stops the start with a clear message
instead of failing every connection later.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from .config import ServerConfig


class _EncryptedKey(Exception):
    """The key asks for a passphrase: OpenSSL would prompt for it on the terminal at every load."""


def _no_passphrase() -> bytes:
    raise _EncryptedKey()


def check_tls_files(config: ServerConfig) -> None:
    """ValueError naming the flag and the file when the certificate and key cannot serve TLS together."""
    if not config.tls:
        return
    assert config.tls_cert and config.tls_key  # ServerConfig.check: both or neither
    for flag, path, marker in (("--tls-cert", config.tls_cert, b"CERTIFICATE-----"),
                               ("--tls-key", config.tls_key, b"PRIVATE KEY-----")):
        try:
            content = Path(path).read_bytes()
        except OSError as exc:
            raise ValueError(f"{flag} {path}: cannot be read ({exc.strerror or exc})") from None
        if b"-----BEGIN " not in content or marker not in content:
            raise ValueError(f"{flag} {path}: not a PEM file with a {marker[:-5].decode().lower()}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile=config.tls_cert, keyfile=config.tls_key, password=_no_passphrase)
    except _EncryptedKey:
        raise ValueError(f"--tls-key {config.tls_key}: the key is encrypted; give it unencrypted (mode 0600)") from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ValueError(
                f"--tls-key {config.tls_key} is not the private key of --tls-cert {config.tls_cert}"
            ) from None
        # OpenSSL's own words ("[SSL] PEM lib") name neither the file nor the fault: say both.
        raise ValueError(
            f"--tls-cert {config.tls_cert} and --tls-key {config.tls_key} are not a usable PEM certificate (chain) "
            f"and private key (OpenSSL: {exc.reason or exc})"
        ) from None


def gunicorn_tls_settings(config: ServerConfig) -> dict[str, object]:
    """The gunicorn settings that serve HTTPS with the configured files (none without TLS)."""
    if not config.tls:
        return {}
    return {"certfile": config.tls_cert, "keyfile": config.tls_key}
