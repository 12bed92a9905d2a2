"""Users: is-on-WhatsApp, user info, profile pictures, status text, business profiles,
blocklist and privacy settings, and the LID <-> phone-number mapping learned from them.

:mod:`wamd.users.queries` builds the IQs and reads the answers (sans-I/O);
:class:`wamd.users.client.UsersClient` sends them through a client and keeps the store's LID
map up to date.
"""
