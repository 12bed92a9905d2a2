/* Optional compiled binary node decoder: the C twin of wamd/binary/decoder.py.
 *
 * It follows the pure-Python decoder step by step, so both give the same tree for valid input
 * and the same DecodeError (message and offset) for invalid input; the test suite runs every
 * decoder test against both (tests/unit/test_binary*.py) and compares them on random and
 * mutated input. decoder.py hands over the classes and tables it needs through setup() and
 * falls back to the Python loop when this module is missing or was built from another version
 * of this file (WAMD_CDECODER_SOURCE_SHA256, set by setup.py).
 *
 * Every read is bounds-checked against the input length; nesting is bounded by max_depth (an
 * explicit stack, no recursion; a JID's parts are plain strings, so JIDs never nest).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#ifndef WAMD_CDECODER_SOURCE_SHA256
#define WAMD_CDECODER_SOURCE_SHA256 ""
#endif

enum {
    LIST_EMPTY = 0,
    DICTIONARY_0 = 236,
    DICTIONARY_3 = 239,
    INTEROP_JID = 245,
    FB_JID = 246,
    AD_JID = 247,
    LIST_8 = 248,
    LIST_16 = 249,
    JID_PAIR = 250,
    HEX_8 = 251,
    BINARY_8 = 252,
    BINARY_20 = 253,
    BINARY_32 = 254,
    NIBBLE_8 = 255,
    MIN_NODE_SIZE = 3,
    LOCAL_STACK = 64,
};

/* What setup() received (strong references, kept for the life of the process). */
static PyTypeObject *node_type;
static PyTypeObject *jid_type;
static PyObject *decode_error;
static PyObject *single_tokens[DICTIONARY_0];       /* index 0 unused */
static PyObject *double_tokens[4][256];
static PyObject *server_of_domain[256];             /* NULL: raw agent on USER_SERVER */
static PyObject *user_server, *messenger_server, *interop_server, *empty_str;
/* slot offsets of Node.tag/attrs/content and JID.user/server/agent/device/integrator/_wire */
static Py_ssize_t off_tag, off_attrs, off_content;
static Py_ssize_t off_user, off_server, off_agent, off_device, off_integrator, off_wire;
static int ready;

static const char HEX_DIGITS[16] = "0123456789ABCDEF";
/* nibble -> character; '\xff' marks the invalid nibbles 12..14 (15, the padding, is "\0") */
static const char NIBBLE_CHARS[16] = "0123456789-.\xff\xff\xff";

typedef struct {
    const unsigned char *data;
    Py_ssize_t limit;
} Input;

/* ---- errors ------------------------------------------------------------------------------ */

static void
fail_obj(PyObject *message, Py_ssize_t offset)
{
    if (message == NULL) {
        return;
    }
    PyObject *exc = PyObject_CallFunction(decode_error, "On", message, offset);
    Py_DECREF(message);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
}

static Py_ssize_t
fail(const char *message, Py_ssize_t offset)
{
    fail_obj(PyUnicode_FromString(message), offset);
    return -1;
}

static Py_ssize_t
truncated(const Input *in)
{
    return fail("unexpected end of input", in->limit);
}

/* "<prefix> <value[:40]!r><suffix>" as Python's f-strings write it */
static Py_ssize_t
fail_with_value(const char *prefix, PyObject *value, const char *suffix, Py_ssize_t offset)
{
    PyObject *head = PyUnicode_Substring(value, 0, 40);
    if (head == NULL) {
        return -1;
    }
    PyObject *shown = PyObject_Repr(head);
    Py_DECREF(head);
    if (shown == NULL) {
        return -1;
    }
    fail_obj(PyUnicode_FromFormat("%s%U%s", prefix, shown, suffix), offset);
    Py_DECREF(shown);
    return -1;
}

/* ---- strings ----------------------------------------------------------------------------- */

