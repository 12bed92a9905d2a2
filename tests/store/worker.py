"""A separate process driving a store, for the kill -9 tests (run as a script, not collected).

python worker.py write '{"backend": "sqlite", "path": ...}' ACCOUNT_ID
    commits transaction i = last + 1, last + 2, ... forever, printing each i once committed.
    Transaction i writes rows whose consistency the test checks after a kill: four sessions
    holding i, the seen row m<i>, inbox entry i, app-state version i with MAC idx<i>, and
    one reserved prekey id (so the account row's counter is i + 1).
python worker.py lease '{...}' ACCOUNT_ID
    opens the store and prints READY, waits for the account's lease, prints OWNER <pid>, then
    appends "<pid>:<n>" inbox entries.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys

from wamd.store import AppStateVersion, SeenMessage
from wamd.store.postgres import PostgresStore
from wamd.store.sql.base import SQLStore
from wamd.store.sqlite import SQLiteStore

PEERS = [f"peer{k}.0" for k in range(4)]


async def open_store(spec: dict[str, str]) -> SQLStore:
    if spec["backend"] == "sqlite":
        return await SQLiteStore.open(spec["path"])
    return await PostgresStore.connect(spec["dsn"], schema=spec["schema"])


def lthash(i: int) -> bytes:
    return i.to_bytes(8, "big") * 16


async def write(spec: dict[str, str], account_id: int) -> None:
    store = await open_store(spec)
    account = await store.account(account_id)
    i = (await account.app_state.get_version("regular")).version
    while True:
        i += 1
        async with account.transaction() as tx:
            for peer in PEERS:  # separate statements, with pauses: kills land inside
                await tx.sessions.put(peer, str(i).encode())
                await asyncio.sleep(random.random() * 0.002)
            await tx.seen.add(SeenMessage("chat", "peer", f"m{i}"))
            await tx.inbox.put("message", str(i).encode())
            await tx.prekeys.reserve_ids(1)
            await asyncio.sleep(random.random() * 0.002)
            await tx.app_state.put_macs("regular", {f"idx{i}".encode(): b"v"})
            await tx.app_state.put_version("regular", AppStateVersion(i, lthash(i)))
        print(i, flush=True)


async def lease(spec: dict[str, str], account_id: int) -> None:
    store = await open_store(spec)
    account = await store.account(account_id)
    print("READY", flush=True)
    await account.acquire_lease(wait=None)
    print("OWNER", os.getpid(), flush=True)
    n = 0
    while True:
        n += 1
        await account.inbox.put("owner", f"{os.getpid()}:{n}".encode())
        await asyncio.sleep(0.02)


def main() -> None:
    mode, spec, account_id = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    asyncio.run(write(spec, account_id) if mode == "write" else lease(spec, account_id))


if __name__ == "__main__":
    main()
