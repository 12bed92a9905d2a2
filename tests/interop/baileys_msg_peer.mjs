// A Baileys (rc14) client on a wamd sandbox that sends and receives every common message kind:
// it pairs by QR (or logs in from saved creds), obeys JSON-line commands on stdin and reports
// JSON-line events on stdout. Messages travel as proto.Message JSON (bytes as base64).
//
// argv[2] = JSON {url, rootPublicKey (hex), authDir}
// stdin commands (each answered by {"event":"done","rid":..,...} or {"event":"error","rid":..}):
//   {"cmd":"send","rid","to","content":C,"quoted"?:id}   Baileys' sendMessage(to, C, {quoted})
//        C is AnyMessageContent; {"b64":..} values become Buffers.   -> {"id","message"}
//   {"cmd":"vote","rid","to","poll":id,"selected":[names]}  a pollUpdateMessage for the poll
//        with that id (sent or received here)                         -> {"id","creator","voter"}
//   {"cmd":"presence","rid","type":"available|unavailable|composing|recording|paused","to"?}
//   {"cmd":"subscribe","rid","to"}                        presenceSubscribe(to)
//   {"cmd":"read","rid","ids":[id..]}                     readMessages for received messages
//   {"cmd":"download","rid","id"}                         downloadMediaMessage of a received
//        (or sent) media message                               -> {"bytes","sha256","b64"}
//   {"cmd":"reupload","rid","id"}                         updateMediaMessage: the media-retry
//        request to our phone; the stored message gets the new path -> {"directPath"}
//        (rc14's downloadMediaMessage never calls it by itself: it tests error.status, which
//        its Boom errors do not have, so a 410 just fails)
//   {"cmd":"groupCreate","rid","subject","participants":[jid]}  -> {"group": metadata}
//   {"cmd":"groupMetadata","rid","jid"}                   groupMetadata(jid) -> {"group"}
//   {"cmd":"groupParticipants","rid","jid","participants","action"}  add|remove|promote|demote
//                                                          -> {"result": [{status, jid}]}
//   {"cmd":"groupSubject","rid","jid","subject"}          groupUpdateSubject
//   {"cmd":"quit"}                                        saves the creds and exits 0
// stdout events:
//   {"event":"qr","qr"}  {"event":"open","me"}  {"event":"restart"}  {"event":"close","status"}
//   {"event":"message","id","remoteJid","remoteJidAlt","fromMe","participant","type",
//    "message","vote"?}   messages.upsert; type = getContentType(normalizeMessageContent(m));
//        a pollUpdateMessage for a known poll is decrypted with Baileys' decryptPollVote:
//        vote = {selected: [sha256 hex], creator, voter} (or {"error"}).
//   {"event":"update","id","remoteJid","update"}          messages.update (edits, revokes, status)
//   {"event":"reaction","key","reaction"}                 messages.reaction
//   {"event":"presence","id","presences"}                 presence.update
//   {"event":"groups.upsert","groups"}  {"event":"groups.update","groups"}
//   {"event":"group-participants.update","id","author","participants","action"}
//        (group metadata as Baileys emits it)
import readline from 'node:readline';
import P from 'pino';
import makeWASocket, {
    DisconnectReason,
    WA_CERT_DETAILS,
    useMultiFileAuthState,
    proto,
    getContentType,
    normalizeMessageContent,
    jidNormalizedUser,
    downloadMediaMessage,
} from 'baileys';
import { createHash } from 'node:crypto';
import { encryptVote, tryDecryptVote } from './baileys_msg_votes.mjs';

const args = JSON.parse(process.argv[2]);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
// libsignal logs the sessions it closes to stdout: keep stdout for the JSON lines
console.log = console.info = console.debug = (...args) => console.error(...args)
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(args.rootPublicKey, 'hex');
const logger = P({ level: process.env.BAILEYS_LOG || 'silent' }, P.destination(2));
const { state, saveCreds } = await useMultiFileAuthState(args.authDir);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const store = new Map(); // message id -> WAMessage (sent and received)
let current = null;
let finished = false;

const toJson = (message) => proto.Message.toObject(proto.Message.fromObject(message), {
    longs: Number, bytes: String, defaults: false,
});

