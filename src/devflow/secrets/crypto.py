"""Sealing secret values: AES-256-GCM under key-encryption keys that never enter the database.

A sealed value is self-describing: `b"\\x01"`, the key id's length (one byte), the key id, a
12-byte random nonce, then the ciphertext with its 16-byte tag. The associated data is the
header plus a context the caller names (for a stored secret: its tier, scope, environment, name
and version, `context_of`), so a ciphertext moved to another row, another version or another key
id does not open: `Tampered`.

`Keyring` holds the keys a process was given (`parse_keys`: `ID:BASE64`, comma- or
line-separated). Which key seals new values, and the check value of each key
(`fingerprint`, an HMAC of a constant), live in the database (`keys.KeyService`), never a key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = 1
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_HEADER = 2  # format byte, key id length
KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CHECK = b"devflow secrets key check v1"


class KeyringError(Exception):
    """The keys given are unusable: malformed, missing one that sealed values, or not the ones
    that did. The message names the fix."""


class Tampered(Exception):
    """A sealed value does not open under its key and context: changed, moved or truncated."""


def parse_keys(text: str, *, source: str) -> dict[str, bytes]:
    """Parse `ID:BASE64` entries (comma- or line-separated; `#` comments) in order.

    Raises:
        KeyringError: a malformed entry, a bad id, a key that is not 32 bytes, a repeated id.
    """
    keys: dict[str, bytes] = {}
    for raw in re.split(r"[,\n]", text):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not KEY_ID.fullmatch(key_id):
            raise KeyringError(
                f"{source}: an entry is not `ID:BASE64` with an id of letters, digits, `.`, `_`, "
                "`-` (print a new one with `devflow secrets new-key`)"
            )
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise KeyringError(f"{source}: key {key_id!r} is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise KeyringError(
                f"{source}: key {key_id!r} is {len(key)} bytes; AES-256 keys are {KEY_BYTES} "
                "(print a new one with `devflow secrets new-key`)"
            )
        if key_id in keys:
            raise KeyringError(f"{source}: key id {key_id!r} appears twice")
        keys[key_id] = key
    return keys


def new_key(prefix: str = "k") -> tuple[str, str]:
    """Return a fresh key id (`k` + the UTC date + random) and 32 random bytes in base64."""
    from devflow.core import clock

    key_id = f"{prefix}{clock.now():%Y%m%d}-{secrets.token_hex(3)}"
    return key_id, base64.b64encode(os.urandom(KEY_BYTES)).decode()


def fingerprint(key: bytes) -> str:
    """A check value of a key: it tells keys apart without revealing them."""
    return hmac.new(key, _CHECK, hashlib.sha256).hexdigest()[:32]


def context_of(tier: str, scope: str, environment: str, name: str, version: int) -> bytes:
    """The associated data binding a stored secret's ciphertext to its row."""
    return "\x1f".join(("secret", tier, scope, environment, name, str(version))).encode()


def key_id_of(sealed: bytes) -> str:
    """The id of the key that sealed `sealed` (Tampered: not a sealed value)."""
    if len(sealed) < _HEADER or sealed[0] != FORMAT or len(sealed) < _HEADER + sealed[1]:
        raise Tampered("not a sealed value")
    return sealed[_HEADER : _HEADER + sealed[1]].decode("ascii", "replace")


@dataclass
class Keyring:
    """The keys one process holds, by id; `active` names the one that seals."""

    keys: Mapping[str, bytes]
    active: str
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise KeyringError(f"the active key {self.active!r} is not among the keys given")

    def __repr__(self) -> str:  # never the keys
        return f"Keyring(ids={list(self.keys)}, active={self.active!r})"

    def _cipher(self, key_id: str) -> AESGCM:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            key = self.keys.get(key_id)
            if key is None:
                raise KeyringError(
                    f"a value is sealed with key {key_id!r}, which this process was not given; "
                    "add it to DEVFLOW_SECRETS__KEYS, the key file or the key reference"
                )
            cipher = self._ciphers[key_id] = AESGCM(key)
        return cipher

    def seal(self, plaintext: bytes, context: bytes, *, key_id: str | None = None) -> bytes:
        """Seal `plaintext` for `context` under `key_id` (default: the active key)."""
        key_id = key_id or self.active
        encoded = key_id.encode("ascii")
        header = bytes((FORMAT, len(encoded))) + encoded
        nonce = os.urandom(NONCE_BYTES)
        return header + nonce + self._cipher(key_id).encrypt(nonce, plaintext, header + context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        """Open a sealed value for `context`.

        Raises:
            Tampered: it was changed, moved to another context, or is not a sealed value.
            KeyringError: its key is not among this process's keys.
        """
        key_id = key_id_of(sealed)
        start = _HEADER + sealed[1]
        header, nonce, body = (
            sealed[:start],
            sealed[start : start + NONCE_BYTES],
            sealed[start + NONCE_BYTES :],
        )
        if len(nonce) != NONCE_BYTES or len(body) < TAG_BYTES:
            raise Tampered("the sealed value is truncated")
        try:
            return self._cipher(key_id).decrypt(nonce, body, header + context)
        except InvalidTag:
            raise Tampered("the sealed value does not open under its key and place") from None

    def with_active(self, key_id: str) -> Keyring:
        """The same keys with `key_id` sealing."""
        return Keyring(self.keys, key_id, self._ciphers)


__all__ = [
    "Keyring",
    "KeyringError",
    "Tampered",
    "context_of",
    "fingerprint",
    "key_id_of",
    "new_key",
    "parse_keys",
]