static int
contains_char(PyObject *text, Py_UCS4 ch)
{
    return PyUnicode_FindChar(text, ch, 0, PyUnicode_GET_LENGTH(text), 1) >= 0;
}

static int
same_str(PyObject *a, PyObject *b)
{
    return a == b || PyUnicode_Compare(a, b) == 0;
}

/* NIBBLE_8 / HEX_8 body at pos (the header byte); the tag byte t was at pos - 1. */
static Py_ssize_t
read_packed(const Input *in, Py_ssize_t pos, int t, PyObject **out)
{
    if (pos >= in->limit) {
        return truncated(in);
    }
    unsigned int header = in->data[pos];
    Py_ssize_t count = header & 127;
    Py_ssize_t end = pos + 1 + count;
    if (end > in->limit) {
        return truncated(in);
    }
    Py_ssize_t length = 2 * count - ((header & 128) ? 1 : 0);
    if (length < 0) {
        length = 0;
    }
    const unsigned char *src = in->data + pos + 1;
    if (t == NIBBLE_8) {
        for (Py_ssize_t i = 0; i < count; i++) {
            if (NIBBLE_CHARS[src[i] >> 4] == '\xff' || NIBBLE_CHARS[src[i] & 15] == '\xff') {
                return fail("invalid nibble in packed string", pos - 1);
            }
        }
    }
    PyObject *text = PyUnicode_New(length, 127);
    if (text == NULL) {
        return -1;
    }
    Py_UCS1 *dst = PyUnicode_1BYTE_DATA(text);
    const char *chars = t == NIBBLE_8 ? NIBBLE_CHARS : HEX_DIGITS;
    for (Py_ssize_t i = 0; i < length; i++) {
        unsigned int byte = src[i >> 1];
        unsigned int nibble = (i & 1) ? (byte & 15) : (byte >> 4);
        /* nibble 15 (padding) decodes as "\0" where it is not the dropped last one */
        dst[i] = (Py_UCS1)(t == NIBBLE_8 && nibble == 15 ? 0 : chars[nibble]);
    }
    *out = text;
    return end;
}

static Py_ssize_t read_string(const Input *in, Py_ssize_t pos, int t, PyObject **out);

static int
is_jid_tag(int t)
{
    return t == JID_PAIR || t == AD_JID || t == FB_JID || t == INTEROP_JID;
}

/* A JID's user or server: a plain string without '@' or ':'. */
static Py_ssize_t
read_jid_part(const Input *in, Py_ssize_t pos, const char *what, PyObject **out)
{
    if (pos >= in->limit) {
        return truncated(in);
    }
    int t = in->data[pos];
    if (is_jid_tag(t)) {
        fail_obj(PyUnicode_FromFormat("JID %s must be a plain string", what), pos);
        return -1;
    }
    PyObject *value;
    Py_ssize_t end = read_string(in, pos + 1, t, &value);
    if (end < 0) {
        return -1;
    }
    if (contains_char(value, '@') || contains_char(value, ':')) {
        char prefix[64];
        PyOS_snprintf(prefix, sizeof prefix, "invalid character in JID %s ", what);
        fail_with_value(prefix, value, "", pos);
        Py_DECREF(value);
        return -1;
    }
    *out = value;
    return end;
}

static void
store(PyObject *obj, Py_ssize_t offset, PyObject *value)
{
    PyObject **slot = (PyObject **)((char *)obj + offset);
    PyObject *old = *slot;
    *slot = value;
    Py_XDECREF(old);
}

/* A JID built like JID._make (no validation: the caller checked the parts). Steals user and
 * server. */
