/* Optional compiled symmetric steps of the Signal protocol: the C twin of the pure-Python
 * reference functions in wamd/signal/symmetric.py.
 *
 * Per message the Double Ratchet steps its chain key (two HMAC-SHA256), derives the message
 * keys (HKDF-SHA256, 80 bytes: AES-256 key | MAC key | IV), checks or computes the truncated
 * HMAC-SHA256 MAC and runs AES-256-CBC with PKCS#7 padding; a DH ratchet step adds the root KDF
 * (HKDF-SHA256, 64 bytes), and sender keys derive 48 bytes (IV | AES-256 key) per message. In
 * Python each of these builds several hash or cipher objects for a few bytes of input; here
 * they run on stack structures:
 *
 * - SHA-256 is OpenSSL's low-level SHA256_Init/Update/Final (hardware SHA extensions where
 *   present). OpenSSL 3 deprecates them for EVP_Digest*, which allocates a context per call
 *   and costs several times the hashing of these short inputs; they are still exported, so the
 *   deprecation warnings are suppressed below. HMAC (RFC 2104) is built on top, with the
 *   padded-key states computed once per key and copied (a struct copy) per message.
 * - AES-256-CBC goes through EVP (constant time, AES-NI). Two cipher contexts, one per
 *   direction, are made at import and re-keyed per call. They are shared static state: every
 *   function here runs with the GIL held and never releases it.
 *
 * Nothing here trusts its input: the arguments are any bytes-like objects of any length, with
 * the same results as the Python functions (keys of any length, MACs of the wrong length that
 * simply do not match, ciphertexts that are not a positive multiple of 16 bytes that do not
 * decrypt). setup() hands over the exception raised for a bad MAC or an undecryptable
 * ciphertext (InvalidMessage); until it is called ValueError is raised. wamd/_compiled.py
 * refuses this module when WAMD_CRATCHET_SOURCE_SHA256 (set by setup.py) does not match the
 * file.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init/Update/Final, see above */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#ifndef WAMD_CRATCHET_SOURCE_SHA256
#define WAMD_CRATCHET_SOURCE_SHA256 ""
#endif

enum {
    HASH_LEN = 32,
    BLOCK_LEN = 64,
    AES_KEY_LEN = 32,
    AES_BLOCK = 16,
    MESSAGE_KEYS_LEN = 80,        /* AES key | MAC key | IV */
    GROUP_KEYS_LEN = 48,          /* IV | AES key (sender keys) */
    ROOT_KEYS_LEN = 64,           /* root key | chain key */
    MAC_LEN = 8,                  /* Signal keeps the first 8 bytes of the HMAC */
    MAX_HKDF_LEN = 255 * HASH_LEN,
    CIPHER_CHUNK = 1 << 30,       /* EVP takes int lengths: longer inputs go in chunks */
};

static const unsigned char MESSAGE_INFO[] = "WhisperMessageKeys";
static const unsigned char RATCHET_INFO[] = "WhisperRatchet";
static const unsigned char GROUP_INFO[] = "WhisperGroup";
static const char UNDECRYPTABLE[] = "ciphertext does not decrypt";
static const char GROUP_UNDECRYPTABLE[] = "group ciphertext does not decrypt";
static const unsigned char DJB_TYPE = 0x05;

/* Shared state, set up at import (the GIL guards it: nothing here releases the GIL). */
static EVP_CIPHER_CTX *encrypt_ctx, *decrypt_ctx;
static PyObject *message_error; /* raised for a bad MAC or an undecryptable ciphertext */

/* ---- HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869) ---- */

typedef struct {
    SHA256_CTX inner; /* SHA-256 state after the key XOR ipad block */
    SHA256_CTX outer; /* ... and after the key XOR opad block */
} HmacKey;

static HmacKey zero_salt; /* HKDF-Extract's default salt: 32 zero bytes */

