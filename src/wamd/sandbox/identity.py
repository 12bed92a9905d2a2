"""The sandbox server's own keys: a certificate root, an intermediate, and the Noise static key.

They are generated on first start and kept in the state database, so clients that pinned the
sandbox's root public key keep trusting it across restarts. The certificate chain itself is
re-issued at every start (valid from a day ago to a year ahead).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wamd.crypto import KeyPair
from wamd.noise import generate_certificate_chain
from wamd.sandbox.state import SandboxState

_KEYS = ("root", "intermediate", "static")


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """The server's key pairs and its current certificate chain."""

    root: KeyPair = field(repr=False)
    intermediate: KeyPair = field(repr=False)
    static: KeyPair = field(repr=False)
    certificate_chain: bytes = field(repr=False)

    @property
    def root_public_key(self) -> bytes:
        """The public key clients pin to trust this sandbox."""
        return self.root.public

    @classmethod
    def generate(cls) -> ServerIdentity:
        """Fresh keys (not persisted)."""
        return cls.from_keys(KeyPair.generate(), KeyPair.generate(), KeyPair.generate())

    @classmethod
    def from_keys(cls, root: KeyPair, intermediate: KeyPair, static: KeyPair) -> ServerIdentity:
        """Issue a certificate chain for ``static`` under ``root`` via ``intermediate``."""
        chain = generate_certificate_chain(
            root=root, intermediate=intermediate, leaf_key=static.public
        )
        return cls(root, intermediate, static, chain)

    @classmethod
    async def load_or_create(cls, state: SandboxState) -> ServerIdentity:
        """The identity stored in ``state``, generating and storing it the first time."""
        stored = [await state.get_meta(f"server_{name}_private") for name in _KEYS]
        if all(value is not None for value in stored):
            root, intermediate, static = (KeyPair.from_private(v) for v in stored if v)
            return cls.from_keys(root, intermediate, static)
        identity = cls.generate()
        for name, pair in zip(
            _KEYS, (identity.root, identity.intermediate, identity.static), strict=True
        ):
            await state.set_meta(f"server_{name}_private", pair.private)
        return identity
