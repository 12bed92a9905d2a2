// Test peer for wamd's message builders and message secrets: Baileys' own message builders,
// content helpers and poll-vote crypto behind a JSON-lines protocol on stdin/stdout (one
// request per line, one answer per line, in order). No network.
//
// Messages travel as base64 of the serialized proto.Message.
// Requests:
//   {"op": "build", "jid": J, "content": C, "quoted"?: {"key": K, "message": B64},
//    "ephemeral"?: seconds}
//        -> {"b64": ...}  Baileys' generateWAMessage content for AnyMessageContent C (JSON:
//           byte fields as {"b64": ..}), as generateWAMessageFromContent completes it.
//   {"op": "inspect", "b64": M}
//        -> {"type": getContentType(normalizeMessageContent(m)), "json": m as JSON}
//   {"op": "decrypt_vote", "encPayload": B64, "encIv": B64, "pollCreatorJid", "pollMsgId",
//    "pollEncKey": B64, "voterJid"} -> {"selected": [hex...]}  (Baileys' decryptPollVote)
//   {"op": "encrypt_vote", "selected": [option name...], "pollCreatorJid", "pollMsgId",
//    "pollEncKey": B64, "voterJid", "iv"?: B64} -> {"encPayload": B64, "encIv": B64}
//        (the vote a Baileys app would send; checked with decryptPollVote before answering)
//   {"op": "tally", "poll": B64, "votes": [{"voter": J, "selected": [hex...]}], "me": J}
//        -> {"results": [{"name", "voters"}]}  (getAggregateVotesInPollMessage)
// Errors: {"error": message}.
import { createInterface } from 'node:readline';
import { encryptVote as encryptVoteWith } from './baileys_msg_votes.mjs';
import {
    proto,
    generateWAMessage,
    getContentType,
    normalizeMessageContent,
    decryptPollVote,
    getAggregateVotesInPollMessage,
} from 'baileys';

const b64 = (buf) => Buffer.from(buf).toString('base64');
const unb64 = (text) => Buffer.from(text, 'base64');

// JSON -> JS values: {"b64": ..} objects become Buffers.
function revive(value) {
    if (Array.isArray(value)) return value.map(revive);
    if (value && typeof value === 'object') {
        if (typeof value.b64 === 'string' && Object.keys(value).length === 1) return unb64(value.b64);
        const out = {};
        for (const [k, v] of Object.entries(value)) out[k] = revive(v);
        return out;
    }
    return value;
}

async function build(req) {
    const options = { userJid: req.me || '10000000001@s.whatsapp.net', upload: async () => { throw new Error('no upload'); } };
    if (req.quoted) {
        options.quoted = {
            key: req.quoted.key,
            message: proto.Message.decode(unb64(req.quoted.message)),
        };
        if (req.quoted.participant) options.quoted.participant = req.quoted.participant;
    }
    if (req.ephemeral) options.ephemeralExpiration = req.ephemeral;
    const content = revive(req.content);
    if (content.text !== undefined && content.linkPreview === undefined) content.linkPreview = null;
    const full = await generateWAMessage(req.jid, content, options);
    return { b64: b64(proto.Message.encode(full.message).finish()) };
}

function inspect(req) {
    const message = proto.Message.decode(unb64(req.b64));
    const normal = normalizeMessageContent(message);
    return {
        type: getContentType(normal) ?? null,
        json: proto.Message.toObject(message, { longs: Number, bytes: String, defaults: false }),
    };
}

function decryptVote(req) {
    const vote = decryptPollVote(
        { encPayload: unb64(req.encPayload), encIv: unb64(req.encIv) },
        {
            pollCreatorJid: req.pollCreatorJid,
            pollMsgId: req.pollMsgId,
            pollEncKey: unb64(req.pollEncKey),
            voterJid: req.voterJid,
        },
    );
    return { selected: (vote.selectedOptions || []).map((h) => Buffer.from(h).toString('hex')) };
}

function encryptVote(req) {
    const { encPayload, encIv } = encryptVoteWith({
        selected: req.selected,
        pollEncKey: unb64(req.pollEncKey),
        pollMsgId: req.pollMsgId,
        pollCreatorJid: req.pollCreatorJid,
        voterJid: req.voterJid,
        iv: req.iv ? unb64(req.iv) : undefined,
    });
    return { encPayload: b64(encPayload), encIv: b64(encIv) };
}

function tally(req) {
    const message = proto.Message.decode(unb64(req.poll));
    const pollUpdates = req.votes.map((v, i) => ({
        pollUpdateMessageKey: { remoteJid: v.voter, fromMe: false, id: `vote${i}`, participant: v.voter },
        vote: { selectedOptions: v.selected.map((h) => Buffer.from(h, 'hex')) },
        senderTimestampMs: i,
    }));
    const results = getAggregateVotesInPollMessage({ message, pollUpdates }, req.me);
    return { results: results.map((r) => ({ name: r.name, voters: r.voters })) };
}

const OPS = { build, inspect, decrypt_vote: decryptVote, encrypt_vote: encryptVote, tally };

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
    if (!line.trim()) continue;
    let answer;
    try {
        const req = JSON.parse(line);
        const op = OPS[req.op];
        if (!op) throw new Error(`unknown op ${req.op}`);
        answer = await op(req);
    } catch (err) {
        answer = { error: String(err && err.stack || err) };
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
}