static void
hmac_init(HmacKey *hmac, const unsigned char *key, size_t key_len)
{
    unsigned char block[BLOCK_LEN] = {0};
    if (key_len > BLOCK_LEN) {
        SHA256(key, key_len, block);
    }
    else if (key_len > 0) {
        memcpy(block, key, key_len);
    }
    for (size_t i = 0; i < BLOCK_LEN; i++) {
        block[i] ^= 0x36;
    }
    SHA256_Init(&hmac->inner);
    SHA256_Update(&hmac->inner, block, BLOCK_LEN);
    for (size_t i = 0; i < BLOCK_LEN; i++) {
        block[i] ^= 0x36 ^ 0x5c;
    }
    SHA256_Init(&hmac->outer);
    SHA256_Update(&hmac->outer, block, BLOCK_LEN);
    OPENSSL_cleanse(block, sizeof block);
}

/* Finish an HMAC whose inner hash (a copy of hmac->inner) has had all the message. */
static void
hmac_finish(const HmacKey *hmac, SHA256_CTX *inner, unsigned char out[HASH_LEN])
{
    unsigned char digest[HASH_LEN];
    SHA256_CTX outer = hmac->outer;
    SHA256_Final(digest, inner);
    SHA256_Update(&outer, digest, HASH_LEN);
    SHA256_Final(out, &outer);
    OPENSSL_cleanse(&outer, sizeof outer);
    OPENSSL_cleanse(digest, sizeof digest);
}

static void
hmac_digest(const HmacKey *hmac, const void *data, size_t len, unsigned char out[HASH_LEN])
{
    SHA256_CTX inner = hmac->inner;
    SHA256_Update(&inner, data, len);
    hmac_finish(hmac, &inner, out);
}

/* HKDF-Expand: length (at most MAX_HKDF_LEN) bytes with prk's HMAC states. */
static void
hkdf_expand(const HmacKey *prk, const unsigned char *info, size_t info_len,
            unsigned char *out, size_t length)
{
    unsigned char block[HASH_LEN];
    unsigned char counter = 1;
    for (size_t done = 0; done < length; done += HASH_LEN, counter++) {
        SHA256_CTX inner = prk->inner;
        if (counter > 1) {
            SHA256_Update(&inner, block, HASH_LEN);
        }
        SHA256_Update(&inner, info, info_len);
        SHA256_Update(&inner, &counter, 1);
        hmac_finish(prk, &inner, block);
        memcpy(out + done, block, length - done < HASH_LEN ? length - done : HASH_LEN);
    }
    OPENSSL_cleanse(block, sizeof block);
}

/* HKDF-SHA256 with the extract step's HMAC key already set up. */
static void
hkdf(const HmacKey *salt, const unsigned char *ikm, size_t ikm_len,
     const unsigned char *info, size_t info_len, unsigned char *out, size_t length)
{
    unsigned char prk_bytes[HASH_LEN];
    HmacKey prk;
    hmac_digest(salt, ikm, ikm_len, prk_bytes);
    hmac_init(&prk, prk_bytes, HASH_LEN);
    hkdf_expand(&prk, info, info_len, out, length);
    OPENSSL_cleanse(prk_bytes, sizeof prk_bytes);
    OPENSSL_cleanse(&prk, sizeof prk);
}

/* HKDF-SHA256 with a salt given as a buffer (its HMAC key set up here). */
static void
hkdf_salted(const Py_buffer *salt, const Py_buffer *ikm, const unsigned char *info,
            size_t info_len, unsigned char *out, size_t length)
{
    HmacKey key;
    hmac_init(&key, salt->buf, (size_t)salt->len);
    hkdf(&key, ikm->buf, (size_t)ikm->len, info, info_len, out, length);
    OPENSSL_cleanse(&key, sizeof key);
}

static void
message_keys(const Py_buffer *seed, unsigned char keys[MESSAGE_KEYS_LEN])
{
    hkdf(&zero_salt, seed->buf, (size_t)seed->len, MESSAGE_INFO, sizeof MESSAGE_INFO - 1,
         keys, MESSAGE_KEYS_LEN);
}

/* ---- AES-256-CBC ---- */

