// Poll-vote encryption as a Baileys app has to do it (rc14 has no vote sender): the key is the
// one Baileys' own decryptPollVote derives (HKDF over the poll's messageSecret with info =
// poll id | poll creator | voter | "Poll Vote"), AES-GCM with "poll id NUL voter" as AD.
// Every vote is checked with Baileys' decryptPollVote before it is used.
import { randomBytes } from 'node:crypto';
import { proto, decryptPollVote, hmacSign, aesEncryptGCM, sha256 } from 'baileys';

function voteKey(pollEncKey, pollMsgId, pollCreatorJid, voterJid) {
    const sign = Buffer.concat([
        Buffer.from(pollMsgId),
        Buffer.from(pollCreatorJid),
        Buffer.from(voterJid),
        Buffer.from('Poll Vote'),
        new Uint8Array([1]),
    ]);
    const key0 = hmacSign(pollEncKey, new Uint8Array(32), 'sha256');
    return hmacSign(sign, key0, 'sha256');
}

// -> {encPayload, encIv} (Buffers) for the option names `selected`.
export function encryptVote({ selected, pollEncKey, pollMsgId, pollCreatorJid, voterJid, iv }) {
    const plain = proto.Message.PollVoteMessage.encode({
        selectedOptions: selected.map((name) => sha256(Buffer.from(name))),
    }).finish();
    const encIv = iv || randomBytes(12);
    const aad = Buffer.from(`${pollMsgId}\u0000${voterJid}`);
    const encPayload = aesEncryptGCM(plain, voteKey(pollEncKey, pollMsgId, pollCreatorJid, voterJid), encIv, aad);
    const check = decryptPollVote({ encPayload, encIv }, { pollCreatorJid, pollMsgId, pollEncKey, voterJid });
    if ((check.selectedOptions || []).length !== selected.length) throw new Error('vote does not round-trip');
    return { encPayload, encIv };
}

// Baileys' decryptPollVote, trying each (creator, voter) JID form pair; -> {selected: [hex],
// creator, voter} or null.
export function tryDecryptVote(vote, { pollEncKey, pollMsgId, creators, voters }) {
    for (const pollCreatorJid of creators.filter(Boolean)) {
        for (const voterJid of voters.filter(Boolean)) {
            try {
                const got = decryptPollVote(
                    { encPayload: vote.encPayload, encIv: vote.encIv },
                    { pollCreatorJid, pollMsgId, pollEncKey, voterJid },
                );
                return {
                    selected: (got.selectedOptions || []).map((h) => Buffer.from(h).toString('hex')),
                    creator: pollCreatorJid,
                    voter: voterJid,
                };
            } catch { }
        }
    }
    return null;
}