function revive(value) {
    if (Array.isArray(value)) return value.map(revive);
    if (value && typeof value === 'object') {
        if (typeof value.b64 === 'string' && Object.keys(value).length === 1) {
            return Buffer.from(value.b64, 'base64');
        }
        const obj = {};
        for (const [k, v] of Object.entries(value)) obj[k] = revive(v);
        return obj;
    }
    return value;
}

const finish = async (code) => {
    if (finished) return;
    finished = true;
    try { await current?.end(undefined); } catch { }
    await sleep(300);
    await saveCreds();
    await sleep(300);
    process.exit(code);
};

const meForms = () => {
    const me = state.creds.me || {};
    return [me.id, me.lid].filter(Boolean).map(jidNormalizedUser);
};

function pollSecret(poll) {
    const content = normalizeMessageContent(poll.message);
    return poll.message?.messageContextInfo?.messageSecret || content?.messageContextInfo?.messageSecret;
}

function readVote(m, update) {
    const key = update.pollCreationMessageKey || {};
    const poll = store.get(key.id);
    if (!poll) return { error: `unknown poll ${key.id}` };
    const secret = pollSecret(poll);
    if (!secret) return { error: 'poll without a secret' };
    const creators = poll.key.fromMe
        ? meForms()
        : [poll.key.participant, poll.key.remoteJid, poll.key.remoteJidAlt, poll.key.participantAlt]
            .filter(Boolean).map(jidNormalizedUser);
    const voters = m.key.fromMe
        ? meForms()
        : [m.key.participant, m.key.remoteJid, m.key.remoteJidAlt, m.key.participantAlt]
            .filter(Boolean).map(jidNormalizedUser);
    const got = tryDecryptVote(update.vote, {
        pollEncKey: secret, pollMsgId: key.id, creators, voters,
    });
    return got || { error: 'vote does not decrypt', creators, voters };
}

const start = () => {
    const sock = current = makeWASocket({
        waWebSocketUrl: args.url,
        auth: state,
        logger,
        markOnlineOnConnect: false,
        syncFullHistory: false,
        getMessage: async (key) => store.get(key.id)?.message || undefined,
    });
    sock.ev.on('creds.update', saveCreds);
    sock.ev.on('connection.update', async (update) => {
        const { connection, lastDisconnect, qr } = update;
        if (qr) out({ event: 'qr', qr });
        if (connection === 'open') out({ event: 'open', me: state.creds.me });
        if (connection === 'close') {
            const status = lastDisconnect?.error?.output?.statusCode;
            if (status === DisconnectReason.restartRequired) {
                out({ event: 'restart' });
                start();
            } else if (!finished) {
                out({ event: 'close', status, message: String(lastDisconnect?.error?.message || '') });
                await finish(2);
            }
        }
    });
    sock.ev.on('messages.upsert', ({ messages }) => {
        for (const m of messages) {
            if (m.key?.id && m.message) store.set(m.key.id, m);
            const content = normalizeMessageContent(m.message);
            const event = {
                event: 'message',
                id: m.key.id,
                remoteJid: m.key.remoteJid,
                remoteJidAlt: m.key.remoteJidAlt,
                fromMe: !!m.key.fromMe,
                participant: m.key.participant,
                type: getContentType(content) ?? null,
                message: m.message ? toJson(m.message) : null,
                stub: m.messageStubType ?? null,
            };
            if (content?.pollUpdateMessage) event.vote = readVote(m, content.pollUpdateMessage);
            out(event);
        }
    });
    sock.ev.on('messages.update', (updates) => {
        for (const u of updates) {
            const update = { ...u.update };
            if (update.message) update.message = toJson(update.message);
            out({ event: 'update', id: u.key.id, remoteJid: u.key.remoteJid, update });
        }
    });
    sock.ev.on('messages.reaction', (reactions) => {
        for (const r of reactions) {
            out({ event: 'reaction', key: r.key, reaction: { text: r.reaction?.text ?? '', key: r.reaction?.key } });
        }
    });
    sock.ev.on('presence.update', (p) => out({ event: 'presence', id: p.id, presences: p.presences }));
    sock.ev.on('groups.upsert', (groups) => out({ event: 'groups.upsert', groups }));
    sock.ev.on('groups.update', (groups) => out({ event: 'groups.update', groups }));
    sock.ev.on('group-participants.update', (u) => out({ event: 'group-participants.update', ...u }));
};