static int
cipher_failed(void)
{
    PyErr_SetString(PyExc_RuntimeError, "OpenSSL AES-256-CBC failed");
    return -1;
}

/* Key ctx (one of the two shared contexts) for one message; -1 with an exception set. */
static int
aes_cbc_start(EVP_CIPHER_CTX *ctx, const unsigned char *key, const unsigned char *iv)
{
    return EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, -1) ? 0 : cipher_failed();
}

/* Run the keyed cipher over len bytes (a multiple of 16) of in into out. */
static int
aes_cbc_run(EVP_CIPHER_CTX *ctx, const unsigned char *in, unsigned char *out, Py_ssize_t len)
{
    while (len > 0) {
        int chunk = len > CIPHER_CHUNK ? CIPHER_CHUNK : (int)len;
        int written = 0;
        if (!EVP_CipherUpdate(ctx, out, &written, in, chunk) || written != chunk) {
            return cipher_failed();
        }
        in += chunk;
        out += chunk;
        len -= chunk;
    }
    return 0;
}

/* AES-256-CBC encryption after PKCS#7 padding (always 1..16 bytes) as a new bytes object. */
static PyObject *
cbc_encrypt(const unsigned char *key, const unsigned char *iv, const Py_buffer *plaintext)
{
    Py_ssize_t tail = plaintext->len % AES_BLOCK, whole = plaintext->len - tail;
    unsigned char last[AES_BLOCK];
    if (plaintext->len > PY_SSIZE_T_MAX - AES_BLOCK) {
        return PyErr_NoMemory();
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, whole + AES_BLOCK);
    if (result == NULL) {
        return NULL;
    }
    memcpy(last, (const unsigned char *)plaintext->buf + whole, (size_t)tail);
    memset(last + tail, (int)(AES_BLOCK - tail), (size_t)(AES_BLOCK - tail));
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    if (aes_cbc_start(encrypt_ctx, key, iv) < 0
        || aes_cbc_run(encrypt_ctx, plaintext->buf, out, whole) < 0
        || aes_cbc_run(encrypt_ctx, last, out + whole, AES_BLOCK) < 0) {
        Py_CLEAR(result);
    }
    OPENSSL_cleanse(last, sizeof last);
    return result;
}

/* Whether out[0..len) ends with valid PKCS#7 padding (1..16 bytes, all equal to their count). */
static int
pkcs7_ok(const unsigned char *out, Py_ssize_t len)
{
    unsigned char pad = out[len - 1];
    if (pad == 0 || pad > AES_BLOCK) {
        return 0;
    }
    for (Py_ssize_t i = 2; i <= pad; i++) {
        if (out[len - i] != pad) {
            return 0;
        }
    }
    return 1;
}

/* AES-256-CBC decryption and PKCS#7 unpadding; NULL with message_error(undecryptable) set
 * when the length is not a positive multiple of 16 or the padding is bad (as aes_cbc_decrypt
 * and symmetric.py). */
static PyObject *
cbc_decrypt(const unsigned char *key, const unsigned char *iv, const Py_buffer *ciphertext,
            const char *undecryptable)
{
    Py_ssize_t len = ciphertext->len;
    if (len == 0 || len % AES_BLOCK) {
        PyErr_SetString(message_error, undecryptable);
        return NULL;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, len);
    if (result == NULL) {
        return NULL;
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    if (aes_cbc_start(decrypt_ctx, key, iv) < 0
        || aes_cbc_run(decrypt_ctx, ciphertext->buf, out, len) < 0) {
        Py_DECREF(result);
        return NULL;
    }
    if (!pkcs7_ok(out, len)) {
        Py_DECREF(result);
        PyErr_SetString(message_error, undecryptable);
        return NULL;
    }
    if (_PyBytes_Resize(&result, len - out[len - 1]) < 0) {
        return NULL;
    }
    return result;
}

/* ---- argument helpers ---- */

/* Fill views[0..n) from args (bytes-like objects); -1 with TypeError and nothing held. */
static int
get_buffers(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t n, const char *name,
            Py_buffer *views)
{
    if (nargs != n) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)", name, n,
                     nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyObject_GetBuffer(args[i], &views[i], PyBUF_SIMPLE) < 0) {
            while (--i >= 0) {
                PyBuffer_Release(&views[i]);
            }
            return -1;
        }
    }
    return 0;
}

