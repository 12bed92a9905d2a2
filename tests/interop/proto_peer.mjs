// Test peer for wamd's protobuf schemas: Baileys' own protobuf classes (the `proto` object
// baileys exports, generated from its WAProto.proto) encode and decode; the reflection needed
// to walk messages by field number comes from protobufjs parsing that same WAProto.proto.
//
// Reads one JSON request on stdin, writes one JSON answer on stdout:
//   {"op": "schema"}                                  -> every message and enum Baileys declares
//   {"op": "encode", "items": [{"type", "tree"}]}     -> Baileys builds and encodes each tree
//   {"op": "decode", "items": [{"type", "b64"}]}      -> Baileys decodes each buffer
//   {"op": "samples"}                                 -> realistic messages built with Baileys' API
// A "tree" is the canonical form both sides share: an object keyed by field number; 64-bit
// integers as decimal strings, bytes as base64, enums as numbers, repeated fields as arrays.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import protobuf from 'protobufjs'
import { proto } from 'baileys'

const require = createRequire(import.meta.url)
const baileysDir = dirname(require.resolve('baileys/package.json'))
const root = protobuf.loadSync(join(baileysDir, 'WAProto', 'WAProto.proto'))
root.resolveAll()

const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64'])

function staticClass(fullName) {
  // "proto.Message.ImageMessage" -> proto.Message.ImageMessage (Baileys' generated class)
  let cls = { proto }
  for (const part of fullName.split('.')) {
    cls = cls[part]
    if (cls === undefined) throw new Error(`Baileys has no class ${fullName}`)
  }
  return cls
}

function lookup(fullName) {
  const type = root.lookupType(fullName)
  if (!type) throw new Error(`no type ${fullName}`)
  return type
}

// --- canonical form --------------------------------------------------------------------------

function canonScalar(field, value) {
  if (field.resolvedType instanceof protobuf.Enum) return Number(value)
  if (LONG_TYPES.has(field.type)) {
    if (typeof value === 'object' && value !== null && 'low' in value) {
      const unsigned = field.type === 'uint64' || field.type === 'fixed64'
      return protobuf.util.Long.fromBits(value.low, value.high, unsigned).toString()
    }
    return String(value)
  }
  if (field.type === 'bytes') return Buffer.from(value).toString('base64')
  return value
}

function canon(type, message) {
  const out = {}
  for (const field of type.fieldsArray) {
    if (!Object.prototype.hasOwnProperty.call(message, field.name)) continue
    const value = message[field.name]
    if (value === null || value === undefined) continue
    if (field.map) {
      // wamd declares no map fields: an empty map is absence, anything else must show up
      if (Object.keys(value).length) out[field.id] = { map: value }
      continue
    }
    const one = (v) => (field.resolvedType instanceof protobuf.Type ? canon(field.resolvedType, v) : canonScalar(field, v))
    if (field.repeated) {
      if (value.length === 0) continue
      out[field.id] = value.map(one)
    } else {
      out[field.id] = one(value)
    }
  }
  return out
}

// canonical tree -> plain object with Baileys' field names, for Class.fromObject
function toObject(type, tree) {
  const out = {}
  for (const [id, value] of Object.entries(tree)) {
    const field = type.fieldsById[Number(id)]
    if (!field) throw new Error(`${type.fullName} has no field ${id}`)
    const one = (v) => {
      if (field.resolvedType instanceof protobuf.Type) return toObject(field.resolvedType, v)
      if (field.type === 'bytes') return Buffer.from(v, 'base64')
      if (LONG_TYPES.has(field.type)) return protobuf.util.Long.fromString(v, field.type === 'uint64' || field.type === 'fixed64')
      return v // numbers, strings, booleans, enum numbers
    }
    out[field.name] = field.repeated ? value.map(one) : one(value)
  }
  return out
}

