// Test-only driver: npm libsignal@6.0.0's curve as an XEdDSA / X25519 oracle for wamd.
// Reads one JSON request on stdin, writes one JSON answer on stdout. Hex strings throughout.
//   {"make": n, "message": hex, "verify": [{"pub": hex32, "msg": hex, "sig": hex}],
//    "agree": [{"priv": hex32, "pub": hex32}], "public_of": [hex32]}
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { curve } = require('libsignal');

const hex = (b) => Buffer.from(b).toString('hex');
const buf = (h) => Buffer.from(h, 'hex');
const djb = (pub32) => Buffer.concat([Buffer.from([5]), buf(pub32)]);

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
    const req = JSON.parse(input);
    const out = { made: [], verified: [], agreed: [], publics: [] };
    const message = buf(req.message || '');
    for (let i = 0; i < (req.make || 0); i++) {
        const kp = curve.generateKeyPair();
        const msg = Buffer.concat([message, Buffer.from([i & 0xff])]);
        out.made.push({
            priv: hex(kp.privKey), pub: hex(kp.pubKey.subarray(1)), msg: hex(msg),
            sig: hex(curve.calculateSignature(kp.privKey, msg)),
        });
    }
    for (const v of req.verify || []) {
        let ok;
        try { ok = curve.verifySignature(djb(v.pub), buf(v.msg), buf(v.sig)); } catch (e) { ok = false; }
        out.verified.push(ok);
    }
    for (const a of req.agree || []) {
        out.agreed.push(hex(curve.calculateAgreement(djb(a.pub), buf(a.priv))));
    }
    for (const p of req.public_of || []) {
        out.publics.push(hex(curve.getPublicFromPrivateKey(buf(p)).subarray(1)));
    }
    process.stdout.write(JSON.stringify(out));
});
