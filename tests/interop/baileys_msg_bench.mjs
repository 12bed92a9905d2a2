// Baileys (rc14) side of bench/messaging.py: the same measurements as wamd's, on the same
// sandbox, in the same run. Output: JSON lines on stdout. CPU is this process's own
// (process.cpuUsage: user + system, all threads), memory its resident set size.
//
// argv[2] = JSON {url, rootPublicKey (hex), adminUrl, mode, authDirs: [dir..], phones: [..],
//                 to?, count?, window?, parallel?}
// modes:
//   "pair"  pair a socket per auth dir with its phone (the sandbox phone scans the QR through
//           the admin API), save the creds, close    -> {"event":"paired","i"}.. {"event":"done"}
//   "idle"  open a socket per (already paired) auth dir, wait until all are open, collect
//           garbage; -> {"event":"idle","n","rssBefore","rssAfter"}; stays until stdin closes
//   "recv"  one socket; the first received message is the warm-up, then `count` more are
//           timed -> {"event":"ready","me"} .. {"event":"recv","count","cpuUs","wallS"}
//   "send"  one socket; on a line on stdin: a warm-up, then `count` texts to `to`, at most
//           `window` awaiting at once -> {"event":"ready","me"} .. {"event":"sent","wallS"}
import readline from 'node:readline';
import P from 'pino';
import makeWASocket, { DisconnectReason, WA_CERT_DETAILS, useMultiFileAuthState } from 'baileys';

const args = JSON.parse(process.argv[2]);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
// libsignal logs the sessions it closes to stdout: keep stdout for the JSON lines
console.log = console.info = console.debug = (...args) => console.error(...args)
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(args.rootPublicKey, 'hex');
const logger = P({ level: process.env.BAILEYS_LOG || 'silent' }, P.destination(2));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const gc = () => { if (global.gc) { global.gc(); global.gc(); } };

// Open a socket for an auth dir; resolves with it once 'open' (re-opening after the 515
// restart of a pairing). `phone` set: scan its QR codes through the admin API.
async function openSocket(authDir, { phone, onMessage } = {}) {
    const { state, saveCreds } = await useMultiFileAuthState(authDir);
    return new Promise((resolve, reject) => {
        const start = () => {
            const sock = makeWASocket({
                waWebSocketUrl: args.url, auth: state, logger,
                markOnlineOnConnect: false, syncFullHistory: false,
            });
            sock.ev.on('creds.update', saveCreds);
            if (onMessage) sock.ev.on('messages.upsert', onMessage);
            let scanned = false;
            sock.ev.on('connection.update', async ({ connection, lastDisconnect, qr }) => {
                if (qr && phone && !scanned) {
                    scanned = true;
                    const res = await fetch(`${args.adminUrl}/scan_qr`, {
                        method: 'POST', headers: { 'content-type': 'application/json' },
                        body: JSON.stringify({ qr, phone }),
                    });
                    if (!res.ok) reject(new Error(`scan_qr: ${res.status} ${await res.text()}`));
                }
                if (connection === 'open') resolve({ sock, state, saveCreds });
                if (connection === 'close') {
                    const status = lastDisconnect?.error?.output?.statusCode;
                    if (status === DisconnectReason.restartRequired) start();
                    else reject(new Error(`closed: ${status}`));
                }
            });
        };
        start();
    });
}

async function pair() {
    const parallel = args.parallel || 4;
    let next = 0;
    const worker = async () => {
        while (next < args.authDirs.length) {
            const i = next++;
            const { sock, saveCreds } = await openSocket(args.authDirs[i], { phone: args.phones[i] });
            await sleep(500);
            await saveCreds();
            sock.end(undefined);
            out({ event: 'paired', i });
        }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    await sleep(500);
    out({ event: 'done' });
    process.exit(0);
}

async function idle() {
    gc();
    await sleep(200);
    const rssBefore = process.memoryUsage().rss;
    const parallel = args.parallel || 16;
    const socks = [];
    let next = 0;
    const worker = async () => {
        while (next < args.authDirs.length) {
            const i = next++;
            socks.push((await openSocket(args.authDirs[i])).sock);
        }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    await sleep(5000);
    gc();
    await sleep(500);
    out({ event: 'idle', n: socks.length, rssBefore, rssAfter: process.memoryUsage().rss });
    readline.createInterface({ input: process.stdin }).on('close', () => process.exit(0));
}

async function recv() {
    let warm = false;
    let got = 0;
    let cpu0 = null;
    let t0 = 0;
    const onMessage = ({ messages, type }) => {
        if (type !== 'notify') return;
        for (const m of messages) {
            if (m.key.fromMe || !m.message) continue;
            if (!warm) {
                warm = true;
                cpu0 = process.cpuUsage();
                t0 = performance.now();
                out({ event: 'warm' });
                continue;
            }
            got += 1;
            if (got === args.count) {
                const cpu = process.cpuUsage(cpu0);
                out({ event: 'recv', count: got, cpuUs: cpu.user + cpu.system,
                      wallS: (performance.now() - t0) / 1000 });
                setTimeout(() => process.exit(0), 200);
            }
        }
    };
    const { state } = await openSocket(args.authDirs[0], { onMessage });
    out({ event: 'ready', me: state.creds.me });
}

async function send() {
    const { sock, state } = await openSocket(args.authDirs[0]);
    out({ event: 'ready', me: state.creds.me });
    const lines = readline.createInterface({ input: process.stdin });
    for await (const _ of lines) {
        await sock.sendMessage(args.to, { text: 'warmup' });
        await sleep(1000);
        const t0 = performance.now();
        let sent = 0;
        const worker = async () => {
            while (sent < args.count) {
                const i = sent++;
                await sock.sendMessage(args.to, { text: `message ${i}` });
            }
        };
        await Promise.all(Array.from({ length: args.window || 16 }, worker));
        out({ event: 'sent', wallS: (performance.now() - t0) / 1000 });
        break;
    }
    readline.createInterface({ input: process.stdin }).on('close', () => process.exit(0));
}

const MODES = { pair, idle, recv, send };
MODES[args.mode]().catch((err) => {
    out({ event: 'error', message: String(err?.stack || err) });
    process.exit(1);
});
