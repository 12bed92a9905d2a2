"""wamd: an asyncio client for the WhatsApp Web multidevice protocol (unofficial).

The public surface is re-exported here; everything else is implementation detail that may
change between releases.
"""

from __future__ import annotations

from wamd import errors
from wamd.errors import WamdError

__all__ = ["WamdError", "__version__", "errors"]

__version__ = "0.1.0.dev0"