static void
release_buffers(Py_buffer *views, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        PyBuffer_Release(&views[i]);
    }
}

static PyObject *
digest_bytes(const unsigned char *digest, Py_ssize_t len)
{
    return PyBytes_FromStringAndSize((const char *)digest, len);
}

/* ---- module functions ---- */

PyDoc_STRVAR(chain_step_doc,
"chain_step(chain_key, /)\n--\n\n"
"(message key seed, next chain key) = (HMAC-SHA256(ck, 0x01), HMAC-SHA256(ck, 0x02)).");

static PyObject *
chain_step(PyObject *module, PyObject *arg)
{
    static const unsigned char one = 0x01, two = 0x02;
    Py_buffer key;
    HmacKey hmac;
    unsigned char seed[HASH_LEN], next[HASH_LEN];
    if (PyObject_GetBuffer(arg, &key, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    hmac_init(&hmac, key.buf, (size_t)key.len);
    PyBuffer_Release(&key);
    hmac_digest(&hmac, &one, 1, seed);
    hmac_digest(&hmac, &two, 1, next);
    PyObject *result = Py_BuildValue("(y#y#)", seed, (Py_ssize_t)HASH_LEN, next,
                                     (Py_ssize_t)HASH_LEN);
    OPENSSL_cleanse(&hmac, sizeof hmac);
    OPENSSL_cleanse(seed, sizeof seed);
    OPENSSL_cleanse(next, sizeof next);
    return result;
}

/* HMAC-SHA256(mac_key, head | a | [0x05] | b | body)[:8]: the MAC over the identities (the
 * raw 32-byte one gets its 0x05 type byte; which one comes first depends on the direction). */
static void
message_mac(const unsigned char *mac_key, const Py_buffer *first, int type_first,
            const Py_buffer *second, int type_second, const Py_buffer *body,
            unsigned char mac[HASH_LEN])
{
    HmacKey hmac;
    hmac_init(&hmac, mac_key, HASH_LEN);
    SHA256_CTX inner = hmac.inner;
    if (type_first) {
        SHA256_Update(&inner, &DJB_TYPE, 1);
    }
    SHA256_Update(&inner, first->buf, (size_t)first->len);
    if (type_second) {
        SHA256_Update(&inner, &DJB_TYPE, 1);
    }
    SHA256_Update(&inner, second->buf, (size_t)second->len);
    SHA256_Update(&inner, body->buf, (size_t)body->len);
    hmac_finish(&hmac, &inner, mac);
    OPENSSL_cleanse(&hmac, sizeof hmac);
}

PyDoc_STRVAR(open_message_doc,
"open_message(seed, remote_identity, local_identity_djb, signed, mac, ciphertext, /)\n--\n\n"
"Plaintext of a SignalMessage: derive its keys from the message key seed, check mac against\n"
"HMAC-SHA256(MAC key, 0x05 | remote_identity | local_identity_djb | signed)[:8] (constant\n"
"time), decrypt the AES-256-CBC ciphertext and strip its PKCS#7 padding. Raises the setup()\n"
"exception with \"bad MAC\" or \"ciphertext does not decrypt\".");

static PyObject *
open_message(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    enum { SEED, REMOTE, LOCAL, SIGNED, MAC, CIPHERTEXT, COUNT };
    Py_buffer v[COUNT];
    unsigned char keys[MESSAGE_KEYS_LEN], expected[HASH_LEN];
    PyObject *result = NULL;
    if (get_buffers(args, nargs, COUNT, "open_message", v) < 0) {
        return NULL;
    }
    message_keys(&v[SEED], keys);
    message_mac(keys + AES_KEY_LEN, &v[REMOTE], 1, &v[LOCAL], 0, &v[SIGNED], expected);
    if (v[MAC].len != MAC_LEN || CRYPTO_memcmp(expected, v[MAC].buf, MAC_LEN) != 0) {
        PyErr_SetString(message_error, "bad MAC");
    }
    else {
        result = cbc_decrypt(keys, keys + 2 * AES_KEY_LEN, &v[CIPHERTEXT], UNDECRYPTABLE);
    }
    release_buffers(v, COUNT);
    OPENSSL_cleanse(keys, sizeof keys);
    return result;
}

PyDoc_STRVAR(seal_message_doc,
"seal_message(seed, plaintext, /)\n--\n\n"
"(ciphertext, MAC key) for a message key seed: the plaintext PKCS#7-padded and encrypted\n"
"with AES-256-CBC under the derived keys; the MAC key goes to message_mac().");

static PyObject *
seal_message(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    enum { SEED, PLAINTEXT, COUNT };
    Py_buffer v[COUNT];
    unsigned char keys[MESSAGE_KEYS_LEN];
    if (get_buffers(args, nargs, COUNT, "seal_message", v) < 0) {
        return NULL;
    }
    message_keys(&v[SEED], keys);
    PyObject *ciphertext = cbc_encrypt(keys, keys + 2 * AES_KEY_LEN, &v[PLAINTEXT]);
    release_buffers(v, COUNT);
    PyObject *result = ciphertext == NULL ? NULL : Py_BuildValue(
        "(Ny#)", ciphertext, keys + AES_KEY_LEN, (Py_ssize_t)AES_KEY_LEN);
    OPENSSL_cleanse(keys, sizeof keys);
    return result;
}

PyDoc_STRVAR(message_mac_doc,
"message_mac(mac_key, local_identity_djb, remote_identity, body, /)\n--\n\n"
"HMAC-SHA256(mac_key, local_identity_djb | 0x05 | remote_identity | body)[:8], the MAC of a\n"
"SignalMessage sent (mac_key: 32 bytes from seal_message()).");

static PyObject *
message_mac_py(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    enum { KEY, LOCAL, REMOTE, BODY, COUNT };
    Py_buffer v[COUNT];
    unsigned char mac[HASH_LEN];
    PyObject *result = NULL;
    if (get_buffers(args, nargs, COUNT, "message_mac", v) < 0) {
        return NULL;
    }
    if (v[KEY].len != AES_KEY_LEN) {
        PyErr_SetString(PyExc_ValueError, "message_mac needs a 32-byte MAC key");
    }
    else {
        message_mac(v[KEY].buf, &v[LOCAL], 0, &v[REMOTE], 1, &v[BODY], mac);
        result = digest_bytes(mac, MAC_LEN);
    }
    release_buffers(v, COUNT);
    return result;
}

PyDoc_STRVAR(hmac_sha256_doc,
"hmac_sha256(key, data, /)\n--\n\nHMAC-SHA256(key, data) (32 bytes).");

static PyObject *
hmac_sha256(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer v[2];
    HmacKey hmac;
    unsigned char digest[HASH_LEN];
    if (get_buffers(args, nargs, 2, "hmac_sha256", v) < 0) {
        return NULL;
    }
    hmac_init(&hmac, v[0].buf, (size_t)v[0].len);
    hmac_digest(&hmac, v[1].buf, (size_t)v[1].len, digest);
    release_buffers(v, 2);
    OPENSSL_cleanse(&hmac, sizeof hmac);
    return digest_bytes(digest, HASH_LEN);
}

PyDoc_STRVAR(hkdf_sha256_doc,
"hkdf_sha256(ikm, salt, info, length, /)\n--\n\n"
"HKDF-SHA256 (RFC 5869): length bytes (0..8160); an empty salt means 32 zero bytes.");

static PyObject *
hkdf_sha256(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer v[3];
    PyObject *result;
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "hkdf_sha256() takes exactly 4 arguments (%zd given)",
                     nargs);
        return NULL;
    }
    Py_ssize_t length = PyLong_AsSsize_t(args[3]);
    if (length == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (length < 0 || length > MAX_HKDF_LEN) {
        PyErr_Format(PyExc_ValueError, "HKDF-SHA256 output length must be in 0..%d",
                     MAX_HKDF_LEN);
        return NULL;
    }
    if (get_buffers(args, 3, 3, "hkdf_sha256", v) < 0) {
        return NULL;
    }
    result = PyBytes_FromStringAndSize(NULL, length);
    if (result != NULL) {
        hkdf_salted(&v[1], &v[0], v[2].buf, (size_t)v[2].len,
                    (unsigned char *)PyBytes_AS_STRING(result), (size_t)length);
    }
    release_buffers(v, 3);
    return result;
}

PyDoc_STRVAR(aes_256_cbc_doc,
"aes_256_cbc(key, iv, data, encrypt, /)\n--\n\n"
"AES-256-CBC with PKCS#7 padding: encrypt (a true encrypt) or decrypt data. Decryption\n"
"raises the setup() exception (\"ciphertext does not decrypt\") on a bad length or padding.");

static PyObject *
aes_256_cbc(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer v[3];
    PyObject *result = NULL;
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "aes_256_cbc() takes exactly 4 arguments (%zd given)",
                     nargs);
        return NULL;
    }
    int encrypt = PyObject_IsTrue(args[3]);
    if (encrypt < 0 || get_buffers(args, 3, 3, "aes_256_cbc", v) < 0) {
        return NULL;
    }
    if (v[0].len != AES_KEY_LEN || v[1].len != AES_BLOCK) {
        PyErr_SetString(PyExc_ValueError, "aes_256_cbc() needs a 32-byte key and a 16-byte IV");
    }
    else if (encrypt) {
        result = cbc_encrypt(v[0].buf, v[1].buf, &v[2]);
    }
    else {
        result = cbc_decrypt(v[0].buf, v[1].buf, &v[2], UNDECRYPTABLE);
    }
    release_buffers(v, 3);
    return result;
}

