// Test-only driver: npm libsignal@6.0.0 (1:1 sessions) and Baileys rc14's lib/Signal/Group
// (sender keys; libsignal-node has none) as a Signal peer for wamd's interop tests and bench.
// Protocol: one JSON request per line on stdin -> one JSON answer per line on stdout.
//   request  {"id": n, "cmd": "...", ...}
//   answer   {"id": n, "ok": true, "result": ...} | {"id": n, "ok": false, "error": name, "message": text}
// Bytes are hex. Keys in bundles are 32 raw bytes (hex); the driver adds/strips the 0x05 prefix.
import { createRequire } from 'node:module';
import readline from 'node:readline';
import { performance } from 'node:perf_hooks';

// Baileys' group modules pull in its whole protobuf bundle: load them on first group use.
let G = null;
async function group() {
    if (G === null) G = await import('baileys/lib/Signal/Group/index.js');
    return G;
}

const require = createRequire(import.meta.url);
const libsignal = require('libsignal');
const { curve, keyhelper, ProtocolAddress, SessionBuilder, SessionCipher, SessionRecord } = libsignal;

const hex = (b) => Buffer.from(b).toString('hex');
const buf = (h) => Buffer.from(h, 'hex');
const djb = (h) => Buffer.concat([Buffer.from([5]), buf(h)]);
const raw = (b) => hex(b.length === 33 ? b.subarray(1) : b);

class Party {
    constructor(regId) {
        this.identity = keyhelper.generateIdentityKeyPair();
        this.registrationId = regId ?? keyhelper.generateRegistrationId();
        this.sessions = new Map();
        this.preKeys = new Map();
        this.signedPreKeys = new Map();
        this.senderKeys = new Map();
        this.nextPreKeyId = 1;
        this.signedPreKeyId = 1;
        const spk = keyhelper.generateSignedPreKey(this.identity, this.signedPreKeyId);
        this.signedPreKeys.set(spk.keyId, spk);
        this.storage = {
            getOurIdentity: async () => this.identity,
            getOurRegistrationId: async () => this.registrationId,
            isTrustedIdentity: async () => true,
            loadSession: async (addr) => this.sessions.get(addr),
            storeSession: async (addr, record) => { this.sessions.set(addr, record); },
            loadPreKey: async (id) => { const k = this.preKeys.get(id); return k && k.keyPair; },
            removePreKey: async (id) => { this.preKeys.delete(id); },
            loadSignedPreKey: async (id) => { const k = this.signedPreKeys.get(id); return k && k.keyPair; },
            loadSenderKey: async (name) => {
                const s = this.senderKeys.get(name.toString());
                return s ? new G.SenderKeyRecord(JSON.parse(s, reviver)) : new G.SenderKeyRecord();
            },
            storeSenderKey: async (name, record) => {
                this.senderKeys.set(name.toString(), JSON.stringify(record.serialize(), replacer));
            },
        };
    }

    bundle(withPreKey) {
        const spk = this.signedPreKeys.get(this.signedPreKeyId);
        const out = {
            registration_id: this.registrationId,
            identity_key: raw(this.identity.pubKey),
            signed_prekey_id: spk.keyId,
            signed_prekey: raw(spk.keyPair.pubKey),
            signed_prekey_signature: hex(spk.signature),
        };
        if (withPreKey) {
            const pk = keyhelper.generatePreKey(this.nextPreKeyId++);
            this.preKeys.set(pk.keyId, pk);
            out.prekey_id = pk.keyId;
            out.prekey = raw(pk.keyPair.pubKey);
        }
        return out;
    }

    async processBundle(address, b) {
        const device = {
            registrationId: b.registration_id,
            identityKey: djb(b.identity_key),
            signedPreKey: { keyId: b.signed_prekey_id, publicKey: djb(b.signed_prekey), signature: buf(b.signed_prekey_signature) },
        };
        if (b.prekey_id !== undefined && b.prekey_id !== null) {
            device.preKey = { keyId: b.prekey_id, publicKey: djb(b.prekey) };
        }
        await new SessionBuilder(this.storage, ProtocolAddress.from(address)).initOutgoing(device);
    }