static PyObject *
make_jid(PyObject *user, PyObject *server, long agent, long device, long integrator)
{
    PyObject *jid = jid_type->tp_alloc(jid_type, 0);
    PyObject *a = PyLong_FromLong(agent);
    PyObject *d = PyLong_FromLong(device);
    PyObject *i = PyLong_FromLong(integrator);
    if (jid == NULL || a == NULL || d == NULL || i == NULL) {
        Py_XDECREF(jid);
        Py_XDECREF(a);
        Py_XDECREF(d);
        Py_XDECREF(i);
        Py_DECREF(user);
        Py_DECREF(server);
        return NULL;
    }
    store(jid, off_user, user);
    store(jid, off_server, server);
    store(jid, off_agent, a);
    store(jid, off_device, d);
    store(jid, off_integrator, i);
    store(jid, off_wire, Py_NewRef(Py_None));
    return jid;
}

static Py_ssize_t
invalid_pn_user(PyObject *user, Py_ssize_t start)
{
    return fail_with_value("invalid phone-number JID user ", user, "", start);
}

static Py_ssize_t
read_jid_pair(const Input *in, Py_ssize_t pos, PyObject **out)
{
    Py_ssize_t start = pos - 1;
    PyObject *user, *server;
    pos = read_jid_part(in, pos, "user", &user);
    if (pos < 0) {
        return -1;
    }
    pos = read_jid_part(in, pos, "server", &server);
    if (pos < 0) {
        Py_DECREF(user);
        return -1;
    }
    if (PyUnicode_GET_LENGTH(server) == 0) {
        pos = fail("JID pair without a server", start);
    }
    else if (same_str(server, user_server) && contains_char(user, '.')) {
        pos = invalid_pn_user(user, start);
    }
    if (pos < 0) {
        Py_DECREF(user);
        Py_DECREF(server);
        return -1;
    }
    *out = make_jid(user, server, 0, 0, 0);
    return *out == NULL ? -1 : pos;
}

static Py_ssize_t
read_ad_jid(const Input *in, Py_ssize_t pos, PyObject **out)
{
    Py_ssize_t start = pos - 1;
    if (pos + 2 > in->limit) {
        return truncated(in);
    }
    int domain = in->data[pos];
    int device = in->data[pos + 1];
    PyObject *user;
    pos = read_jid_part(in, pos + 2, "user", &user);
    if (pos < 0) {
        return -1;
    }
    PyObject *server = server_of_domain[domain];
    int agent = 0;
    if (server == NULL || same_str(server, user_server)) {
        server = user_server;
        agent = domain;
    }
    if (PyUnicode_GET_LENGTH(user) == 0 && (device || agent)) {
        pos = fail("AD-JID without a user", start);
    }
    else if (server == user_server && contains_char(user, '.')) {
        pos = invalid_pn_user(user, start);
    }
    if (pos < 0) {
        Py_DECREF(user);
        return -1;
    }
    *out = make_jid(user, Py_NewRef(server), agent, device, 0);
    return *out == NULL ? -1 : pos;
}

/* FB_JID (with_integrator 0) and INTEROP_JID (1): user, device(16), [integrator(16)], server */
static Py_ssize_t
read_wide_jid(const Input *in, Py_ssize_t pos, int with_integrator, PyObject **out)
{
    Py_ssize_t start = pos - 1;
    PyObject *user, *server;
    pos = read_jid_part(in, pos, "user", &user);
    if (pos < 0) {
        return -1;
    }
    Py_ssize_t width = with_integrator ? 4 : 2;
    if (pos + width > in->limit) {
        Py_DECREF(user);
        return truncated(in);
    }
    long device = (in->data[pos] << 8) | in->data[pos + 1];
    long integrator = with_integrator ? (in->data[pos + 2] << 8) | in->data[pos + 3] : 0;
    pos = read_jid_part(in, pos + width, "server", &server);
    if (pos < 0) {
        Py_DECREF(user);
        return -1;
    }
    if (!with_integrator && !same_str(server, messenger_server)) {
        PyObject *expected = PyUnicode_FromFormat(", expected %R", messenger_server);
        if (expected != NULL) {
            fail_with_value("FB JID on server ", server, PyUnicode_AsUTF8(expected), start);
            Py_DECREF(expected);
        }
        pos = -1;
    }
    else if (with_integrator && !same_str(server, interop_server)) {
        pos = fail_with_value("interop JID on server ", server, "", start);
    }
    else if (PyUnicode_GET_LENGTH(user) == 0 && device) {
        pos = fail(with_integrator ? "interop JID without a user" : "FB JID without a user",
                   start);
    }
    if (pos < 0) {
        Py_DECREF(user);
        Py_DECREF(server);
        return -1;
    }
    *out = make_jid(user, server, 0, device, integrator);
    return *out == NULL ? -1 : pos;
}

