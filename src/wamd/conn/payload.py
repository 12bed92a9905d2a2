"""The ``ClientPayload`` a client sends at the end of the Noise handshake.

Two forms: *registration* (an unpaired device: its Signal identity and signed prekey, so the
phone can link it) and *login* (a paired device: its phone number and device id). Both carry
the same user agent, whose app version the server checks: an outdated one is refused with
``<failure reason="405">``, so the version is configurable (:class:`AppVersion`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from wamd.proto import companion_pb2, handshake_pb2
from wamd.store import DeviceCredentials
from wamd.types import JID

__all__ = [
    "DEFAULT_APP_VERSION",
    "AppVersion",
    "DeviceInfo",
    "login_payload",
    "registration_payload",
]

_Payload = handshake_pb2.ClientPayload
_UserAgent = handshake_pb2.ClientPayload.UserAgent
_WebInfo = handshake_pb2.ClientPayload.WebInfo
PlatformType = companion_pb2.DeviceProps.PlatformType


@dataclass(frozen=True, slots=True, order=True)
class AppVersion:
    """A WhatsApp Web version, e.g. ``AppVersion(2, 3000, 1045649367)``."""

    primary: int
    secondary: int
    tertiary: int

    @classmethod
    def parse(cls, text: str) -> AppVersion:
        """``"2.3000.1045649367"`` -> ``AppVersion(2, 3000, 1045649367)``."""
        parts = text.strip().split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError(f"version {text!r} is not three dot-separated numbers")
        return cls(int(parts[0]), int(parts[1]), int(parts[2]))

    def __str__(self) -> str:
        return f"{self.primary}.{self.secondary}.{self.tertiary}"

    @property
    def build_hash(self) -> bytes:
        """MD5 of the dotted version string (sent when registering)."""
        return hashlib.md5(str(self).encode(), usedforsecurity=False).digest()


DEFAULT_APP_VERSION = AppVersion(2, 3000, 1045649367)
"""The WhatsApp Web version wamd announces unless told otherwise."""


_QR_CLIENT_TYPES: dict[int, str] = {
    PlatformType.CHROME: "1",
    PlatformType.EDGE: "2",
    PlatformType.FIREFOX: "3",
    PlatformType.IE: "4",
    PlatformType.OPERA: "5",
    PlatformType.SAFARI: "6",
    PlatformType.UWP: "8",
    PlatformType.ANDROID_PHONE: "e",
}


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """How this device presents itself to the phone (shown in "Linked devices").

    ``name`` is the device name (``DeviceProps.os``); ``platform`` a
    ``DeviceProps.PlatformType`` value; ``display`` the ``Browser (OS)`` text the pairing-code
    flow shows on the phone.
    """

    name: str = "wamd"
    platform: int = PlatformType.CHROME
    display: str = "Chrome (Linux)"

    @property
    def qr_client_type(self) -> str:
        """The client-type character at the end of the QR text."""
        return _QR_CLIENT_TYPES.get(self.platform, "9")

    def device_props(self, version: AppVersion) -> bytes:
        """The serialized ``DeviceProps`` sent when registering."""
        props = companion_pb2.DeviceProps(
            os=self.name,
            version=companion_pb2.DeviceProps.AppVersion(primary=0, secondary=1, tertiary=0),
            platform_type=self.platform,  # type: ignore[arg-type]
            require_full_sync=False,
        )
        cfg = props.history_sync_config
        cfg.storage_quota_mb = 10240
        cfg.inline_initial_payload_in_e2ee_msg = True
        cfg.support_call_log_history = False
        cfg.support_cag_reactions_and_polls = True
        cfg.support_group_history = False
        return props.SerializeToString()


def _base_payload(version: AppVersion) -> handshake_pb2.ClientPayload:
    return _Payload(
        user_agent=_UserAgent(
            platform=_UserAgent.Platform.WEB,
            release_channel=_UserAgent.ReleaseChannel.RELEASE,
            app_version=_UserAgent.AppVersion(
                primary=version.primary, secondary=version.secondary, tertiary=version.tertiary
            ),
            mcc="000",
            mnc="000",
            os_version="0.1",
            manufacturer="",
            device="Desktop",
            os_build_number="0.1",
            locale_language_iso6391="en",
            locale_country_iso31661_alpha2="US",
        ),
        web_info=_WebInfo(web_sub_platform=_WebInfo.WebSubPlatform.WEB_BROWSER),
        connect_type=_Payload.ConnectType.WIFI_UNKNOWN,
        connect_reason=_Payload.ConnectReason.USER_ACTIVATED,
    )


def registration_payload(
    credentials: DeviceCredentials,
    *,
    version: AppVersion = DEFAULT_APP_VERSION,
    device: DeviceInfo | None = None,
) -> bytes:
    """The serialized payload of an unpaired device (it asks to be linked)."""
    device = device or DeviceInfo()
    payload = _base_payload(version)
    spk = credentials.signed_prekey
    data = payload.device_pairing_data
    data.e_regid = credentials.registration_id.to_bytes(4, "big")
    data.e_keytype = b"\x05"
    data.e_ident = credentials.identity_key.public
    data.e_skey_id = spk.key_id.to_bytes(4, "big")[1:]
    data.e_skey_val = spk.key_pair.public
    data.e_skey_sig = spk.signature
    data.build_hash = version.build_hash
    data.device_props = device.device_props(version)
    payload.passive = False
    payload.pull = False
    return payload.SerializeToString()


def login_payload(
    credentials: DeviceCredentials, *, version: AppVersion = DEFAULT_APP_VERSION
) -> bytes:
    """The serialized payload of a paired device logging in."""
    if credentials.jid is None:
        raise ValueError("login needs paired credentials (a device JID)")
    jid = JID.parse(credentials.jid)
    payload = _base_payload(version)
    payload.username = int(jid.user)
    payload.device = jid.device
    payload.passive = True
    payload.pull = True
    payload.lid_db_migrated = True
    return payload.SerializeToString()