    async encrypt(address, plaintext) {
        const r = await new SessionCipher(this.storage, ProtocolAddress.from(address)).encrypt(plaintext);
        return { type: r.type === 3 ? 'pkmsg' : 'msg', body: Buffer.from(r.body, 'binary') };
    }

    async decrypt(address, type, body) {
        const cipher = new SessionCipher(this.storage, ProtocolAddress.from(address));
        return type === 'pkmsg' ? cipher.decryptPreKeyWhisperMessage(body) : cipher.decryptWhisperMessage(body);
    }

    async senderKeyName(groupId, sender) {
        const { SenderKeyName } = await group();
        return new SenderKeyName(groupId, ProtocolAddress.from(sender));
    }

    async groupCreate(groupId, sender) {
        const { GroupSessionBuilder } = await group();
        const skdm = await new GroupSessionBuilder(this.storage).create(await this.senderKeyName(groupId, sender));
        return skdm.serialize();
    }

    async groupProcess(groupId, sender, skdm) {
        const { GroupSessionBuilder, SenderKeyDistributionMessage } = await group();
        const msg = new SenderKeyDistributionMessage(null, null, null, null, skdm);
        await new GroupSessionBuilder(this.storage).process(await this.senderKeyName(groupId, sender), msg);
    }

    async groupEncrypt(groupId, sender, plaintext) {
        const { GroupCipher } = await group();
        return new GroupCipher(this.storage, await this.senderKeyName(groupId, sender)).encrypt(plaintext);
    }

    async groupDecrypt(groupId, sender, body) {
        const { GroupCipher } = await group();
        return new GroupCipher(this.storage, await this.senderKeyName(groupId, sender)).decrypt(body);
    }
}

// Sender key records go through JSON like Baileys' own key store does (Buffers as base64).
function replacer(key, value) {
    if (value && value.type === 'Buffer' && Array.isArray(value.data)) {
        return { type: 'Buffer', data: Buffer.from(value.data).toString('base64') };
    }
    return value;
}
function reviver(key, value) {
    if (value && value.type === 'Buffer' && typeof value.data === 'string') {
        return Buffer.from(value.data, 'base64');
    }
    return value;
}

function errorOf(e) { return { error: (e && (e.name || e.constructor.name)) || 'Error', message: String(e && e.message || e) }; }

const party = new Party();

// --- self-timed benchmarks (two in-process libsignal parties) --------------------------------

async function pairOfSessions() {
    const alice = new Party(); const bob = new Party();
    await alice.processBundle('bob.1', bob.bundle(true));
    const first = await alice.encrypt('bob.1', Buffer.from('hello'));
    await bob.decrypt('alice.1', first.type, first.body);
    const reply = await bob.encrypt('alice.1', Buffer.from('hi'));
    await alice.decrypt('bob.1', reply.type, reply.body);
    return { alice, bob };
}

// Each row runs in batches and reports the best batch's rate (wall clock), like the Python side:
// on a shared machine the best batch is the one closest to an idle core.
async function bestRate(n, batches, step) {
    const size = Math.max(1, Math.floor(n / batches));
    let best = 0;
    for (let b = 0; b < batches; b++) {
        const t0 = performance.now();
        for (let i = 0; i < size; i++) await step(b * size + i);
        best = Math.max(best, size / ((performance.now() - t0) / 1000));
    }
    return best;
}

async function benchPairs(n, batches, ratchet, size) {
    const { alice, bob } = await pairOfSessions();
    const payload = Buffer.alloc(size, 7);
    return bestRate(n, batches, async (i) => {
        if (ratchet && i % 2 === 1) {
            const m = await bob.encrypt('alice.1', payload);
            await alice.decrypt('bob.1', m.type, m.body);
        } else {
            const m = await alice.encrypt('bob.1', payload);
            await bob.decrypt('alice.1', m.type, m.body);
        }
    });
}