PyDoc_STRVAR(kdf_root_doc,
"kdf_root(root_key, dh_output, /)\n--\n\n"
"One root-chain step: (new root key, new chain key) = HKDF-SHA256(ikm=dh_output,\n"
"salt=root_key, info=\"WhisperRatchet\", 64).");

static PyObject *
kdf_root(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer v[2];
    unsigned char keys[ROOT_KEYS_LEN];
    if (get_buffers(args, nargs, 2, "kdf_root", v) < 0) {
        return NULL;
    }
    hkdf_salted(&v[0], &v[1], RATCHET_INFO, sizeof RATCHET_INFO - 1, keys, ROOT_KEYS_LEN);
    release_buffers(v, 2);
    PyObject *result = Py_BuildValue("(y#y#)", keys, (Py_ssize_t)HASH_LEN, keys + HASH_LEN,
                                     (Py_ssize_t)HASH_LEN);
    OPENSSL_cleanse(keys, sizeof keys);
    return result;
}

/* open_group / seal_group: a sender key message's keys, then cbc_decrypt or cbc_encrypt. */
static PyObject *
group_cipher(PyObject *const *args, Py_ssize_t nargs, const char *name, int encrypt)
{
    Py_buffer v[2];
    unsigned char keys[GROUP_KEYS_LEN];
    PyObject *result;
    if (get_buffers(args, nargs, 2, name, v) < 0) {
        return NULL;
    }
    hkdf(&zero_salt, v[0].buf, (size_t)v[0].len, GROUP_INFO, sizeof GROUP_INFO - 1, keys,
         GROUP_KEYS_LEN);
    if (encrypt) {
        result = cbc_encrypt(keys + AES_BLOCK, keys, &v[1]);
    }
    else {
        result = cbc_decrypt(keys + AES_BLOCK, keys, &v[1], GROUP_UNDECRYPTABLE);
    }
    release_buffers(v, 2);
    OPENSSL_cleanse(keys, sizeof keys);
    return result;
}