/* A string-valued item (str or JID) whose tag byte t was at pos - 1. */
static Py_ssize_t
read_string(const Input *in, Py_ssize_t pos, int t, PyObject **out)
{
    const unsigned char *data = in->data;
    Py_ssize_t limit = in->limit, end;
    if (0 < t && t < DICTIONARY_0) {
        *out = Py_NewRef(single_tokens[t]);
        return pos;
    }
    if (t <= DICTIONARY_3) {
        if (t == LIST_EMPTY) {
            *out = Py_NewRef(empty_str);
            return pos;
        }
        if (pos >= limit) {
            return truncated(in);
        }
        *out = Py_NewRef(double_tokens[t - DICTIONARY_0][data[pos]]);
        return pos + 1;
    }
    switch (t) {
    case BINARY_8:
        if (pos >= limit) {
            return truncated(in);
        }
        end = pos + 1 + data[pos];
        pos += 1;
        break;
    case BINARY_20:
        if (pos + 3 > limit) {
            return truncated(in);
        }
        end = pos + 3 + (((data[pos] & 15) << 16) | (data[pos + 1] << 8) | data[pos + 2]);
        pos += 3;
        break;
    case BINARY_32:
        if (pos + 4 > limit) {
            return truncated(in);
        }
        end = pos + 4 + (Py_ssize_t)(((uint32_t)data[pos] << 24) | ((uint32_t)data[pos + 1] << 16)
                                     | ((uint32_t)data[pos + 2] << 8) | data[pos + 3]);
        pos += 4;
        break;
    case NIBBLE_8:
    case HEX_8:
        return read_packed(in, pos, t, out);
    case JID_PAIR:
        return read_jid_pair(in, pos, out);
    case AD_JID:
        return read_ad_jid(in, pos, out);
    case FB_JID:
        return read_wide_jid(in, pos, 0, out);
    case INTEROP_JID:
        return read_wide_jid(in, pos, 1, out);
    default:
        fail_obj(PyUnicode_FromFormat("invalid string tag %d", t), pos - 1);
        return -1;
    }
    if (end > limit) {
        return truncated(in);
    }
    *out = PyUnicode_DecodeUTF8((const char *)data + pos, end - pos, "replace");
    return *out == NULL ? -1 : end;
}

/* ---- the tree ---------------------------------------------------------------------------- */

typedef struct {
    PyObject *siblings; /* borrowed: owned by the parent node (or by `top`) */
    Py_ssize_t remaining;
} Frame;

