"""proto2 explicit presence survives encoding: zero values set on purpose are sent."""

from __future__ import annotations

from wamd.proto import adv_pb2, cert_pb2, handshake_pb2


def test_intermediate_issuer_serial_zero_is_on_the_wire() -> None:
    details = cert_pb2.CertChain.NoiseCertificate.Details(serial=1, issuer_serial=0)
    data = details.SerializeToString()
    assert data == b"\x08\x01\x10\x00"
    parsed = cert_pb2.CertChain.NoiseCertificate.Details.FromString(data)
    assert parsed.HasField("issuer_serial")
    assert parsed.issuer_serial == 0


def test_unset_optional_fields_are_absent() -> None:
    details = cert_pb2.CertChain.NoiseCertificate.Details(serial=1)
    assert details.SerializeToString() == b"\x08\x01"
    assert not cert_pb2.CertChain.NoiseCertificate.Details.FromString(b"\x08\x01").HasField(
        "issuer_serial"
    )


def test_zero_enum_false_bool_and_empty_bytes_are_kept() -> None:
    payload = handshake_pb2.ClientPayload(
        passive=False,
        pull=False,
        connect_type=handshake_pb2.ClientPayload.CELLULAR_UNKNOWN,
        fb_cat=b"",
    )
    data = payload.SerializeToString()
    # passive (3, varint) 0; connect_type (12, varint) 0; fb_cat (21, bytes) empty; pull (33) 0
    assert data == b"\x18\x00" + b"\x60\x00" + b"\xaa\x01\x00" + b"\x88\x02\x00"
    parsed = handshake_pb2.ClientPayload.FromString(data)
    for name in ("passive", "pull", "connect_type", "fb_cat"):
        assert parsed.HasField(name), name


def test_adv_key_index_list_packs_valid_indexes() -> None:
    keys = adv_pb2.ADVKeyIndexList(raw_id=7, current_index=2, valid_indexes=[0, 1, 2])
    assert keys.SerializeToString() == b"\x08\x07\x18\x02\x22\x03\x00\x01\x02"
