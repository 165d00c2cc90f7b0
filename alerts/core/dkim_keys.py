"""DKIM private keys read and checked: at start-up by the settings, then by the signer."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
RSA = "rsa-sha256"
ED25519 = "ed25519-sha256"


def load_private_key(pem: bytes) -> PrivateKey:
    """An RSA (rsa-sha256) or Ed25519 (ed25519-sha256, RFC 8463) signing key from its PEM."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError("a DKIM key must be an RSA or an Ed25519 private key")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 1024:
        # RFC 8301 §3.2: verifiers must not accept shorter ones.
        raise ValueError("an RSA DKIM key needs at least 1024 bits (RFC 8301); 2048 is usual")
    return key


def algorithm_of(key: PrivateKey) -> str:
    return ED25519 if isinstance(key, ed25519.Ed25519PrivateKey) else RSA


def key_file_algorithm(path: Path) -> str:
    """The algorithm of the key in ``path``; ValueError with the reason when it cannot sign."""
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    return algorithm_of(load_private_key(pem))