static PyObject *
decode(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (!ready) {
        PyErr_SetString(PyExc_RuntimeError, "wamd.binary._cdecoder.setup() was not called");
        return NULL;
    }
    if (nargs != 2 || !PyBytes_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "decode(data: bytes, max_depth: int)");
        return NULL;
    }
    Py_ssize_t max_depth = PyLong_AsSsize_t(args[1]);
    if (max_depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (max_depth < 1) {
        PyErr_SetString(PyExc_ValueError, "max_depth must be positive");
        return NULL;
    }
    Input input = {(const unsigned char *)PyBytes_AS_STRING(args[0]), PyBytes_GET_SIZE(args[0])};
    const Input *in = &input;
    const unsigned char *data = input.data;
    const Py_ssize_t limit = input.limit;

    Frame local[LOCAL_STACK];
    Frame *stack = local;
    if (max_depth > LOCAL_STACK) {
        stack = PyMem_New(Frame, max_depth);
        if (stack == NULL) {
            return PyErr_NoMemory();
        }
    }
    Py_ssize_t depth = 0;
    PyObject *top = PyList_New(0);
    PyObject *result = NULL;
    if (top == NULL) {
        goto done;
    }
    PyObject *siblings = top;
    Py_ssize_t remaining = 1;
    Py_ssize_t pos = 0;

    for (;;) {
        Py_ssize_t size;
        if (pos >= limit) {
            truncated(in);
            goto done;
        }
        int b = data[pos];
        if (b == LIST_8) {
            if (pos + 2 > limit) {
                truncated(in);
                goto done;
            }
            size = data[pos + 1];
            pos += 2;
        }
        else if (b == LIST_16) {
            if (pos + 3 > limit) {
                truncated(in);
                goto done;
            }
            size = (data[pos + 1] << 8) | data[pos + 2];
            pos += 3;
        }
        else {
            fail_obj(PyUnicode_FromFormat("expected a node list, found byte %d", b), pos);
            goto done;
        }
        if (!size) {
            fail("empty node", pos - 2);
            goto done;
        }
        if (size > limit - pos) {
            truncated(in);
            goto done;
        }

        PyObject *tag;
        int t = data[pos];
        if (0 < t && t < DICTIONARY_0) {
            tag = Py_NewRef(single_tokens[t]);
            pos += 1;
        }
        else {
            Py_ssize_t tag_pos = pos;
            pos = read_string(in, pos + 1, t, &tag);
            if (pos < 0) {
                goto done;
            }
            if (!PyUnicode_CheckExact(tag) || PyUnicode_GET_LENGTH(tag) == 0) {
                Py_DECREF(tag);
                fail("node tag must be a non-empty string", tag_pos);
                goto done;
            }
        }

        PyObject *node = node_type->tp_alloc(node_type, 0);
        PyObject *attrs = PyDict_New();
        if (node == NULL || attrs == NULL || PyList_Append(siblings, node) < 0) {
            Py_XDECREF(node);
            Py_XDECREF(attrs);
            Py_DECREF(tag);
            goto done;
        }
        /* the node is owned by its list from here on; fill it in place */
        Py_DECREF(node);
        store(node, off_tag, tag);
        store(node, off_attrs, attrs);
        store(node, off_content, Py_NewRef(Py_None));
        remaining -= 1;

        for (Py_ssize_t pairs = (size - 1) >> 1; pairs; pairs--) {
            PyObject *key, *value;
            if (pos >= limit) {
                truncated(in);
                goto done;
            }
            t = data[pos++];
            if (0 < t && t < DICTIONARY_0) {
                key = Py_NewRef(single_tokens[t]);
            }
            else {
                Py_ssize_t key_pos = pos - 1;
                pos = read_string(in, pos, t, &key);
                if (pos < 0) {
                    goto done;
                }
                if (!PyUnicode_Check(key)) {
                    Py_DECREF(key);
                    fail("attribute name must be a string", key_pos);
                    goto done;
                }
            }
            if (pos >= limit) {
                Py_DECREF(key);
                truncated(in);
                goto done;
            }
            t = data[pos++];
            if (0 < t && t < DICTIONARY_0) {
                value = Py_NewRef(single_tokens[t]);
            }
            else {
                pos = read_string(in, pos, t, &value);
                if (pos < 0) {
                    Py_DECREF(key);
                    goto done;
                }
            }
            int failed = PyDict_SetItem(attrs, key, value);
            Py_DECREF(key);
            Py_DECREF(value);
            if (failed) {
                goto done;
            }
        }

        if (!(size & 1)) {
            PyObject *content;
            Py_ssize_t end;
            if (pos >= limit) {
                truncated(in);
                goto done;
            }
            t = data[pos++];
            if (t == BINARY_8 || t == BINARY_20 || t == BINARY_32) {
                Py_ssize_t width = t == BINARY_8 ? 1 : t == BINARY_20 ? 3 : 4;
                if (pos + width > limit) {
                    truncated(in);
                    goto done;
                }
                const unsigned char *p = data + pos;
                if (t == BINARY_8) {
                    end = p[0];
                }
                else if (t == BINARY_20) {
                    end = ((p[0] & 15) << 16) | (p[1] << 8) | p[2];
                }
                else {
                    end = (Py_ssize_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16)
                                       | ((uint32_t)p[2] << 8) | p[3]);
                }
                end += pos + width;
                if (end > limit) {
                    truncated(in);
                    goto done;
                }
                content = PyBytes_FromStringAndSize((const char *)data + pos + width,
                                                    end - pos - width);
                if (content == NULL) {
                    goto done;
                }
                store(node, off_content, content);
                pos = end;
            }
            else if (t == LIST_8 || t == LIST_16) {
                Py_ssize_t count;
                if (t == LIST_8) {
                    if (pos >= limit) {
                        truncated(in);
                        goto done;
                    }
                    count = data[pos];
                    pos += 1;
                }
                else {
                    if (pos + 2 > limit) {
                        truncated(in);
                        goto done;
                    }
                    count = (data[pos] << 8) | data[pos + 1];
                    pos += 2;
                }
                PyObject *children = PyList_New(0);
                if (children == NULL) {
                    goto done;
                }
                store(node, off_content, children);
                if (count) {
                    if (depth + 1 >= max_depth) {
                        fail_obj(PyUnicode_FromFormat("nodes nested deeper than %zd", max_depth),
                                 pos);
                        goto done;
                    }
                    if (count * MIN_NODE_SIZE > limit - pos) {
                        truncated(in);
                        goto done;
                    }
                    stack[depth].siblings = siblings;
                    stack[depth].remaining = remaining;
                    depth++;
                    siblings = children;
                    remaining = count;
                    continue; /* read the first child */
                }
            }
            else if (t == LIST_EMPTY) {
                content = PyList_New(0);
                if (content == NULL) {
                    goto done;
                }
                store(node, off_content, content);
            }
            else {
                pos = read_string(in, pos, t, &content);
                if (pos < 0) {
                    goto done;
                }
                store(node, off_content, content);
            }
        }
        /* the node is complete: close every parent whose children are all read */
        while (!remaining) {
            if (!depth) {
                if (pos != limit) {
                    fail_obj(PyUnicode_FromFormat("%zd bytes left over after the node",
                                                  limit - pos),
                             pos);
                    goto done;
                }
                result = Py_NewRef(PyList_GET_ITEM(top, 0));
                goto done;
            }
            depth--;
            siblings = stack[depth].siblings;
            remaining = stack[depth].remaining;
        }
    }

