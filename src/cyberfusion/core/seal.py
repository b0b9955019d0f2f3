"""Secrets kept at rest sealed with the platform's key (AES-256-GCM), e.g. users' TOTP seeds.

A database dump or a backup then holds no usable second factor. The key is derived from
CYBERFUSION_SECRET_KEY (or the key file in the data directory) per purpose, so a sealed value of
one kind cannot be passed off as another. Changing the secret key makes sealed values unreadable:
`unseal` raises `SealBroken`, which callers turn into "no second factor configured" rather than
a crash (docs/operations.md says how to rotate).

A sealed value reads `v1$` + URL-safe base64 of nonce (12 bytes), ciphertext and tag (16 bytes).
A value without that prefix is one stored before sealing existed and is returned as it is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from Crypto.Cipher import AES

from cyberfusion.core.config import get_settings

PREFIX = "v1$"
NONCE_BYTES = 12


class SealBroken(Exception):
    """The sealed value was not made with this platform's key (or was altered)."""


def _key(purpose: str) -> bytes:
    secret = get_settings().secret_key.encode()
    return hmac.new(secret, f"cyberfusion seal v1: {purpose}".encode(), hashlib.sha256).digest()


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def seal(plaintext: str, *, purpose: str) -> str:
    nonce = secrets.token_bytes(NONCE_BYTES)
    cipher = AES.new(_key(purpose), AES.MODE_GCM, nonce=nonce)
    cipher.update(purpose.encode())
    body, tag = cipher.encrypt_and_digest(plaintext.encode())
    return PREFIX + base64.urlsafe_b64encode(nonce + body + tag).decode()


def unseal(value: str, *, purpose: str) -> str:
    if not is_sealed(value):
        return value  # stored before sealing; `cyberfusion db upgrade` seals what remains
    try:
        raw = base64.urlsafe_b64decode(value[len(PREFIX) :].encode())
        nonce, body, tag = raw[:NONCE_BYTES], raw[NONCE_BYTES:-16], raw[-16:]
        cipher = AES.new(_key(purpose), AES.MODE_GCM, nonce=nonce)
        cipher.update(purpose.encode())
        return cipher.decrypt_and_verify(body, tag).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise SealBroken(f"cannot unseal a {purpose}: wrong key or altered value") from exc
