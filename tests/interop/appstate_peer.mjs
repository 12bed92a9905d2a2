// Test-only peer: drives Baileys' app-state and history-sync functions for wamd's interop tests.
// Protocol: one JSON request per stdin line {id, op, ...}; one JSON answer per stdout line
// {id, ok, result|error}. Binary values travel as standard base64 strings.
import readline from 'node:readline'
import { deflateSync } from 'node:zlib'
import {
    LT_HASH_ANTI_TAMPERING,
    chatModificationToAppPatch,
    decodePatches,
    decodeSyncdSnapshot,
    encodeSyncdPatch,
    processHistoryMessage,
    proto,
} from 'baileys'
import { expandAppStateKeys } from 'whatsapp-rust-bridge'

const b64 = (buf) => Buffer.from(buf).toString('base64')
const unb64 = (s) => Buffer.from(s, 'base64')
const toJSON = (type, msg) => type.toObject(msg, { longs: Number, bytes: String, enums: String })

const stateIn = (s) => ({
    version: s.version,
    hash: unb64(s.hash),
    indexValueMap: Object.fromEntries(
        Object.entries(s.indexValueMap || {}).map(([k, v]) => [k, { valueMac: unb64(v) }]),
    ),
})
const stateOut = (s) => ({
    version: Number(s.version),
    hash: b64(s.hash),
    indexValueMap: Object.fromEntries(
        Object.entries(s.indexValueMap).map(([k, v]) => [k, b64(v.valueMac)]),
    ),
})
const keyGetter = (keys) => async (id) => (keys[id] ? { keyData: unb64(keys[id]) } : undefined)
const captureLogger = (warnings) => {
    const logger = {
        level: 'trace',
        trace() {}, debug() {}, info() {},
        warn: (obj, msg) => warnings.push(msg || String(obj)),
        error: (obj, msg) => warnings.push(msg || String(obj)),
        child: () => logger,
    }
    return logger
}
const mutationsOut = (mutationMap) =>
    Object.values(mutationMap).map(({ syncAction, index }) => ({
        index,
        version: syncAction.version,
        value: toJSON(proto.SyncActionValue, syncAction.value),
    }))

const ops = {
    lthash({ base, subtract, add }) {
        return { hash: b64(LT_HASH_ANTI_TAMPERING.subtractThenAdd(unb64(base), subtract.map(unb64), add.map(unb64))) }
    },
    expand({ keyData }) {
        const k = expandAppStateKeys(unb64(keyData))
        return {
            index: b64(k.indexKey), valueEncryption: b64(k.valueEncryptionKey), valueMac: b64(k.valueMacKey),
            snapshotMac: b64(k.snapshotMacKey), patchMac: b64(k.patchMacKey),
        }
    },
    // Encode one patch with Baileys from either a raw patch description or a chat modification.
    async encode({ keys, keyId, state, patch, chatMod, jid }) {
        const info = chatMod ? chatModificationToAppPatch(chatMod, jid) : { ...patch }
        if (!chatMod) info.syncAction = proto.SyncActionValue.fromObject(patch.syncAction)
        const out = await encodeSyncdPatch(info, keyId, stateIn(state), keyGetter(keys))
        out.patch.version = { version: out.state.version }
        return {
            patch: b64(proto.SyncdPatch.encode(out.patch).finish()),
            state: stateOut(out.state),
            type: info.type,
            index: info.index,
            apiVersion: info.apiVersion,
        }
    },
    async decodePatches({ name, patches, state, keys }) {
        const warnings = []
        const syncds = patches.map((p) => proto.SyncdPatch.decode(unb64(p)))
        const out = await decodePatches(name, syncds, stateIn(state), keyGetter(keys), {}, undefined, captureLogger(warnings), true)
        return { state: stateOut(out.state), mutations: mutationsOut(out.mutationMap), warnings }
    },
    async decodeSnapshot({ name, snapshot, keys }) {
        const warnings = []
        const ss = proto.SyncdSnapshot.decode(unb64(snapshot))
        const out = await decodeSyncdSnapshot(name, ss, keyGetter(keys), undefined, true, captureLogger(warnings))
        return { state: stateOut(out.state), mutations: mutationsOut(out.mutationMap), warnings }
    },
    // Build a HistorySync from its JSON form; return it serialized and zlib-compressed.
    encodeHistory({ history }) {
        const raw = proto.HistorySync.encode(proto.HistorySync.fromObject(history)).finish()
        return { raw: b64(raw), compressed: b64(deflateSync(raw)) }
    },
    // Timings for bench/appstate.py: the same work as wamd's side, measured inside Node.
    benchLthash({ macs, rounds }) {
        const items = macs.map(unb64)
        const start = process.hrtime.bigint()
        let hash = Buffer.alloc(128)
        for (let i = 0; i < rounds; i++) hash = LT_HASH_ANTI_TAMPERING.subtractThenAdd(hash, [], items)
        return { seconds: Number(process.hrtime.bigint() - start) / 1e9, hash: b64(hash) }
    },
    async benchDecode({ name, patches, keys, rounds }) {
        const raw = patches.map(unb64)
        const start = process.hrtime.bigint()
        let out
        for (let i = 0; i < rounds; i++) {
            const syncds = raw.map((p) => proto.SyncdPatch.decode(p))
            out = await decodePatches(name, syncds, { version: 0, hash: Buffer.alloc(128), indexValueMap: {} }, keyGetter(keys), {}, undefined, undefined, true)
        }
        return { seconds: Number(process.hrtime.bigint() - start) / 1e9, hash: b64(out.state.hash) }
    },
    // Decode a serialized E2E Message with Baileys' schema (what its receive path sees).
    decodeMessage({ raw }) {
        return toJSON(proto.Message, proto.Message.decode(unb64(raw)))
    },
    processHistory({ raw }) {
        const out = processHistoryMessage(proto.HistorySync.decode(unb64(raw)))
        return {
            chats: out.chats.map((c) => c.id),
            contacts: out.contacts,
            messages: out.messages.map((m) => ({ key: m.key, text: m.message?.conversation ?? null })),
            lidPnMappings: out.lidPnMappings,
            syncType: out.syncType,
            progress: out.progress ?? null,
        }
    },
}

const rl = readline.createInterface({ input: process.stdin })
for await (const line of rl) {
    if (!line.trim()) continue
    const req = JSON.parse(line)
    let answer
    try {
        answer = { id: req.id, ok: true, result: await ops[req.op](req) }
    } catch (err) {
        answer = { id: req.id, ok: false, error: String(err?.stack || err) }
    }
    process.stdout.write(JSON.stringify(answer) + '\n')
}
