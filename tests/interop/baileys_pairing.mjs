// Test-only driver: Baileys' own companion-side pairing code, as an oracle for wamd.pairing.
// Reads one JSON request on stdin, writes one JSON answer on stdout. Hex strings throughout.
//   {"crockford": [hex5, ...]}                         -> {"crockford": [code, ...]}
//   {"wrap": {code, pub, salt, iv}}                     -> {"wrapped": hex}   (generatePairingKey)
//   {"finish": {code, ephPriv, identityPriv, identityPub, primaryWrapped, primaryIdentityPub,
//               random, salt, iv}}                      -> {"bundle": hex, "advSecret": hex}
//       (the link_code_companion_reg notification handler of Socket/messages-recv.js)
//   {"pairSuccess": {id, deviceIdentity, jid, lid, advSecret, identityPriv, identityPub}}
//       -> {"reply": {tag, attrs, keyIndex, identity: hex}} or {"error": message}
//       (Utils/validate-connection.js configureSuccessfulPairing)
import {
    Curve, aesDecryptCTR, aesEncryptCTR, aesEncryptGCM, bytesToCrockford,
    configureSuccessfulPairing, derivePairingCodeKey, hkdf,
} from 'baileys'

const hex = (b) => Buffer.from(b).toString('hex')
const buf = (h) => Buffer.from(h, 'hex')

let input = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk) => { input += chunk })
process.stdin.on('end', async () => {
    const req = JSON.parse(input)
    const out = {}
    if (req.crockford) {
        out.crockford = req.crockford.map((h) => bytesToCrockford(buf(h)))
    }
    if (req.wrap) {
        const { code, pub, salt, iv } = req.wrap
        const key = await derivePairingCodeKey(code, buf(salt))
        out.wrapped = hex(Buffer.concat([buf(salt), buf(iv), aesEncryptCTR(buf(pub), key, buf(iv))]))
    }
    if (req.finish) {
        const f = req.finish
        const wrapped = buf(f.primaryWrapped)
        const key = await derivePairingCodeKey(f.code, wrapped.subarray(0, 32))
        const primaryEph = aesDecryptCTR(wrapped.subarray(48, 80), key, wrapped.subarray(32, 48))
        const companionShared = Curve.sharedKey(buf(f.ephPriv), primaryEph)
        const bundleKey = hkdf(companionShared, 32, {
            salt: buf(f.salt), info: 'link_code_pairing_key_bundle_encryption_key',
        })
        const plain = Buffer.concat([buf(f.identityPub), buf(f.primaryIdentityPub), buf(f.random)])
        const encrypted = aesEncryptGCM(plain, bundleKey, buf(f.iv), Buffer.alloc(0))
        out.bundle = hex(Buffer.concat([buf(f.salt), buf(f.iv), encrypted]))
        const identityShared = Curve.sharedKey(buf(f.identityPriv), buf(f.primaryIdentityPub))
        const payload = Buffer.concat([companionShared, identityShared, buf(f.random)])
        out.advSecret = hex(hkdf(payload, 32, { info: 'adv_secret' }))
    }
    if (req.pairSuccess) {
        const p = req.pairSuccess
        const stanza = {
            tag: 'iq', attrs: { id: p.id, type: 'set', from: '@s.whatsapp.net' },
            content: [{
                tag: 'pair-success', attrs: {},
                content: [
                    { tag: 'device-identity', attrs: {}, content: buf(p.deviceIdentity) },
                    { tag: 'device', attrs: { jid: p.jid, lid: p.lid } },
                    { tag: 'platform', attrs: { name: 'sandbox' } },
                ],
            }],
        }
        try {
            const { reply } = configureSuccessfulPairing(stanza, {
                advSecretKey: buf(p.advSecret).toString('base64'),
                signedIdentityKey: { private: buf(p.identityPriv), public: buf(p.identityPub) },
                signalIdentities: [],
            })
            const sign = reply.content[0]
            const identity = sign.content[0]
            out.reply = {
                tag: reply.tag, attrs: reply.attrs, signTag: sign.tag, identityTag: identity.tag,
                keyIndex: identity.attrs['key-index'], identity: hex(identity.content),
            }
        } catch (e) {
            out.error = String(e && e.message || e)
        }
    }
    process.stdout.write(JSON.stringify(out))
})
