// A Baileys (rc14) device of a sandbox account, for the app-state interop tests.
// argv[2] = JSON {url, rootPublicKey (hex), authDir, mediaHost ("host:port" of the media host)}
// stdout (JSON lines): {"event":"qr","qr"} / {"event":"open"} / {"event":"ready"} /
//   {"event":"chats.update","updates":[...]} / {"event":"messages.update",...} /
//   {"event":"labels.edit",...} / {"event":"labels.association",...} / {"event":"contacts.upsert",...}
//   / {"event":"done","id"} / {"event":"error","id","message"}
// stdin (JSON lines): {"id","op":"key","keyId","keyData"} stores an app-state sync key as the
//   primary's key share would; {"id","op":"modify","mod","jid"} runs sock.chatModify;
//   {"id","op":"resync","names"} runs an app-state resync; privacy / lastSeen {value} /
//   blocklist / block {jid, action} / status {text} / onWhatsApp {phones} call the matching
//   socket functions (the answer's "result" holds what they return); {"op":"quit"}.
import readline from 'node:readline'
import P from 'pino'
import makeWASocket, { DisconnectReason, WA_CERT_DETAILS, proto, useMultiFileAuthState } from 'baileys'

const args = JSON.parse(process.argv[2])
// Baileys fetches app-state and history blobs from mmg.whatsapp.net: the sandbox's media host
// stands in for it (TLS trust comes from NODE_EXTRA_CA_CERTS, set by the test).
if (args.mediaHost) {
    const realFetch = globalThis.fetch
    globalThis.fetch = (url, init) => {
        const target = new URL(url.toString())
        if (target.host === 'mmg.whatsapp.net') target.host = args.mediaHost
        return realFetch(target.toString(), init)
    }
}
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
// libsignal logs the sessions it closes to stdout: keep stdout for the JSON lines
console.log = console.info = console.debug = (...args) => console.error(...args)
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(args.rootPublicKey, 'hex')
const logger = P({ level: process.env.BAILEYS_LOG || 'silent' }, P.destination(2))
const { state, saveCreds } = await useMultiFileAuthState(args.authDir)
let sock

const start = () => {
    sock = makeWASocket({
        waWebSocketUrl: args.url,
        auth: state,
        logger,
        markOnlineOnConnect: false,
        syncFullHistory: false,
    })
    sock.ev.on('creds.update', (update) => {
        if (update.myAppStateKeyId) out({ event: 'appStateKey', keyId: update.myAppStateKeyId })
        return saveCreds()
    })
    sock.ev.on('connection.update', (update) => {
        const { connection, lastDisconnect, qr, receivedPendingNotifications } = update
        if (qr) out({ event: 'qr', qr })
        if (connection === 'open') out({ event: 'open' })
        if (receivedPendingNotifications) out({ event: 'ready' })
        if (connection === 'close') {
            const status = lastDisconnect?.error?.output?.statusCode
            if (status === DisconnectReason.restartRequired) start()
            else out({ event: 'close', status })
        }
    })
    sock.ev.on('messaging-history.set', ({ contacts, chats, syncType }) => out({
        event: 'history',
        syncType,
        chats: chats.length,
        contacts: contacts.map((c) => ({ id: c.id, notify: c.notify ?? null })),
    }))
    for (const name of ['chats.update', 'messages.update', 'labels.edit', 'labels.association', 'contacts.upsert']) {
        sock.ev.on(name, (data) => out({ event: name, data }))
    }
}
start()

const ops = {
    async key({ keyId, keyData }) {
        const data = proto.Message.AppStateSyncKeyData.fromObject({
            keyData: Buffer.from(keyData, 'base64'),
            timestamp: Date.now(),
        })
        await state.keys.set({ 'app-state-sync-key': { [keyId]: data } })
        sock.ev.emit('creds.update', { myAppStateKeyId: keyId })
    },
    async modify({ mod, jid }) {
        await sock.chatModify(mod, jid)
    },
    async resync({ names }) {
        await sock.resyncAppState(names, false)
    },
    async privacy() {
        return await sock.fetchPrivacySettings(true)
    },
    async lastSeen({ value }) {
        await sock.updateLastSeenPrivacy(value)
    },
    async blocklist() {
        return await sock.fetchBlocklist()
    },
    async block({ jid, action }) {
        await sock.updateBlockStatus(jid, action)
    },
    async status({ text }) {
        await sock.updateProfileStatus(text)
    },
    async onWhatsApp({ phones }) {
        return await sock.onWhatsApp(...phones)
    },
}

const rl = readline.createInterface({ input: process.stdin })
for await (const line of rl) {
    if (!line.trim()) continue
    const req = JSON.parse(line)
    if (req.op === 'quit') break
    try {
        const result = await ops[req.op](req)
        out({ event: 'done', id: req.id, result: result ?? null })
    } catch (err) {
        out({ event: 'error', id: req.id, message: String(err?.stack || err) })
    }
}
await saveCreds()
process.exit(0)