async function send(cmd) {
    const options = {};
    if (cmd.quoted) {
        const quoted = store.get(cmd.quoted);
        if (!quoted) throw new Error(`unknown quoted message ${cmd.quoted}`);
        options.quoted = quoted;
    }
    const sent = await current.sendMessage(cmd.to, revive(cmd.content), options);
    if (sent?.key?.id) store.set(sent.key.id, sent);
    return { id: sent?.key?.id, message: sent?.message ? toJson(sent.message) : null };
}

async function vote(cmd) {
    const poll = store.get(cmd.poll);
    if (!poll) throw new Error(`unknown poll ${cmd.poll}`);
    const me = meForms();
    const pollKey = poll.key;
    // The creator and our own JID in the poll's addressing (phone number or LID).
    const chat = jidNormalizedUser(pollKey.remoteJid);
    const lidChat = chat.endsWith('@lid');
    const voterJid = me.find((j) => j.endsWith('@lid') === lidChat) || me[0];
    const pollCreatorJid = pollKey.fromMe ? voterJid : jidNormalizedUser(pollKey.participant || pollKey.remoteJid);
    const { encPayload, encIv } = encryptVote({
        selected: cmd.selected, pollEncKey: pollSecret(poll), pollMsgId: pollKey.id,
        pollCreatorJid, voterJid,
    });
    const message = {
        pollUpdateMessage: {
            pollCreationMessageKey: {
                remoteJid: pollKey.remoteJid, fromMe: !!pollKey.fromMe, id: pollKey.id,
                ...(pollKey.participant ? { participant: pollKey.participant } : {}),
            },
            vote: { encPayload, encIv },
            senderTimestampMs: Date.now(),
        },
    };
    const id = await current.relayMessage(cmd.to, message, {
        additionalNodes: [{ tag: 'meta', attrs: { polltype: 'vote' } }],
    });
    return { id, creator: pollCreatorJid, voter: voterJid };
}

async function download(cmd) {
    const m = store.get(cmd.id);
    if (!m) throw new Error(`unknown message ${cmd.id}`);
    const data = await downloadMediaMessage(m, 'buffer', {}, {
        logger, reuploadRequest: current.updateMediaMessage,
    });
    return { bytes: data.length, sha256: createHash('sha256').update(data).digest('hex'),
        b64: data.toString('base64') };
}

async function reupload(cmd) {
    const m = store.get(cmd.id);
    if (!m) throw new Error(`unknown message ${cmd.id}`);
    const updated = await current.updateMediaMessage(m);
    const content = normalizeMessageContent(updated.message);
    const media = content?.[getContentType(content)];
    return { directPath: media?.directPath ?? null };
}

const COMMANDS = {
    send,
    vote,
    download,
    reupload,
    groupCreate: async (cmd) => ({ group: await current.groupCreate(cmd.subject, cmd.participants) }),
    groupMetadata: async (cmd) => ({ group: await current.groupMetadata(cmd.jid) }),
    groupParticipants: async (cmd) => ({
        result: (await current.groupParticipantsUpdate(cmd.jid, cmd.participants, cmd.action))
            .map(({ status, jid }) => ({ status, jid })),
    }),
    groupSubject: async (cmd) => { await current.groupUpdateSubject(cmd.jid, cmd.subject); return {}; },
    presence: async (cmd) => { await current.sendPresenceUpdate(cmd.type, cmd.to); return {}; },
    subscribe: async (cmd) => { await current.presenceSubscribe(cmd.to); return {}; },
    read: async (cmd) => {
        const keys = cmd.ids.map((id) => store.get(id)?.key).filter(Boolean);
        await current.readMessages(keys);
        return { marked: keys.length };
    },
};

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', async (line) => {
    let cmd;
    try { cmd = JSON.parse(line); } catch { return; }
    if (cmd.cmd === 'quit') { await finish(0); return; }
    try {
        const op = COMMANDS[cmd.cmd];
        if (!op) throw new Error(`unknown command ${cmd.cmd}`);
        out({ event: 'done', rid: cmd.rid, ...(await op(cmd)) });
    } catch (err) {
        out({ event: 'error', rid: cmd.rid, message: String(err?.stack || err) });
    }
});
lines.on('close', () => finish(0));

start();