done:
    Py_XDECREF(top);
    if (stack != local) {
        PyMem_Free(stack);
    }
    return result;
}

/* ---- setup ------------------------------------------------------------------------------- */

/* The offset of the object slot `name` of `type` (a __slots__ member), or -1 with an error. */
static Py_ssize_t
slot_offset(PyTypeObject *type, const char *name)
{
    PyObject *descr = PyObject_GetAttrString((PyObject *)type, name);
    if (descr == NULL) {
        return -1;
    }
    Py_ssize_t offset = -1;
    if (Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type == T_OBJECT_EX && !(member->flags & READONLY)) {
            offset = member->offset;
        }
    }
    Py_DECREF(descr);
    if (offset < 0) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not an object slot", type->tp_name, name);
    }
    return offset;
}

static int
take_tokens(PyObject *table, PyObject **into, Py_ssize_t count, Py_ssize_t first)
{
    if (!PyTuple_CheckExact(table) || PyTuple_GET_SIZE(table) != count) {
        PyErr_SetString(PyExc_TypeError, "token tables must be tuples of the expected size");
        return -1;
    }
    for (Py_ssize_t i = first; i < count; i++) {
        PyObject *token = PyTuple_GET_ITEM(table, i);
        if (!PyUnicode_CheckExact(token)) {
            PyErr_SetString(PyExc_TypeError, "tokens must be str");
            return -1;
        }
        Py_XSETREF(into[i], Py_NewRef(token));
    }
    return 0;
}

