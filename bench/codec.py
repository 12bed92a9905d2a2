"""Binary node codec throughput: wamd vs Baileys 7.0.0-rc14 on the same corpus, same run.

Usage: ``.venv/bin/python bench/codec.py [--seconds 2] [--rounds 3]``

The corpus is a mix of realistic stanzas (1:1 and group messages with ciphertexts, receipts,
acks, usync and prekey IQs, notifications, presences). Each side encodes the whole corpus
repeatedly for ``--seconds`` (best of ``--rounds``), then decodes the encoded bytes likewise
(with the compiled decoder when it is built, and then with the pure-Python one as ``decode-py``).
Baileys is timed inside its own Node process (``tests/interop/codec_peer.mjs``), so process
start-up and JSON transfer are not counted. MB/s counts encoded bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

from tests.interop.codec_peer import CodecPeer, node_to_json  # noqa: E402
from wamd.binary import Node, decode_node, decoder, encode_node  # noqa: E402
from wamd.types import JID  # noqa: E402


def _jid(text: str) -> JID:
    return JID.parse(text)


def corpus() -> list[Node]:
    """Stanzas shaped like real traffic (ids, timestamps, JIDs, ciphertext sizes)."""
    me = _jid("15551234567:3@s.whatsapp.net")
    me_lid = _jid("88123456789012:3@lid")
    contact = _jid("15559876543@s.whatsapp.net")
    contact_lid = _jid("88987654321098:1@lid")
    group = _jid("120363025246125888@g.us")
    server = _jid("@s.whatsapp.net")
    cipher = bytes((i * 37) & 0xFF for i in range(4096))
    nodes: list[Node] = []
    for i in range(4):
        msg_id = f"3EB0{0xC431F5C2E5A1B2 + i:018X}"
        nodes.append(
            Node(
                "message",
                {
                    "from": contact_lid,
                    "type": "text",
                    "id": msg_id,
                    "t": str(1723456789 + i),
                    "notify": "Alice Example",
                    "sender_pn": contact,
                    "addressing_mode": "lid",
                },
                [Node("enc", {"v": "2", "type": "msg"}, cipher[: 150 + 40 * i])],
            )
        )
        nodes.append(
            Node(
                "message",
                {
                    "id": msg_id,
                    "to": group,
                    "type": "text",
                    "phash": "2:47DEQpj8",
                    "addressing_mode": "lid",
                },
                [
                    Node("enc", {"v": "2", "type": "skmsg"}, cipher[:180]),
                    Node(
                        "participants",
                        {},
                        [
                            Node(
                                "to",
                                {"jid": _jid(f"8812345678{9000 + d}:{d}@lid")},
                                [
                                    Node("enc", {"v": "2", "type": "pkmsg"}, cipher[: 600 + d]),
                                ],
                            )
                            for d in range(3)
                        ],
                    ),
                    Node("device-identity", {}, cipher[:154]),
                ],
            )
        )
        nodes.append(
            Node(
                "receipt",
                {
                    "from": contact_lid,
                    "id": msg_id,
                    "t": str(1723456790 + i),
                    "type": "read",
                    "participant": contact_lid,
                },
                [
                    Node(
                        "list", {}, [Node("item", {"id": f"3EB0{0xA0 + k:018X}"}) for k in range(3)]
                    )
                ],
            )
        )
        nodes.append(
            Node(
                "ack",
                {"class": "receipt", "id": msg_id, "to": contact_lid, "type": "read", "from": me},
            )
        )
        nodes.append(Node("receipt", {"id": msg_id, "to": contact_lid}))
    nodes.append(
        Node(
            "iq",
            {"id": "12345.678-1", "to": server, "type": "get", "xmlns": "usync"},
            [
                Node(
                    "usync",
                    {
                        "context": "message",
                        "index": "0",
                        "last": "true",
                        "mode": "query",
                        "sid": "1723456789123-42",
                    },
                    [
                        Node("query", {}, [Node("devices", {"version": "2"}), Node("lid")]),
                        Node(
                            "list",
                            {},
                            [
                                Node("user", {"jid": _jid(f"1555000{k:04d}@s.whatsapp.net")})
                                for k in range(5)
                            ],
                        ),
                    ],
                ),
            ],
        )
    )
    nodes.append(
        Node(
            "iq",
            {"from": server, "id": "12345.678-1", "type": "result"},
            [
                Node(
                    "usync",
                    {"context": "message", "mode": "query", "sid": "1723456789123-42"},
                    [
                        Node(
                            "list",
                            {},
                            [
                                Node(
                                    "user",
                                    {"jid": _jid(f"1555000{k:04d}@s.whatsapp.net")},
                                    [
                                        Node(
                                            "devices",
                                            {},
                                            [
                                                Node(
                                                    "device-list",
                                                    {},
                                                    [
                                                        Node(
                                                            "device",
                                                            {
                                                                "id": str(d),
                                                                **(
                                                                    {"key-index": str(d)}
                                                                    if d
                                                                    else {}
                                                                ),
                                                            },
                                                        )
                                                        for d in range(3)
                                                    ],
                                                )
                                            ],
                                        ),
                                        Node("lid", {"val": _jid(f"8800000{k:04d}@lid")}),
                                    ],
                                )
                                for k in range(5)
                            ],
                        ),
                    ],
                ),
            ],
        )
    )
    nodes.append(
        Node(
            "iq",
            {"from": server, "id": "12345.678-2", "type": "result"},
            [
                Node(
                    "list",
                    {},
                    [
                        Node(
                            "user",
                            {"jid": contact_lid},
                            [
                                Node("registration", {}, cipher[:4]),
                                Node("type", {}, b"\x05"),
                                Node("identity", {}, cipher[:32]),
                                Node(
                                    "skey",
                                    {},
                                    [
                                        Node("id", {}, cipher[:3]),
                                        Node("value", {}, cipher[:32]),
                                        Node("signature", {}, cipher[:64]),
                                    ],
                                ),
                                Node(
                                    "key",
                                    {},
                                    [Node("id", {}, cipher[:3]), Node("value", {}, cipher[:32])],
                                ),
                            ],
                        )
                    ],
                ),
            ],
        )
    )
    nodes.append(
        Node(
            "notification",
            {
                "from": group,
                "id": "2876543210",
                "t": "1723456791",
                "type": "w:gp2",
                "participant": contact_lid,
                "notify": "Alice Example",
            },
            [
                Node(
                    "add",
                    {"reason": "invite"},
                    [
                        Node("participant", {"jid": me_lid, "phone_number": me.to_non_ad()}),
                    ],
                )
            ],
        )
    )
    nodes.append(Node("presence", {"from": contact_lid, "type": "available"}))
    nodes.append(Node("chatstate", {"from": contact_lid}, [Node("composing")]))
    nodes.append(
        Node("iq", {"id": "ping-7", "to": server, "type": "get", "xmlns": "w:p"}, [Node("ping")])
    )
    return nodes


def _measure(work: Callable[[], None], seconds: float) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per call of ``work``, over about ``seconds`` of calls."""
    calls = 0
    wall_start = time.perf_counter()
    cpu_start = time.process_time()
    wall = 0.0
    while wall < seconds:
        work()
        calls += 1
        wall = time.perf_counter() - wall_start
    return (time.process_time() - cpu_start) / calls, wall / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many rounds")
    args = parser.parse_args()

    nodes = corpus()
    encoded = [encode_node(node) for node in nodes]
    assert [decode_node(data) for data in encoded] == nodes
    total_bytes = sum(len(data) for data in encoded)
    count = len(nodes)

    def encode_all() -> None:
        for node in nodes:
            encode_node(node)

    def decode_all() -> None:
        for data in encoded:
            decode_node(data)

    def decode_all_python() -> None:
        decoder._decode = decoder.IMPLEMENTATIONS["python"]
        try:
            decode_all()
        finally:
            decoder._decode = default_decode

    default_decode = decoder._decode
    work = {"encode": encode_all, "decode": decode_all}
    if decoder.ACCELERATED:  # the fallback too, beside the same Baileys decode figures
        work["decode-py"] = decode_all_python
    inf = float("inf")
    # best (CPU, wall) seconds per pass over the corpus, for each side and operation
    best = {(side, op): [inf, inf] for side in ("wamd", "Baileys") for op in work}
    peer = CodecPeer(ROOT / "tests" / "interop")
    try:
        assert [peer.encode(node) for node in nodes] == encoded, "Baileys encodes differently"
        payload = [node_to_json(node) for node in nodes]
        for op in work:  # warm-up
            work[op]()
        # Rounds alternate between the two sides so that both see the same machine load.
        for _ in range(args.rounds):
            for op, fn in work.items():
                cpu, wall = _measure(fn, args.seconds)
                mine = best["wamd", op]
                mine[:] = [min(mine[0], cpu), min(mine[1], wall)]
            answer = peer.request(op="bench", nodes=payload, seconds=args.seconds)
            for op in work:
                stats = answer[op.removesuffix("-py")]
                passes = stats["nodes"] / count
                theirs = best["Baileys", op]
                theirs[:] = [
                    min(theirs[0], stats["cpu_seconds"] / passes),
                    min(theirs[1], stats["seconds"] / passes),
                ]
    finally:
        peer.close()

    print(
        f"corpus: {count} stanzas, {total_bytes} encoded bytes "
        f"(avg {total_bytes / count:.0f} B/stanza); nodes/s counts stanzas; "
        f"best of {args.rounds} rounds"
    )
    print(
        "wamd decode: "
        + ("compiled (wamd.binary._cdecoder); decode-py: " if decoder.ACCELERATED else "")
        + "pure Python (wamd.binary.decoder)"
    )
    for index, clock in enumerate(("CPU time", "wall clock")):
        print(f"\n[{clock}]")
        print(
            f"{'':9} {'wamd nodes/s':>13} {'wamd MB/s':>10} {'Baileys nodes/s':>16} "
            f"{'Baileys MB/s':>13} {'wamd/Baileys':>13}"
        )
        for op in work:
            ours_s = best["wamd", op][index]
            theirs_s = best["Baileys", op][index]
            print(
                f"{op:9} {count / ours_s:13,.0f} {total_bytes / ours_s / 1e6:10.2f} "
                f"{count / theirs_s:16,.0f} {total_bytes / theirs_s / 1e6:13.2f} "
                f"{theirs_s / ours_s:12.2f}x"
            )


if __name__ == "__main__":
    main()
