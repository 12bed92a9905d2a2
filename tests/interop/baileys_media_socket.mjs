// A Baileys (rc14) client paired with a wamd sandbox exchanges an image with wamd through the
// sandbox: Baileys' own socket asks for media_conn over its connection (the sandbox's w:m IQ),
// uploads with prepareWAMessageMedia (encryption, thumbnail, dimensions) and downloads a
// message wamd built. JSON lines on stdout / stdin:
//
// argv[2] = JSON {url, rootPublicKey (hex), authDir, input (an image file), type}
//   out {"event":"qr","qr":...}              scan it with the sandbox's admin API
//   out {"event":"restart"}                  the 515 restart after pairing
//   out {"event":"uploaded","message":hex}   the encoded proto Message Baileys built
//   in  {"message":hex}                      a proto Message from wamd to download
//   out {"event":"downloaded","bytes":N,"sha256":hex}
//   out {"event":"error","message":...}      then exit 1
// HTTPS trust for the sandbox's media host: NODE_EXTRA_CA_CERTS.
import crypto from 'node:crypto'
import { createInterface } from 'node:readline'
import P from 'pino'
import makeWASocket, {
    DisconnectReason, WA_CERT_DETAILS, downloadContentFromMessage, prepareWAMessageMedia, proto,
    useMultiFileAuthState
} from 'baileys'

const args = JSON.parse(process.argv[2])
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
// libsignal logs the sessions it closes to stdout: keep stdout for the JSON lines
console.log = console.info = console.debug = (...args) => console.error(...args)
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(args.rootPublicKey, 'hex')
const logger = P({ level: process.env.BAILEYS_LOG || 'silent' }, P.destination(2))
const { state, saveCreds } = await useMultiFileAuthState(args.authDir)
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()

let done = false
const fail = (err) => {
    out({ event: 'error', message: String(err?.stack || err) })
    process.exit(1)
}

async function exchange(sock) {
    const kind = args.type || 'image'
    const content = await prepareWAMessageMedia(
        { [kind]: { url: args.input }, caption: kind === 'document' ? undefined : 'from baileys' },
        { upload: sock.waUploadToServer, logger }
    )
    out({ event: 'uploaded', message: Buffer.from(proto.Message.encode(content).finish()).toString('hex') })
    const { value } = await lines.next()
    const incoming = proto.Message.decode(Buffer.from(JSON.parse(value).message, 'hex'))
    const part = incoming[`${kind}Message`]
    const stream = await downloadContentFromMessage(part, kind)
    const hash = crypto.createHash('sha256')
    let bytes = 0
    for await (const chunk of stream) {
        hash.update(chunk)
        bytes += chunk.length
    }
    out({ event: 'downloaded', bytes, sha256: hash.digest('hex') })
}

const start = () => {
    const sock = makeWASocket({ waWebSocketUrl: args.url, auth: state, logger, markOnlineOnConnect: false })
    sock.ev.on('creds.update', saveCreds)
    sock.ev.on('connection.update', async ({ connection, lastDisconnect, qr }) => {
        if (qr) out({ event: 'qr', qr })
        if (connection === 'open' && !done) {
            done = true
            try {
                await exchange(sock)
            } catch (err) {
                fail(err)
            }
            try { await sock.end(undefined) } catch { }
            process.exit(0)
        }
        if (connection === 'close' && !done) {
            const status = lastDisconnect?.error?.output?.statusCode
            if (status === DisconnectReason.restartRequired) {
                out({ event: 'restart' })
                start()
            } else {
                fail(`closed: ${status} ${lastDisconnect?.error?.message}`)
            }
        }
    })
}

start()