static PyObject *
open_group(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return group_cipher(args, nargs, "open_group", 0);
}

static PyObject *
seal_group(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return group_cipher(args, nargs, "seal_group", 1);
}

PyDoc_STRVAR(setup_doc,
"setup(message_error, /)\n--\n\n"
"Set the exception class raised for a bad MAC or an undecryptable ciphertext.");

static PyObject *
setup(PyObject *module, PyObject *arg)
{
    if (!PyExceptionClass_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "setup() needs an exception class");
        return NULL;
    }
    Py_INCREF(arg);
    Py_SETREF(message_error, arg);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"chain_step", chain_step, METH_O, chain_step_doc},
    {"open_message", (PyCFunction)(void (*)(void))open_message, METH_FASTCALL,
     open_message_doc},
    {"seal_message", (PyCFunction)(void (*)(void))seal_message, METH_FASTCALL,
     seal_message_doc},
    {"message_mac", (PyCFunction)(void (*)(void))message_mac_py, METH_FASTCALL,
     message_mac_doc},
    {"kdf_root", (PyCFunction)(void (*)(void))kdf_root, METH_FASTCALL, kdf_root_doc},
    {"open_group", (PyCFunction)(void (*)(void))open_group, METH_FASTCALL,
     PyDoc_STR("open_group(seed, ciphertext, /)\n--\n\n"
               "Plaintext of a SenderKeyMessage's ciphertext: HKDF-SHA256(seed,\n"
               "info=\"WhisperGroup\", 48) -> IV | AES-256 key, then AES-256-CBC decryption\n"
               "and PKCS#7 unpadding. Raises the setup() exception with \"group ciphertext\n"
               "does not decrypt\".")},
    {"seal_group", (PyCFunction)(void (*)(void))seal_group, METH_FASTCALL,
     PyDoc_STR("seal_group(seed, plaintext, /)\n--\n\n"
               "Ciphertext of a SenderKeyMessage: the plaintext PKCS#7-padded and encrypted\n"
               "with AES-256-CBC under the seed's keys (as open_group()).")},
    {"hmac_sha256", (PyCFunction)(void (*)(void))hmac_sha256, METH_FASTCALL, hmac_sha256_doc},
    {"hkdf_sha256", (PyCFunction)(void (*)(void))hkdf_sha256, METH_FASTCALL, hkdf_sha256_doc},
    {"aes_256_cbc", (PyCFunction)(void (*)(void))aes_256_cbc, METH_FASTCALL, aes_256_cbc_doc},
    {"setup", setup, METH_O, setup_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "wamd.signal._cratchet",
    .m_doc = "Compiled symmetric step of the Signal Double Ratchet (see symmetric.py).",
    .m_size = -1,
    .m_methods = methods,
};

