"""Protocol buffer schemas of the WhatsApp Web protocol and their generated Python modules.

The ``.proto`` files here are wamd's own, written from public schemas (field numbers, types and
enum values as WhatsApp uses them). The ``*_pb2.py`` / ``*_pb2.pyi`` modules are generated: never
edit them; edit the ``.proto`` and run ``.venv/bin/python scripts/regen_proto.py``.

Import a module directly, e.g. ``from wamd.proto import handshake_pb2``.
"""