// Baileys' generated fromObject silently drops keys it does not know: refuse them instead.
function checkKeys(type, obj, path) {
  for (const [name, value] of Object.entries(obj)) {
    const field = type.fields[name]
    if (!field) throw new Error(`${path}: ${type.fullName} has no field ${name}`)
    if (field.resolvedType instanceof protobuf.Type && value !== null) {
      for (const item of field.repeated ? value : [value]) checkKeys(field.resolvedType, item, `${path}.${name}`)
    }
  }
}

function build(type, obj, path) {
  checkKeys(lookup(type), obj, path)
  const err = lookup(type).verify(obj)
  if (err) throw new Error(`${path}: ${err}`)
  const cls = staticClass(type)
  const bytes = cls.encode(cls.fromObject(obj)).finish()
  return { b64: Buffer.from(bytes).toString('base64'), tree: canon(lookup(type), cls.decode(bytes)) }
}

// --- operations ----------------------------------------------------------------------------

function schema() {
  const messages = {}
  const enums = {}
  const visit = (ns) => {
    for (const nested of ns.nestedArray) {
      if (nested instanceof protobuf.Type) {
        messages[nested.fullName.slice(1)] = {
          fields: nested.fieldsArray.map((f) => ({
            name: f.name,
            id: f.id,
            type: f.type,
            repeated: f.repeated,
            kind: f.resolvedType instanceof protobuf.Type ? 'message' : f.resolvedType instanceof protobuf.Enum ? 'enum' : 'scalar',
            resolved: f.resolvedType ? f.resolvedType.fullName.slice(1) : null,
          })),
        }
      } else if (nested instanceof protobuf.Enum) {
        enums[nested.fullName.slice(1)] = nested.values
      }
      if (nested.nestedArray) visit(nested)
    }
  }
  visit(root)
  return { messages, enums }
}

function encode(items) {
  return items.map(({ type, tree }) => build(type, toObject(lookup(type), tree), type))
}

function decode(items) {
  return items.map(({ type, b64 }) => canon(lookup(type), staticClass(type).decode(Buffer.from(b64, 'base64'))))
}

