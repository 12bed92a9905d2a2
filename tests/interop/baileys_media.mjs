// Drives Baileys' own media code (Utils/messages-media.js) so that the Python tests and
// bench/media.py can check wamd's media crypto and HTTP transfer against it.
//
// Usage: node baileys_media.mjs '<JSON command>'   -> one JSON line on stdout (exit 1 on error)
//        (a JSON array of commands runs them in turn and prints the array of results)
//   {op:"keys", type, mediaKey}                          -> {iv, cipherKey, macKey}       (getMediaKeys)
//   {op:"encrypt", type, mediaKey, input}                -> {encFile, mac, fileEncSha256, fileSha256, fileLength}
//        (encryptedStream with crypto.randomBytes pinned to mediaKey; the caller deletes encFile)
//   {op:"upload", type, mediaKey, input, hosts, auth, warm?}    -> {url, directPath, fileEncSha256, fileSha256, fileLength, ms}
//        (encryptedStream + getWAUploadToServer against the given media hosts)
//   {op:"download", type, mediaKey, directPath, url, output, warm?}  -> {bytes, ms}
//        (downloadContentFromMessage, streamed into output)
//   {op:"retry-request", mediaKey, id, remoteJid, fromMe, participant, meId} -> the node (encryptMediaRetryRequest)
//   {op:"retry-decrypt", mediaKey, id, ciphertext, iv}   -> {stanzaId, directPath, result} (decryptMediaRetryData)
//   {op:"duration", input}                               -> {seconds}  (getAudioDuration: music-metadata)
// All binary values are hex. HTTPS trust for a self-signed server: NODE_EXTRA_CA_CERTS.
import crypto from 'node:crypto'
import { createWriteStream, promises as fs } from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { pipeline } from 'node:stream/promises'
import P from 'pino'

const cmd = JSON.parse(process.argv[2])
const hex = (s) => Buffer.from(s, 'hex')
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
// libsignal logs the sessions it closes to stdout: keep stdout for the JSON lines
console.log = console.info = console.debug = (...args) => console.error(...args)

// encryptedStream draws its media key from crypto.randomBytes(32): pin it so that the same key
// and plaintext can be compared byte for byte with wamd's output.
let pinned = null
const realRandomBytes = crypto.randomBytes
crypto.randomBytes = (n, ...rest) => (pinned && n === 32 && rest.length === 0 ? Buffer.from(pinned) : realRandomBytes(n, ...rest))
syncBuiltinESMExports()
const {
    getMediaKeys, encryptedStream, getWAUploadToServer, downloadContentFromMessage, getAudioDuration,
    encryptMediaRetryRequest, decryptMediaRetryData
} = await import('baileys')

// A Baileys BinaryNode as JSON: Buffers become {hex}.
const nodeJSON = (node) => ({
    tag: node.tag,
    attrs: Object.fromEntries(Object.entries(node.attrs).filter(([, v]) => v !== undefined)),
    content: Array.isArray(node.content)
        ? node.content.map(nodeJSON)
        : node.content instanceof Uint8Array ? { hex: Buffer.from(node.content).toString('hex') } : node.content
})
const logger = P({ level: 'silent' })

// Open a connection to the host first (both Node HTTP stacks Baileys uses: fetch for
// downloads, the https module for uploads), so that timings exclude one-time module loading
// and the TLS handshake, as they do for wamd's warm session.
async function warm(origin) {
    try {
        await (await fetch(origin, { method: 'HEAD' })).arrayBuffer()
    } catch {}
    const https = await import('node:https')
    await new Promise((resolve) => {
        const req = https.request(origin, { method: 'HEAD' }, (res) => { res.resume(); res.on('end', resolve) })
        req.on('error', resolve)
        req.end()
    })
}

async function main(cmd) {
    pinned = cmd.mediaKey ? hex(cmd.mediaKey) : null
    switch (cmd.op) {
        case 'keys': {
            const k = await getMediaKeys(hex(cmd.mediaKey), cmd.type)
            const h = (b) => Buffer.from(b).toString('hex')
            return { iv: h(k.iv), cipherKey: h(k.cipherKey), macKey: h(k.macKey) }
        }
        case 'encrypt': {
            const r = await encryptedStream({ url: cmd.input }, cmd.type, { logger })
            if (r.mediaKey.toString('hex') !== cmd.mediaKey) throw new Error('media key was not pinned')
            return {
                encFile: r.encFilePath,
                mac: r.mac.toString('hex'),
                fileEncSha256: r.fileEncSha256.toString('hex'),
                fileSha256: r.fileSha256.toString('hex'),
                fileLength: r.fileLength
            }
        }
        case 'upload': {
            if (cmd.warm) await warm(`https://${cmd.hosts[0]}/`)
            const t0 = performance.now()
            const r = await encryptedStream({ url: cmd.input }, cmd.type, { logger })
            const mediaConn = { hosts: cmd.hosts.map((hostname) => ({ hostname })), auth: cmd.auth, ttl: 3600, fetchDate: new Date() }
            const upload = getWAUploadToServer({ customUploadHosts: [], logger, options: {} }, async () => mediaConn)
            try {
                const res = await upload(r.encFilePath, {
                    mediaType: cmd.type,
                    fileEncSha256B64: r.fileEncSha256.toString('base64'),
                    timeoutMs: 600000
                })
                return {
                    url: res.mediaUrl,
                    directPath: res.directPath,
                    fileEncSha256: r.fileEncSha256.toString('hex'),
                    fileSha256: r.fileSha256.toString('hex'),
                    fileLength: r.fileLength,
                    ms: performance.now() - t0
                }
            } finally {
                await fs.unlink(r.encFilePath)
            }
        }
        case 'download': {
            if (cmd.warm) await warm(new URL(cmd.url).origin + '/')
            const t0 = performance.now()
            const stream = await downloadContentFromMessage(
                { mediaKey: hex(cmd.mediaKey), directPath: cmd.directPath, url: cmd.url },
                cmd.type
            )
            let bytes = 0
            stream.on('data', (chunk) => { bytes += chunk.length })
            await pipeline(stream, createWriteStream(cmd.output))
            return { bytes, ms: performance.now() - t0 }
        }
        case 'retry-request': {
            const key = { id: cmd.id, remoteJid: cmd.remoteJid, fromMe: cmd.fromMe, participant: cmd.participant }
            return nodeJSON(encryptMediaRetryRequest(key, hex(cmd.mediaKey), cmd.meId))
        }
        case 'retry-decrypt': {
            const n = decryptMediaRetryData({ ciphertext: hex(cmd.ciphertext), iv: hex(cmd.iv) }, hex(cmd.mediaKey), cmd.id)
            return { stanzaId: n.stanzaId, directPath: n.directPath, result: n.result }
        }
        case 'duration':
            return { seconds: await getAudioDuration(cmd.input) }
        default:
            throw new Error(`unknown op ${cmd.op}`)
    }
}

try {
    if (Array.isArray(cmd)) {
        const results = []
        for (const one of cmd) results.push(await main(one))
        out(results)
    } else {
        out(await main(cmd))
    }
} catch (err) {
    out({ error: String(err?.stack || err) })
    process.exit(1)
}
