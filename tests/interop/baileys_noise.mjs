// Drives Baileys' own Noise initiator (Utils/noise-handler.js) over stdin/stdout, so that the
// Python tests can check wamd's responder and initiator against it byte for byte.
//
// Protocol: one JSON object per line.
//   argv[2] = JSON {ephemeralPriv, ephemeralPub, noisePriv, noisePub, rootPublic, payload, transportPayload} (hex)
//   out {step:"hello", data}           -- intro + client hello frame, as Baileys encodes it
//   in  {data}                         -- the server's bytes (server hello frame)
//   out {step:"finish", data}          -- client finish frame
//   out {step:"transport", data}       -- transportPayload encrypted by Baileys' transport
//   in  {data}                         -- one transport frame from the server (flag + binary node)
//   out {step:"node", tag, attrs}      -- the node Baileys decoded from it
// Errors are printed as {step:"error", message} and exit code 1.
import { createInterface } from 'node:readline'
import P from 'pino'
import { proto, makeNoiseHandler, NOISE_WA_HEADER, WA_CERT_DETAILS } from 'baileys'

const args = JSON.parse(process.argv[2])
const hex = (s) => Buffer.from(s, 'hex')
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

WA_CERT_DETAILS.PUBLIC_KEY = hex(args.rootPublic)
const logger = P({ level: 'silent' })
const noise = makeNoiseHandler({
    keyPair: { private: hex(args.ephemeralPriv), public: hex(args.ephemeralPub) },
    NOISE_HEADER: NOISE_WA_HEADER,
    logger,
    routingInfo: args.routingInfo ? hex(args.routingInfo) : undefined
})
const noiseKey = { private: hex(args.noisePriv), public: hex(args.noisePub) }

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const nextData = async () => {
    const { value, done } = await lines.next()
    if (done) throw new Error('stdin closed')
    return hex(JSON.parse(value).data)
}
const nextFrame = async () => {
    const data = await nextData()
    return await new Promise((resolve) => { noise.decodeFrame(data, resolve) })
}

try {
    const hello = proto.HandshakeMessage.encode({ clientHello: { ephemeral: hex(args.ephemeralPub) } }).finish()
    out({ step: 'hello', data: Buffer.from(noise.encodeFrame(hello)).toString('hex') })

    const serverHello = proto.HandshakeMessage.decode(await nextFrame())
    const keyEnc = noise.processHandshake(serverHello, noiseKey)
    const payloadEnc = noise.encrypt(hex(args.payload))
    const finish = proto.HandshakeMessage.encode({ clientFinish: { static: keyEnc, payload: payloadEnc } }).finish()
    out({ step: 'finish', data: Buffer.from(noise.encodeFrame(finish)).toString('hex') })
    await noise.finishInit()

    out({ step: 'transport', data: Buffer.from(noise.encodeFrame(hex(args.transportPayload))).toString('hex') })
    const node = await nextFrame()
    out({ step: 'node', tag: node.tag, attrs: node.attrs })
    process.exit(0)
} catch (err) {
    out({ step: 'error', message: String(err && err.message || err) })
    process.exit(1)
}
