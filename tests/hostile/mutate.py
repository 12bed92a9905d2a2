"""Mutations of recorded stanzas for the fuzz tests: valid codec, hostile content."""

from __future__ import annotations

import copy

from hypothesis import strategies as st

from wamd.binary import Node
from wamd.types import JID

JUNK_STRINGS = [
    "",
    "0",
    "-1",
    "abc",
    "99999999999999999999999999",
    "1e5",
    "junk@",
    "@",
    "9:2@lid",
    "120363@g.us",
    "true",
    "x" * 300,
    "\x00",
    "nan",
    "2:AAAA",
]
JUNK_JIDS = [
    JID("", "s.whatsapp.net"),
    JID("123", "g.us"),
    JID("9", "lid", device=2),
    JID("status", "broadcast"),
    JID("x", "newsletter"),
    JID("1", "s.whatsapp.net", device=99),
]
JUNK_BYTES = [b"", b"\x00", b"\x05" * 33, b"\xff" * 64, b"\x01\x02\x03", b"x" * 5000]


def _walk(node: Node) -> list[Node]:
    out = [node]
    for child in node.children:
        out += _walk(child)
    return out


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Node], max_mutations: int = 4) -> Node:
    """A seed node with 1..``max_mutations`` random mutations applied."""
    node = copy.deepcopy(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, max_mutations))):
        target = draw(st.sampled_from(_walk(node)))
        kind = draw(
            st.sampled_from(
                [
                    "drop_attr",
                    "junk_attr",
                    "junk_content",
                    "drop_child",
                    "dup_child",
                    "truncate",
                    "rename",
                ]
            )
        )
        if kind == "drop_attr" and target.attrs:
            del target.attrs[draw(st.sampled_from(sorted(target.attrs)))]
        elif kind == "junk_attr":
            names = [*sorted(target.attrs), "id", "type", "jid", "t", "from", "count", "v"]
            name = draw(st.sampled_from(names))
            target.attrs[name] = draw(
                st.one_of(st.sampled_from(JUNK_STRINGS), st.sampled_from(JUNK_JIDS))
            )
        elif kind == "junk_content":
            target.content = draw(
                st.one_of(
                    st.none(),
                    st.sampled_from(JUNK_BYTES),
                    st.sampled_from(JUNK_STRINGS),
                    st.just([Node("junk")]),
                )
            )
        elif kind == "drop_child" and target.children:
            children = target.children
            children.pop(draw(st.integers(0, len(children) - 1)))
        elif kind == "dup_child" and target.children:
            children = target.children
            child = children[draw(st.integers(0, len(children) - 1))]
            children += [copy.deepcopy(child) for _ in range(draw(st.integers(1, 50)))]
        elif kind == "truncate" and isinstance(target.content, bytes) and target.content:
            target.content = target.content[: draw(st.integers(0, len(target.content) - 1))]
        elif kind == "rename" and target is not node:
            target.tag = draw(st.sampled_from(["junk", "list", "user", "error", "item", "enc"]))
    return node
