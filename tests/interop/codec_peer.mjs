// Test peer for wamd's binary node codec: Baileys' WABinary encoder/decoder behind a JSON-lines
// protocol on stdin/stdout (one request per line, one answer per line, in order).
//
// Node JSON: {"tag": str, "attrs": {str: str}, "content": null | [node...] | {"b64": str} | {"str": str}}
// Requests:
//   {"op": "tokens"}                      -> {"single": [...], "double": [[...] x4], "tags": {...}}
//   {"op": "encode", "node": N}           -> {"hex": <Baileys' bytes without the flag byte>}
//   {"op": "decode", "hex": H}            -> {"node": N}  (H: node bytes, no flag byte)
//   {"op": "decode_frame", "hex": H}      -> {"node": N}  (H: flag byte + maybe-compressed node)
//   {"op": "deflate_frame", "node": N}    -> {"hex": flag 0x02 + zlib(encoded node)}
//   {"op": "bench", "nodes": [N...], "seconds": s}
//        -> {"encode": {"nodes", "bytes", "seconds", "cpu_seconds"}, "decode": {...}}
// Errors: {"error": message}.
import { createInterface } from 'node:readline';
import { deflateSync } from 'node:zlib';
import * as constants from 'baileys/lib/WABinary/constants.js';
import { encodeBinaryNode } from 'baileys/lib/WABinary/encode.js';
import { decodeBinaryNode, decodeDecompressedBinaryNode } from 'baileys/lib/WABinary/decode.js';

function fromJson(n) {
    const node = { tag: n.tag, attrs: { ...n.attrs } };
    const c = n.content;
    if (c === null || c === undefined) {
        // no content
    } else if (Array.isArray(c)) {
        node.content = c.map(fromJson);
    } else if (typeof c.b64 === 'string') {
        node.content = Buffer.from(c.b64, 'base64');
    } else if (typeof c.str === 'string') {
        node.content = c.str;
    } else {
        throw new Error('bad node content in request');
    }
    return node;
}

function toJson(n) {
    const out = { tag: n.tag, attrs: n.attrs, content: null };
    const c = n.content;
    if (c === undefined || c === null) {
        out.content = null;
    } else if (Array.isArray(c)) {
        out.content = c.map(toJson);
    } else if (typeof c === 'string') {
        out.content = { str: c };
    } else {
        out.content = { b64: Buffer.from(c).toString('base64') };
    }
    return out;
}

function encodeNoFlag(node) {
    const withFlag = encodeBinaryNode(node);
    return withFlag.subarray(1);
}

function bench(nodes, seconds) {
    const encoded = nodes.map((n) => encodeBinaryNode(n));
    const stripped = encoded.map((b) => b.subarray(1));
    const totalBytes = stripped.reduce((s, b) => s + b.length, 0);
    const measure = (fn) => {
        for (let i = 0; i < 50; i++) fn(); // warm up the JIT
        let rounds = 0;
        const start = process.hrtime.bigint();
        const cpuStart = process.cpuUsage();
        const limit = BigInt(Math.round(seconds * 1e9));
        let elapsed = 0n;
        do {
            fn();
            rounds++;
            elapsed = process.hrtime.bigint() - start;
        } while (elapsed < limit);
        const cpu = process.cpuUsage(cpuStart);
        return {
            nodes: rounds * nodes.length,
            bytes: rounds * totalBytes,
            seconds: Number(elapsed) / 1e9,
            cpu_seconds: (cpu.user + cpu.system) / 1e6,
        };
    };
    const encode = measure(() => {
        for (const n of nodes) encodeBinaryNode(n);
    });
    const decode = measure(() => {
        for (const b of stripped) decodeDecompressedBinaryNode(b, constants);
    });
    return { encode, decode };
}

async function handle(req) {
    switch (req.op) {
        case 'tokens':
            return { single: constants.SINGLE_BYTE_TOKENS, double: constants.DOUBLE_BYTE_TOKENS, tags: constants.TAGS };
        case 'encode':
            return { hex: Buffer.from(encodeNoFlag(fromJson(req.node))).toString('hex') };
        case 'decode':
            return { node: toJson(decodeDecompressedBinaryNode(Buffer.from(req.hex, 'hex'), constants)) };
        case 'decode_frame':
            return { node: toJson(await decodeBinaryNode(Buffer.from(req.hex, 'hex'))) };
        case 'deflate_frame': {
            const body = deflateSync(encodeNoFlag(fromJson(req.node)));
            return { hex: Buffer.concat([Buffer.from([2]), body]).toString('hex') };
        }
        case 'bench':
            return bench(req.nodes.map(fromJson), req.seconds);
        default:
            throw new Error('unknown op ' + req.op);
    }
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
    if (!line.trim()) continue;
    let answer;
    try {
        answer = await handle(JSON.parse(line));
    } catch (err) {
        answer = { error: String(err && err.message ? err.message : err) };
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
}