/* One AES-256-CBC context per direction, without EVP's padding (done here). */
static EVP_CIPHER_CTX *
new_cipher_ctx(int encrypt)
{
    static const unsigned char zero[AES_KEY_LEN];
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || !EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, zero, zero, encrypt)
        || !EVP_CIPHER_CTX_set_padding(ctx, 0)) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

PyMODINIT_FUNC
PyInit__cratchet(void)
{
    static const unsigned char zero[HASH_LEN];
    if (encrypt_ctx == NULL) {
        encrypt_ctx = new_cipher_ctx(1);
        decrypt_ctx = new_cipher_ctx(0);
        if (encrypt_ctx == NULL || decrypt_ctx == NULL) {
            EVP_CIPHER_CTX_free(encrypt_ctx);
            EVP_CIPHER_CTX_free(decrypt_ctx);
            encrypt_ctx = decrypt_ctx = NULL;
            PyErr_SetString(PyExc_ImportError, "OpenSSL has no usable AES-256-CBC");
            return NULL;
        }
        hmac_init(&zero_salt, zero, HASH_LEN);
        message_error = Py_NewRef(PyExc_ValueError);
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module != NULL
        && PyModule_AddStringConstant(module, "SOURCE_SHA256", WAMD_CRATCHET_SOURCE_SHA256) < 0) {
        Py_CLEAR(module);
    }
    return module;
}