static PyObject *
setup(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *node, *jid, *error, *single, *doubles, *domains, *user, *messenger, *interop;
    if (!PyArg_ParseTuple(args, "O!O!OO!O!O!UUU:setup", &PyType_Type, &node, &PyType_Type, &jid,
                          &error, &PyTuple_Type, &single, &PyTuple_Type, &doubles, &PyDict_Type,
                          &domains, &user, &messenger, &interop)) {
        return NULL;
    }
    ready = 0;
    PyTypeObject *nt = (PyTypeObject *)node, *jt = (PyTypeObject *)jid;
    if ((off_tag = slot_offset(nt, "tag")) < 0 || (off_attrs = slot_offset(nt, "attrs")) < 0
        || (off_content = slot_offset(nt, "content")) < 0
        || (off_user = slot_offset(jt, "user")) < 0
        || (off_server = slot_offset(jt, "server")) < 0
        || (off_agent = slot_offset(jt, "agent")) < 0
        || (off_device = slot_offset(jt, "device")) < 0
        || (off_integrator = slot_offset(jt, "integrator")) < 0
        || (off_wire = slot_offset(jt, "_wire")) < 0) {
        return NULL;
    }
    if (take_tokens(single, single_tokens, DICTIONARY_0, 1) < 0) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(doubles) != 4) {
        PyErr_SetString(PyExc_TypeError, "expected four double-byte dictionaries");
        return NULL;
    }
    for (int d = 0; d < 4; d++) {
        if (take_tokens(PyTuple_GET_ITEM(doubles, d), double_tokens[d], 256, 0) < 0) {
            return NULL;
        }
    }
    for (int domain = 0; domain < 256; domain++) {
        PyObject *key = PyLong_FromLong(domain);
        if (key == NULL) {
            return NULL;
        }
        PyObject *server = PyDict_GetItemWithError(domains, key);
        Py_DECREF(key);
        if (server == NULL && PyErr_Occurred()) {
            return NULL;
        }
        if (server != NULL && !PyUnicode_CheckExact(server)) {
            PyErr_SetString(PyExc_TypeError, "servers must be str");
            return NULL;
        }
        Py_XSETREF(server_of_domain[domain], Py_XNewRef(server));
    }
    Py_XSETREF(node_type, (PyTypeObject *)Py_NewRef(node));
    Py_XSETREF(jid_type, (PyTypeObject *)Py_NewRef(jid));
    Py_XSETREF(decode_error, Py_NewRef(error));
    Py_XSETREF(user_server, Py_NewRef(user));
    Py_XSETREF(messenger_server, Py_NewRef(messenger));
    Py_XSETREF(interop_server, Py_NewRef(interop));
    if (empty_str == NULL && (empty_str = PyUnicode_New(0, 0)) == NULL) {
        return NULL;
    }
    ready = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS,
     "setup(node_type, jid_type, decode_error, single_tokens, double_tokens, server_of_domain,"
     " user_server, messenger_server, interop_server): hand over the classes and tables."},
    {"decode", (PyCFunction)(void (*)(void))decode, METH_FASTCALL,
     "decode(data: bytes, max_depth: int) -> Node: the node occupying all of data, else"
     " DecodeError."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "wamd.binary._cdecoder",
    "Compiled binary node decoder (optional; wamd.binary.decoder falls back to Python).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__cdecoder(void)
{
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddStringConstant(module, "SOURCE_SHA256", WAMD_CDECODER_SOURCE_SHA256) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