async function benchSetup(n, batches) {
    const alice = new Party();
    const bobs = []; const bundles = [];
    for (let i = 0; i < n; i++) { const b = new Party(); bobs.push(b); bundles.push(b.bundle(true)); }
    const payload = Buffer.from('hello');
    return bestRate(n, batches, async (i) => {
        await alice.processBundle(`bob${i}.1`, bundles[i]);
        const m = await alice.encrypt(`bob${i}.1`, payload);
        await bobs[i].decrypt('alice.1', m.type, m.body);
    });
}

async function benchGroup(n, batches, size) {
    const alice = new Party(); const bob = new Party();
    const skdm = await alice.groupCreate('g@g.us', 'alice.1');
    await bob.groupProcess('g@g.us', 'alice.1', skdm);
    const payload = Buffer.alloc(size, 7);
    return bestRate(n, batches, async () => {
        const c = await alice.groupEncrypt('g@g.us', 'alice.1', payload);
        await bob.groupDecrypt('g@g.us', 'alice.1', c);
    });
}

// --- command loop -----------------------------------------------------------------------------

const handlers = {
    async bundle(req) { return party.bundle(req.prekey !== false); },
    async identity() { return { identity_key: raw(party.identity.pubKey), registration_id: party.registrationId }; },
    async process_bundle(req) { await party.processBundle(req.address, req.bundle); return null; },
    async encrypt(req) {
        const out = [];
        for (const p of req.plaintexts) {
            const m = await party.encrypt(req.address, buf(p));
            out.push({ type: m.type, body: hex(m.body) });
        }
        return out;
    },
    async decrypt(req) {
        const out = [];
        for (const item of req.items) {
            try { out.push({ plaintext: hex(await party.decrypt(req.address, item.type, buf(item.body))) }); }
            catch (e) { out.push(errorOf(e)); }
        }
        return out;
    },
    async has_open_session(req) {
        const record = party.sessions.get(req.address);
        return !!record && record.haveOpenSession();
    },
    async roundtrip_record(req) {
        // Serialize and reload the peer's own record (libsignal's JSON form) to prove it survives.
        const record = party.sessions.get(req.address);
        party.sessions.set(req.address, SessionRecord.deserialize(JSON.parse(JSON.stringify(record.serialize()))));
        return null;
    },
    async group_create(req) { return hex(await party.groupCreate(req.group, req.sender)); },
    async group_process(req) { await party.groupProcess(req.group, req.sender, buf(req.skdm)); return null; },
    async group_encrypt(req) {
        const out = [];
        for (const p of req.plaintexts) out.push(hex(await party.groupEncrypt(req.group, req.sender, buf(p))));
        return out;
    },
    async group_decrypt(req) {
        const out = [];
        for (const body of req.items) {
            try { out.push({ plaintext: hex(await party.groupDecrypt(req.group, req.sender, buf(body))) }); }
            catch (e) { out.push(errorOf(e)); }
        }
        return out;
    },
    async bench(req) {
        return {
            pairs: await benchPairs(req.n, req.batches, false, req.size),
            pairs_ratchet: await benchPairs(req.n_ratchet, req.batches, true, req.size),
            setups: await benchSetup(req.n_setup, req.batches),
            group: await benchGroup(req.n_group, req.batches, req.size),
        };
    },
};

// libsignal-node logs session events with console.*; keep stdout for answers only.
for (const level of ['log', 'info', 'warn', 'error', 'debug']) console[level] = () => {};

const rl = readline.createInterface({ input: process.stdin, terminal: false });
let queue = Promise.resolve();
rl.on('line', (line) => {
    if (!line.trim()) return;
    queue = queue.then(async () => {
        let req;
        try { req = JSON.parse(line); } catch (e) { process.stdout.write(JSON.stringify({ id: null, ok: false, ...errorOf(e) }) + '\n'); return; }
        let answer;
        try {
            const handler = handlers[req.cmd];
            if (!handler) throw new Error(`unknown command ${req.cmd}`);
            answer = { id: req.id, ok: true, result: await handler(req) };
        } catch (e) {
            answer = { id: req.id, ok: false, ...errorOf(e) };
        }
        process.stdout.write(JSON.stringify(answer) + '\n');
    });
});
rl.on('close', () => { queue.then(() => process.exit(0)); });