// Realistic messages, written the way applications using Baileys write them.
function samples() {
  const key = { remoteJid: '15551234567@s.whatsapp.net', fromMe: true, id: '3EB0C767D0D2F6A1B2C3', participant: '' }
  const groupKey = { remoteJid: '120363025246125888@g.us', fromMe: false, id: 'ABCDEF0123456789', participant: '15550001111@s.whatsapp.net' }
  const media = {
    url: 'https://mmg.whatsapp.net/v/t62.7118-24/1234_5678.enc?ccb=11-4',
    directPath: '/v/t62.7118-24/1234_5678.enc?ccb=11-4&oh=01',
    mediaKey: Buffer.alloc(32, 7),
    fileSha256: Buffer.alloc(32, 1),
    fileEncSha256: Buffer.alloc(32, 2),
    fileLength: 123456,
    mediaKeyTimestamp: 1718000000,
  }
  const quote = {
    stanzaId: 'QUOTED0001',
    participant: '15550001111@s.whatsapp.net',
    quotedMessage: { conversation: 'the original' },
    mentionedJid: ['15550001111@s.whatsapp.net', '15550002222@s.whatsapp.net'],
    expiration: 604800,
    isForwarded: true,
    forwardingScore: 3,
    remoteJid: '120363025246125888@g.us',
  }
  const M = (obj) => ({ type: 'proto.Message', obj })
  const list = {
    conversation: M({ conversation: 'hello wamd ✓', messageContextInfo: { messageSecret: Buffer.alloc(32, 9), deviceListMetadataVersion: 2, deviceListMetadata: { senderKeyHash: Buffer.from('0102030405', 'hex'), senderTimestamp: 1718000001, recipientKeyHash: Buffer.from('0a0b', 'hex'), recipientTimestamp: 1718000002, senderKeyIndexes: [0, 3], recipientKeyIndexes: [1] } } }),
    extendedText: M({ extendedTextMessage: { text: 'see https://example.org/page', matchedText: 'https://example.org/page', title: 'Example', description: 'An example page', previewType: 0, jpegThumbnail: Buffer.from('ffd8ffe0', 'hex'), thumbnailDirectPath: '/thumb', thumbnailSha256: Buffer.alloc(32, 3), thumbnailEncSha256: Buffer.alloc(32, 4), mediaKey: Buffer.alloc(32, 5), mediaKeyTimestamp: 1718000000, thumbnailHeight: 100, thumbnailWidth: 200, contextInfo: quote, inviteLinkGroupTypeV2: 0 } }),
    image: M({ imageMessage: { ...media, mimetype: 'image/jpeg', caption: 'a photo', height: 1080, width: 1920, jpegThumbnail: Buffer.from('ffd8', 'hex'), viewOnce: false, scansSidecar: Buffer.alloc(10, 6), scanLengths: [1, 2, 3], midQualityFileSha256: Buffer.alloc(32, 8), contextInfo: { stanzaId: 'X', participant: 'p@s.whatsapp.net', quotedMessage: { imageMessage: { caption: 'quoted image' } } } } }),
    video: M({ videoMessage: { ...media, mimetype: 'video/mp4', seconds: 12, caption: 'a clip', gifPlayback: true, gifAttribution: 1, height: 720, width: 1280, streamingSidecar: Buffer.alloc(8, 1), jpegThumbnail: Buffer.from('ffd8', 'hex') } }),
    ptv: M({ ptvMessage: { ...media, mimetype: 'video/mp4', seconds: 5 } }),
    audioPtt: M({ audioMessage: { ...media, mimetype: 'audio/ogg; codecs=opus', seconds: 7, ptt: true, waveform: Buffer.from([0, 10, 20, 99]) } }),
    document: M({ documentMessage: { ...media, mimetype: 'application/pdf', title: 'report.pdf', fileName: 'report.pdf', pageCount: 3, caption: 'the report' } }),
    documentWithCaption: M({ documentWithCaptionMessage: { message: { documentMessage: { ...media, mimetype: 'text/plain', fileName: 'a.txt', caption: 'cap' } } } }),
    sticker: M({ stickerMessage: { ...media, mimetype: 'image/webp', height: 512, width: 512, isAnimated: false, isAvatar: false, pngThumbnail: Buffer.from('89504e47', 'hex') } }),
    location: M({ locationMessage: { degreesLatitude: 48.8584, degreesLongitude: 2.2945, name: 'Tour Eiffel', address: 'Champ de Mars, Paris', url: 'https://maps.example/eiffel', isLive: false, accuracyInMeters: 5, comment: 'here' } }),
    liveLocation: M({ liveLocationMessage: { degreesLatitude: -33.8568, degreesLongitude: 151.2153, accuracyInMeters: 10, speedInMps: 1.5, degreesClockwiseFromMagneticNorth: 90, caption: 'moving', sequenceNumber: 17, timeOffset: 30 } }),
    contact: M({ contactMessage: { displayName: 'Alice', vcard: 'BEGIN:VCARD\nVERSION:3.0\nFN:Alice\nTEL;type=CELL;waid=15551234567:+1 555 123 4567\nEND:VCARD' } }),
    contactsArray: M({ contactsArrayMessage: { displayName: '2 contacts', contacts: [{ displayName: 'A', vcard: 'BEGIN:VCARD\nEND:VCARD' }, { displayName: 'B', vcard: 'BEGIN:VCARD\nEND:VCARD' }] } }),
    reaction: M({ reactionMessage: { key: groupKey, text: '👍', senderTimestampMs: 1718000000123 } }),
    reactionRemove: M({ reactionMessage: { key, text: '', senderTimestampMs: 1718000000124 } }),
    revoke: M({ protocolMessage: { key, type: 0 } }),
    ephemeralSetting: M({ protocolMessage: { type: 3, ephemeralExpiration: 86400, ephemeralSettingTimestamp: 1718000000 } }),
    messageEdit: M({ protocolMessage: { key, type: 14, editedMessage: { conversation: 'edited text' }, timestampMs: 1718000000999 } }),
    historySyncNotification: M({ protocolMessage: { type: 5, historySyncNotification: { fileSha256: media.fileSha256, fileLength: media.fileLength, mediaKey: media.mediaKey, fileEncSha256: media.fileEncSha256, directPath: media.directPath, syncType: 0, chunkOrder: 1, originalMessageId: 'HSN1', progress: 40, oldestMsgInChunkTimestampSec: 1700000000, peerDataRequestSessionId: 'sess' } } }),
    appStateKeyShare: M({ protocolMessage: { type: 6, appStateSyncKeyShare: { keys: [{ keyId: { keyId: Buffer.from('00010203', 'hex') }, keyData: { keyData: Buffer.alloc(32, 0xaa), fingerprint: { rawId: 12345, currentIndex: 2, deviceIndexes: [0, 1, 2] }, timestamp: 1718000000000 } }] } } }),
    appStateKeyRequest: M({ protocolMessage: { type: 7, appStateSyncKeyRequest: { keyIds: [{ keyId: Buffer.from('00010203', 'hex') }, { keyId: Buffer.from('04', 'hex') }] } } }),
    peerDataRequest: M({ protocolMessage: { type: 16, peerDataOperationRequestMessage: { peerDataOperationRequestType: 3, historySyncOnDemandRequest: { chatJid: '15551234567@s.whatsapp.net', oldestMsgId: 'OLD1', oldestMsgFromMe: false, onDemandMsgCount: 50, oldestMsgTimestampMs: 1700000000000 }, placeholderMessageResendRequest: [{ messageKey: key }] } } }),
    peerDataResponse: M({ protocolMessage: { type: 17, peerDataOperationRequestResponseMessage: { peerDataOperationRequestType: 4, stanzaId: 'REQ1', peerDataOperationResult: [{ mediaUploadResult: 1, placeholderMessageResendResponse: { webMessageInfoBytes: Buffer.from('0a00', 'hex') } }] } } }),
    pollV1: M({ pollCreationMessage: { encKey: Buffer.alloc(32, 0x11), name: 'Lunch?', options: [{ optionName: 'Pizza' }, { optionName: 'Sushi' }], selectableOptionsCount: 1 } }),
    pollV2: M({ pollCreationMessageV2: { name: 'Pick any', options: [{ optionName: 'A' }, { optionName: 'B' }, { optionName: 'C' }], selectableOptionsCount: 0 } }),
    pollV3: M({ pollCreationMessageV3: { name: 'One only', options: [{ optionName: 'Yes' }, { optionName: 'No' }], selectableOptionsCount: 1 }, messageContextInfo: { messageSecret: Buffer.alloc(32, 0x22) } }),
    pollUpdate: M({ pollUpdateMessage: { pollCreationMessageKey: groupKey, vote: { encPayload: Buffer.alloc(48, 0x33), encIv: Buffer.alloc(12, 0x44) }, metadata: {}, senderTimestampMs: 1718000000555 } }),
    encReaction: M({ encReactionMessage: { targetMessageKey: key, encPayload: Buffer.alloc(20, 1), encIv: Buffer.alloc(12, 2) } }),
    skdm: M({ senderKeyDistributionMessage: { groupId: '120363025246125888@g.us', axolotlSenderKeyDistributionMessage: Buffer.from('33' + '0a'.repeat(10), 'hex') }, conversation: 'group hello' }),
    deviceSent: M({ deviceSentMessage: { destinationJid: '15559999999@s.whatsapp.net', message: { conversation: 'to myself' }, phash: '2:abcdefgh' } }),
    viewOnce: M({ viewOnceMessage: { message: { imageMessage: { ...media, mimetype: 'image/jpeg', viewOnce: true } } } }),
    viewOnceV2: M({ viewOnceMessageV2: { message: { videoMessage: { ...media, mimetype: 'video/mp4', viewOnce: true } } } }),
    viewOnceV2Ext: M({ viewOnceMessageV2Extension: { message: { audioMessage: { ...media, ptt: true, viewOnce: true } } } }),
    ephemeral: M({ ephemeralMessage: { message: { extendedTextMessage: { text: 'disappearing', contextInfo: { expiration: 86400, ephemeralSettingTimestamp: 1718000000, disappearingMode: { initiator: 1, trigger: 1 } } } } } }),
    editedWrapper: M({ editedMessage: { message: { protocolMessage: { key, type: 14, editedMessage: { conversation: 'v2' } } } } }),
    keepInChat: M({ keepInChatMessage: { key, keepType: 1, timestampMs: 1718000000000 } }),
    pinInChat: M({ pinInChatMessage: { key, type: 1, senderTimestampMs: 1718000000000 } }),
    groupInvite: M({ groupInviteMessage: { groupJid: '120363025246125888@g.us', inviteCode: 'AbCdEf123', inviteExpiration: 1718600000, groupName: 'Friends', caption: 'join us' } }),
    event: M({ eventMessage: { name: 'Party', description: 'bring snacks', startTime: 1718000000, isCanceled: false, location: { degreesLatitude: 1.5, degreesLongitude: 2.5, name: 'Home' } } }),
    requestPhoneNumber: M({ requestPhoneNumberMessage: { contextInfo: { stanzaId: 'Q' } } }),
    buttons: M({ buttonsMessage: { contentText: 'Pick one', footerText: 'footer', headerType: 2, text: 'Header', buttons: [{ buttonId: 'b1', buttonText: { displayText: 'One' }, type: 1 }, { buttonId: 'b2', buttonText: { displayText: 'Two' }, type: 1 }] } }),
    buttonsResponse: M({ buttonsResponseMessage: { selectedButtonId: 'b1', selectedDisplayText: 'One', type: 1, contextInfo: { stanzaId: 'BTN1' } } }),
    list: M({ listMessage: { title: 'Menu', description: 'Choose', buttonText: 'Open', listType: 1, sections: [{ title: 'Food', rows: [{ title: 'Pizza', description: 'hot', rowId: 'r1' }] }], footerText: 'f' } }),
    listResponse: M({ listResponseMessage: { title: 'Pizza', listType: 1, singleSelectReply: { selectedRowId: 'r1' }, description: 'hot' } }),
    template: M({ templateMessage: { hydratedTemplate: { hydratedContentText: 'Hello', hydratedFooterText: 'bye', hydratedTitleText: 'Title', hydratedButtons: [{ index: 0, quickReplyButton: { displayText: 'Yes', id: 'y' } }, { index: 1, urlButton: { displayText: 'Site', url: 'https://example.org' } }, { index: 2, callButton: { displayText: 'Call', phoneNumber: '+15551234567' } }], templateId: 'T1' } } }),
    templateReply: M({ templateButtonReplyMessage: { selectedId: 'y', selectedDisplayText: 'Yes', selectedIndex: 0 } }),
    interactive: M({ interactiveMessage: { header: { title: 'Head', hasMediaAttachment: false }, body: { text: 'Body' }, footer: { text: 'Foot' }, nativeFlowMessage: { buttons: [{ name: 'quick_reply', buttonParamsJson: '{"display_text":"OK","id":"ok"}' }], messageParamsJson: '{}', messageVersion: 1 } } }),
    interactiveResponse: M({ interactiveResponseMessage: { body: { text: 'OK', format: 0 }, nativeFlowResponseMessage: { name: 'quick_reply', paramsJson: '{"id":"ok"}', version: 1 } } }),
    mentionsAndForward: M({ extendedTextMessage: { text: '@15550001111 hi', contextInfo: { mentionedJid: ['15550001111@s.whatsapp.net'], isForwarded: true, forwardingScore: 5, forwardedNewsletterMessageInfo: { newsletterJid: '123@newsletter', serverMessageId: 42, newsletterName: 'News', contentType: 1 } } } }),
  }
  const out = []
  for (const [name, { type, obj }] of Object.entries(list)) {
    out.push({ name, type, ...build(type, obj, name) })
  }
  // WebMessageInfo and HistorySync, as a phone would send them in history sync
  const wmi = {
    key: groupKey, message: { conversation: 'from history' }, messageTimestamp: 1718000000, status: 4, participant: '15550001111@s.whatsapp.net',
    pushName: 'Bob', messageStubType: 20, messageStubParameters: ['Friends'], starred: true, broadcast: false, ephemeralDuration: 604800,
    userReceipt: [{ userJid: '15551234567@s.whatsapp.net', receiptTimestamp: 1718000001, readTimestamp: 1718000002 }],
    reactions: [{ key: groupKey, text: '❤️', senderTimestampMs: 1718000000001 }],
    pollUpdates: [{ pollUpdateMessageKey: key, vote: { selectedOptions: [Buffer.alloc(32, 1)] }, senderTimestampMs: 1718000000002 }],
    messageSecret: Buffer.alloc(32, 0x55),
  }
  const history = {
    syncType: 2, chunkOrder: 3, progress: 80,
    conversations: [{ id: '120363025246125888@g.us', name: 'Friends', unreadCount: 2, archived: false, pinned: 1718000000, muteEndTime: 0, ephemeralExpiration: 604800, messages: [{ message: wmi, msgOrderId: 1 }], participant: [{ userJid: '15550001111@s.whatsapp.net', rank: 1 }] }],
    pushnames: [{ id: '15550001111@s.whatsapp.net', pushname: 'Bob' }],
    globalSettings: { mediaVisibility: 2, autoUnarchiveChats: true, disappearingModeDuration: 0 },
    statusV3Messages: [wmi],
  }
  const syncActionData = {
    index: Buffer.from(JSON.stringify(['mute', '15550001111@s.whatsapp.net'])),
    value: { timestamp: 1718000000000, muteAction: { muted: true, muteEndTimestamp: -1 } },
    padding: Buffer.alloc(0), version: 2,
  }
  const syncdPatch = {
    version: { version: 7 },
    mutations: [{ operation: 0, record: { index: { blob: Buffer.alloc(32, 1) }, value: { blob: Buffer.alloc(64, 2) }, keyId: { id: Buffer.from('0001', 'hex') } } }, { operation: 1, record: { index: { blob: Buffer.alloc(32, 3) }, value: { blob: Buffer.alloc(64, 4) }, keyId: { id: Buffer.from('0001', 'hex') } } }],
    externalMutations: { mediaKey: Buffer.alloc(32, 5), directPath: '/ext', handle: 'h', fileSizeBytes: 1000, fileSha256: Buffer.alloc(32, 6), fileEncSha256: Buffer.alloc(32, 7) },
    snapshotMac: Buffer.alloc(32, 8), patchMac: Buffer.alloc(32, 9), keyId: { id: Buffer.from('0001', 'hex') }, deviceIndex: 0,
  }
  const syncdSnapshot = { version: { version: 6 }, records: [syncdPatch.mutations[0].record], mac: Buffer.alloc(32, 1), keyId: { id: Buffer.from('0002', 'hex') } }
  const certChain = {
    intermediate: { details: Buffer.from('0801100018', 'hex'), signature: Buffer.alloc(64, 1) },
    leaf: { details: Buffer.from('0802', 'hex'), signature: Buffer.alloc(64, 2) },
  }
  const certDetails = { serial: 1, issuerSerial: 0, key: Buffer.alloc(32, 3), notBefore: 1700000000, notAfter: 1800000000 }
  const clientPayload = {
    username: 15551234567, passive: true, pull: true, device: 3,
    userAgent: { platform: 14, appVersion: { primary: 2, secondary: 3000, tertiary: 1029496320 }, mcc: '000', mnc: '000', osVersion: '0.1', device: 'Desktop', osBuildNumber: '0.1', releaseChannel: 0, localeLanguageIso6391: 'en', localeCountryIso31661Alpha2: 'US' },
    webInfo: { webSubPlatform: 0 }, connectType: 1, connectReason: 1,
  }
  const regPayload = {
    passive: false, pull: false, connectType: 1, connectReason: 1,
    userAgent: clientPayload.userAgent, webInfo: { webSubPlatform: 0 },
    devicePairingData: { eRegid: Buffer.from('00003039', 'hex'), eKeytype: Buffer.from([5]), eIdent: Buffer.alloc(32, 1), eSkeyId: Buffer.from('000001', 'hex'), eSkeyVal: Buffer.alloc(32, 2), eSkeySig: Buffer.alloc(64, 3), buildHash: Buffer.alloc(16, 4), deviceProps: Buffer.from('0a0455627475', 'hex') },
  }
  const deviceProps = { os: 'Ubuntu', version: { primary: 10, secondary: 15, tertiary: 7 }, platformType: 1, requireFullSync: false, historySyncConfig: { fullSyncDaysLimit: 365, fullSyncSizeMbLimit: 1024, storageQuotaMb: 10240, inlineInitialPayloadInE2EeMsg: true, recentSyncDaysLimit: 30, supportCallLogHistory: false } }
  const adv = {
    'proto.ADVSignedDeviceIdentityHMAC': { details: Buffer.alloc(40, 1), hmac: Buffer.alloc(32, 2), accountType: 0 },
    'proto.ADVSignedDeviceIdentity': { details: Buffer.alloc(10, 1), accountSignatureKey: Buffer.alloc(32, 2), accountSignature: Buffer.alloc(64, 3), deviceSignature: Buffer.alloc(64, 4) },
    'proto.ADVDeviceIdentity': { rawId: 123456789, timestamp: 1718000000, keyIndex: 2, accountType: 0, deviceType: 0 },
    'proto.ADVKeyIndexList': { rawId: 123456789, timestamp: 1718000000, currentIndex: 2, validIndexes: [0, 1, 2] },
  }
  const more = {
    webMessageInfo: { type: 'proto.WebMessageInfo', obj: wmi },
    historySync: { type: 'proto.HistorySync', obj: history },
    syncActionData: { type: 'proto.SyncActionData', obj: syncActionData },
    syncdPatch: { type: 'proto.SyncdPatch', obj: syncdPatch },
    syncdSnapshot: { type: 'proto.SyncdSnapshot', obj: syncdSnapshot },
    certChain: { type: 'proto.CertChain', obj: certChain },
    certDetails: { type: 'proto.CertChain.NoiseCertificate.Details', obj: certDetails },
    clientPayloadLogin: { type: 'proto.ClientPayload', obj: clientPayload },
    clientPayloadRegister: { type: 'proto.ClientPayload', obj: regPayload },
    deviceProps: { type: 'proto.DeviceProps', obj: deviceProps },
    handshakeHello: { type: 'proto.HandshakeMessage', obj: { clientHello: { ephemeral: Buffer.alloc(32, 1) } } },
    handshakeServer: { type: 'proto.HandshakeMessage', obj: { serverHello: { ephemeral: Buffer.alloc(32, 1), static: Buffer.alloc(48, 2), payload: Buffer.alloc(100, 3) } } },
    handshakeFinish: { type: 'proto.HandshakeMessage', obj: { clientFinish: { static: Buffer.alloc(48, 2), payload: Buffer.alloc(100, 3) } } },
    mediaRetry: { type: 'proto.MediaRetryNotification', obj: { stanzaId: 'MSG1', directPath: '/v/new', result: 1 } },
    serverErrorReceipt: { type: 'proto.ServerErrorReceipt', obj: { stanzaId: 'MSG1' } },
    ...Object.fromEntries(Object.entries(adv).map(([type, obj]) => [type.slice(6), { type, obj }])),
  }
  for (const [name, { type, obj }] of Object.entries(more)) {
    out.push({ name, type, ...build(type, obj, name) })
  }
  return out
}

const request = JSON.parse(readFileSync(0, 'utf8'))
const handlers = {
  schema: () => schema(),
  encode: () => encode(request.items),
  decode: () => decode(request.items),
  samples: () => samples(),
}
process.stdout.write(JSON.stringify(handlers[request.op]()))
