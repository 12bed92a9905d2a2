// A Baileys (rc14) client on a wamd sandbox that chats: pairs by QR (or logs in from saved
// creds), then obeys JSON-line commands on stdin and reports JSON-line events on stdout.
//
// argv[2] = JSON {url, rootPublicKey (hex), authDir}
// stdin commands:
//   {"cmd":"send","to":jid,"text":...}   -> {"event":"sent","id":...,"to":...}
//   {"cmd":"quit"}                       -> saves the creds and exits 0
// stdout events:
//   {"event":"qr","qr":...}  {"event":"open","me":{...}}  {"event":"restart"}
//   {"event":"message","id","remoteJid","remoteJidAlt","fromMe","participant","pushName",
//    "text","stub","stubParams"}
//   {"event":"update","id","remoteJid","status"}          (messages.update: receipts)
//   {"event":"close","status":N}  {"event":"error","message":...}
import readline from 'node:readline'
import P from 'pino'
import makeWASocket, { DisconnectReason, WA_CERT_DETAILS, useMultiFileAuthState } from 'baileys'

const args = JSON.parse(process.argv[2])
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(args.rootPublicKey, 'hex')
const logger = P({ level: process.env.BAILEYS_LOG || 'silent' }, P.destination(2))
const { state, saveCreds } = await useMultiFileAuthState(args.authDir)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

let current = null
let finished = false

const finish = async (code) => {
    if (finished) return
    finished = true
    try { await current?.end(undefined) } catch { }
    await sleep(300)
    await saveCreds()
    await sleep(300)
    process.exit(code)
}

const start = () => {
    const sock = current = makeWASocket({
        waWebSocketUrl: args.url,
        auth: state,
        logger,
        markOnlineOnConnect: false,
        syncFullHistory: false
    })
    sock.ev.on('creds.update', saveCreds)
    sock.ev.on('connection.update', async (update) => {
        const { connection, lastDisconnect, qr } = update
        if (qr) out({ event: 'qr', qr })
        if (connection === 'open') out({ event: 'open', me: state.creds.me })
        if (connection === 'close') {
            const status = lastDisconnect?.error?.output?.statusCode
            if (status === DisconnectReason.restartRequired) {
                out({ event: 'restart' })
                start()
            } else if (!finished) {
                out({ event: 'close', status, message: String(lastDisconnect?.error?.message || '') })
                await finish(2)
            }
        }
    })
    sock.ev.on('messages.upsert', ({ messages }) => {
        for (const m of messages) {
            const msg = m.message || {}
            out({
                event: 'message',
                id: m.key.id,
                remoteJid: m.key.remoteJid,
                remoteJidAlt: m.key.remoteJidAlt,
                fromMe: !!m.key.fromMe,
                participant: m.key.participant,
                pushName: m.pushName,
                text: msg.conversation ?? msg.extendedTextMessage?.text ?? null,
                stub: m.messageStubType ?? null,
                stubParams: m.messageStubParameters ?? null
            })
        }
    })
    sock.ev.on('messages.update', (updates) => {
        for (const u of updates) {
            out({ event: 'update', id: u.key.id, remoteJid: u.key.remoteJid, status: u.update?.status ?? null })
        }
    })
}

const lines = readline.createInterface({ input: process.stdin })
lines.on('line', async (line) => {
    let cmd
    try { cmd = JSON.parse(line) } catch { return }
    try {
        if (cmd.cmd === 'send') {
            const sent = await current.sendMessage(cmd.to, { text: cmd.text })
            out({ event: 'sent', id: sent?.key?.id, to: cmd.to })
        } else if (cmd.cmd === 'quit') {
            await finish(0)
        }
    } catch (err) {
        out({ event: 'error', message: String(err?.stack || err) })
    }
})
lines.on('close', () => finish(0))

start()
