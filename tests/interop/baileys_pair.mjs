// Runs a Baileys (rc14) client against a wamd sandbox and reports what happens as JSON lines on
// stdout, so that Python tests can drive the sandbox's admin API in between.
//
// argv[2] = JSON {url, rootPublicKey (hex), authDir, mode: "qr" | "code" | "login", phone, stayMs}
//   {"event":"qr","qr":...}        a QR code to scan (mode qr; also printed in mode code)
//   {"event":"code","code":...}    the pairing code (mode code, after the first qr event)
//   {"event":"paired","me":...}    pair-success handled; waiting for the 515 restart
//   {"event":"restart"}            closed with 515: a new socket is opened with the saved creds
//   {"event":"open","me":...}      connection 'open'
//   {"event":"synced"}             offline notifications received (<ib><offline/>)
//   {"event":"close","status":N}   closed for another reason; exit code 2
// After 'open' (+ 'synced' seen after it, or stayMs), the creds are saved and the process exits with 0.
import P from 'pino'
import makeWASocket, { DisconnectReason, WA_CERT_DETAILS, useMultiFileAuthState } from 'baileys'

const args = JSON.parse(process.argv[2])
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
// libsignal logs the sessions it closes to stdout: keep stdout for the JSON lines
console.log = console.info = console.debug = (...args) => console.error(...args)
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(args.rootPublicKey, 'hex')
const logger = P({ level: process.env.BAILEYS_LOG || 'silent' }, P.destination(2))
const { state, saveCreds } = await useMultiFileAuthState(args.authDir)

let askedCode = false
let finished = false
let current = null
let opened = false
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// Ends the socket, lets pending auth-state writes land, saves the creds, then exits: exiting
// in the middle of a creds.json write would truncate it.
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
        const { connection, lastDisconnect, qr, isNewLogin, receivedPendingNotifications } = update
        if (qr) {
            out({ event: 'qr', qr })
            if (args.mode === 'code' && !askedCode) {
                askedCode = true
                try {
                    const code = await sock.requestPairingCode(args.phone)
                    out({ event: 'code', code })
                } catch (err) {
                    out({ event: 'error', message: String(err?.message || err) })
                    await finish(3)
                }
            }
        }
        if (isNewLogin) {
            out({ event: 'paired', me: state.creds.me })
        }
        if (connection === 'open') {
            opened = true
            out({ event: 'open', me: state.creds.me })
            setTimeout(() => finish(0), args.stayMs ?? 5000)
        }
        if (receivedPendingNotifications) {
            out({ event: 'synced' })
            // Baileys may report the offline batch while it still buffers 'open' (first
            // connection, awaiting the history-sync notification): only an opened socket ends.
            if (opened && !finished) setTimeout(() => finish(0), 200)
        }
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
}

start()
