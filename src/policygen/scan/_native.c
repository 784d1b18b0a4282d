/* policygen.scan._native: counts a batch's records by kind of call without a Python object
 * per record (the Python path, scan/tally.py, builds one and runs a loop over them).
 *
 * `Counter.scan(text, account, delivered)` walks one delivery file (_jsonscan.c), selects
 * the records tally would (API calls of users and roles, in the window and regions), and
 * counts them into a hash table of distinct keys kept for the whole batch: a key's Python
 * tuple is built once, when it is first seen. Per record it makes only the eventID string
 * and the reference to its key that de-duplication needs. Kinds of call that need the
 * record itself (parameter-dependent actions, resource facts: `classify` says which) are
 * handed back as byte ranges, for tally to decode and count in Python. A file the walk
 * declines returns None before anything is counted. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include "_jsonscan.h"

typedef struct {
    uint64_t hash;
    char *key;
    size_t key_n;
    PyObject *index; /* this entry's position, as the int put in `refs` */
    long long count, delivered;
    int delivered_set, special;
    unsigned char first_n, last_n, id_n;
    char first[FIELD_MAX], last[FIELD_MAX], id[FIELD_MAX];
} Entry;

typedef struct {
    PyObject_HEAD
    Span lo, hi;
    Span *regions; /* NULL: every region */
    Py_ssize_t regions_n;
    int hourly;
    PyObject *classify, *keys, *strings; /* `strings` owns the bytes the spans above point to */
    Entry *entries;
    size_t len, cap, *table, mask; /* table: entry position + 1, 0 when free */
    FieldsVec fields;
    char *scratch;
    size_t scratch_cap;
} Counter;

static int same(Span a, const char *b, size_t n) { return a.p && a.n == n && memcmp(a.p, b, n) == 0; }
#define SAME(span, lit) same(span, lit, sizeof(lit) - 1)

/* Python's str order for ASCII strings. */
static int order(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static PyObject *ascii(Span s)
{
    if (s.p == NULL)
        Py_RETURN_NONE;
    PyObject *text = PyUnicode_New((Py_ssize_t)s.n, 127);
    if (text != NULL)
        memcpy(PyUnicode_DATA(text), s.p, s.n);
    return text;
}

/* A str argument as a span into bytes kept alive by self->strings. */
static int keep(Counter *self, PyObject *value, Span *out)
{
    PyObject *raw = PyUnicode_AsUTF8String(value);
    if (raw == NULL || PyList_Append(self->strings, raw) < 0) {
        Py_XDECREF(raw);
        return -1;
    }
    Py_DECREF(raw);
    out->p = PyBytes_AS_STRING(raw), out->n = (size_t)PyBytes_GET_SIZE(raw);
    return 0;
}

static int Counter_init(Counter *self, PyObject *args, PyObject *kwds)
{
    static char *names[] = {"lo", "hi", "regions", "hourly", "classify", NULL};
    PyObject *lo, *hi, *regions, *classify;
    if (self->keys != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Counter is initialised once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "UUOpO", names, &lo, &hi, &regions,
                                     &self->hourly, &classify))
        return -1;
    self->keys = PyList_New(0);
    self->strings = PyList_New(0);
    if (self->keys == NULL || self->strings == NULL || keep(self, lo, &self->lo) ||
        keep(self, hi, &self->hi))
        return -1;
    Py_INCREF(classify);
    self->classify = classify;
    if (regions == Py_None)
        return 0;
    PyObject *list = PySequence_List(regions);
    if (list == NULL)
        return -1;
    self->regions_n = PyList_GET_SIZE(list);
    self->regions = PyMem_Calloc((size_t)self->regions_n + 1, sizeof(Span));
    for (Py_ssize_t i = 0; self->regions != NULL && i < self->regions_n; i++)
        if (keep(self, PyList_GET_ITEM(list, i), &self->regions[i])) {
            Py_DECREF(list);
            return -1;
        }
    Py_DECREF(list);
    return self->regions == NULL ? (PyErr_NoMemory(), -1) : 0;
}

static void Counter_dealloc(Counter *self)
{
    for (size_t i = 0; i < self->len; i++) {
        PyMem_Free(self->entries[i].key);
        Py_XDECREF(self->entries[i].index);
    }
    PyMem_Free(self->entries);
    PyMem_Free(self->table);
    PyMem_Free(self->regions);
    PyMem_Free(self->scratch);
    free(self->fields.items);
    Py_XDECREF(self->classify);
    Py_XDECREF(self->keys);
    Py_XDECREF(self->strings);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The user or role whose call a record is (tally's `_select` for an all-principals scan),
 * or NULL to pass it over. */
static const Span *principal(const Fields *f)
{
    if (!f->identity)
        return NULL;
    const Span *arn;
    if (SAME(f->kind, "AssumedRole")) {
        if (!SAME(f->issuer_kind, "Role"))
            return NULL;
        arn = &f->issuer_arn;
    } else if (SAME(f->kind, "IAMUser"))
        arn = &f->arn;
    else
        return NULL;
    return arn->p != NULL ? arn : NULL;
}

/* The account of an ARN as tally reads it (the fifth ':'-separated part, else ""). */
static int owned_by(Span arn, Span account)
{
    const char *part = NULL, *p = arn.p, *end = arn.p + arn.n;
    size_t n = 0;
    int colons = 0;
    for (; p < end; p++)
        if (*p == ':' && ++colons == 4)
            part = p + 1;
        else if (*p == ':' && colons == 5)
            n = (size_t)(p - part);
    if (colons < 5)
        return account.n == 0;
    return n == account.n && memcmp(part, account.p, n) == 0;
}

static int in_regions(Counter *self, Span region)
{
    for (Py_ssize_t i = 0; region.p != NULL && i < self->regions_n; i++)
        if (same(region, self->regions[i].p, self->regions[i].n))
            return 1;
    return 0;
}

/* Adds one to `ignored[reason]` (a dict of str -> int); steals `reason`. */
static int ignore(PyObject *ignored, PyObject *reason)
{
    if (reason == NULL)
        return -1;
    PyObject *count = PyDict_GetItemWithError(ignored, reason);
    long before = count != NULL ? PyLong_AsLong(count) : 0;
    PyObject *after = PyErr_Occurred() ? NULL : PyLong_FromLong(before + 1);
    int status = after == NULL ? -1 : PyDict_SetItem(ignored, reason, after);
    Py_XDECREF(after);
    Py_DECREF(reason);
    return status;
}

static PyObject *ACCOUNT, *WINDOW, *REGION; /* the reasons tally counts records out by */

/* Appends one key field to self->scratch: whether it is set, its length, its bytes. */
static int put(Counter *self, size_t *at, Span s)
{
    size_t need = *at + 1 + sizeof(size_t) + s.n;
    if (need > self->scratch_cap) {
        char *grown = PyMem_Realloc(self->scratch, need * 2);
        if (grown == NULL)
            return PyErr_NoMemory(), -1;
        self->scratch = grown, self->scratch_cap = need * 2;
    }
    self->scratch[(*at)++] = s.p != NULL;
    memcpy(self->scratch + *at, &s.n, sizeof(size_t));
    *at += sizeof(size_t);
    if (s.n)
        memcpy(self->scratch + *at, s.p, s.n);
    *at += s.n;
    return 0;
}

static const Span BOOLS[3] = {{"n", 1}, {"f", 1}, {"t", 1}};

/* tally's key: (arn, source, name, errorCode, managementEvent, eventCategory), and with
 * `hourly` the event's hour and region ("" for none). `out` gets the fields. */
static int key_of(Counter *self, const Fields *f, const Span *arn, Span out[8], size_t *n)
{
    Span hour = {f->time.p, f->time.n < 13 ? f->time.n : 13};
    Span region = f->region.p != NULL ? f->region : (Span){"", 0};
    Span fields[8] = {*arn, f->source, f->name, f->error, BOOLS[f->management + 1],
                      f->category, hour, region};
    size_t at = 0, count = self->hourly ? 8 : 6;
    for (size_t i = 0; i < count; i++)
        if (put(self, &at, fields[i]))
            return -1;
    memcpy(out, fields, sizeof(fields));
    *n = at;
    return 0;
}

static uint64_t hash(const char *p, size_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

static Py_ssize_t find(Counter *self, uint64_t h, size_t n)
{
    for (size_t i = h & self->mask; self->table != NULL && self->table[i]; i = (i + 1) & self->mask) {
        Entry *e = &self->entries[self->table[i] - 1];
        if (e->hash == h && e->key_n == n && memcmp(e->key, self->scratch, n) == 0)
            return (Py_ssize_t)self->table[i] - 1;
    }
    return -1;
}

/* Room for one more entry, in the entries and in the table (kept under half full). */
static int reserve(Counter *self)
{
    if (self->len == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        Entry *grown = PyMem_Realloc(self->entries, cap * sizeof(Entry));
        if (grown == NULL)
            return PyErr_NoMemory(), -1;
        self->entries = grown, self->cap = cap;
    }
    if (self->table != NULL && (self->len + 1) * 2 <= self->mask + 1)
        return 0;
    size_t size = self->table ? (self->mask + 1) * 2 : 128;
    size_t *table = PyMem_Calloc(size, sizeof(size_t));
    if (table == NULL)
        return PyErr_NoMemory(), -1;
    for (size_t at = 0; at < self->len; at++) {
        size_t i = self->entries[at].hash & (size - 1);
        while (table[i])
            i = (i + 1) & (size - 1);
        table[i] = at + 1;
    }
    PyMem_Free(self->table);
    self->table = table, self->mask = size - 1;
    return 0;
}

static void copy(char *to, unsigned char *to_n, Span s)
{
    memcpy(to, s.p, s.n);
    *to_n = (unsigned char)s.n;
}

/* A new entry for the key in self->scratch (fields in `parts`), starting from `f`. */
static Py_ssize_t add(Counter *self, const Fields *f, const Span parts[8], uint64_t h, size_t n)
{
    PyObject *values[8], *key, *special;
    Py_ssize_t count = self->hourly ? 8 : 6, at = (Py_ssize_t)self->len;
    for (Py_ssize_t i = 0; i < count; i++)
        values[i] = i != 4                ? ascii(parts[i])
                    : f->management < 0 ? Py_NewRef(Py_None)
                                        : PyBool_FromLong(f->management);
    key = PyTuple_New(count);
    for (Py_ssize_t i = 0; i < count; i++)
        if (key == NULL || values[i] == NULL)
            Py_XDECREF(values[i]);
        else
            PyTuple_SET_ITEM(key, i, values[i]);
    if (key == NULL || PyErr_Occurred() || reserve(self) || PyList_Append(self->keys, key)) {
        Py_XDECREF(key);
        return -1;
    }
    special = PyObject_CallFunctionObjArgs(self->classify, values[1], values[2], NULL);
    Py_DECREF(key);
    Entry *e = &self->entries[at];
    memset(e, 0, sizeof(Entry));
    e->key = PyMem_Malloc(n ? n : 1);
    e->index = PyLong_FromSsize_t(at);
    e->special = special != NULL ? PyObject_IsTrue(special) : -1;
    Py_XDECREF(special);
    if (e->key == NULL || e->index == NULL || e->special < 0) {
        PyMem_Free(e->key), Py_XDECREF(e->index);
        PyList_SetSlice(self->keys, at, at + 1, NULL);
        return PyErr_Occurred() ? -1 : (PyErr_NoMemory(), -1);
    }
    memcpy(e->key, self->scratch, n);
    e->hash = h, e->key_n = n;
    copy(e->first, &e->first_n, f->time);
    copy(e->last, &e->last_n, f->time);
    copy(e->id, &e->id_n, f->id.p ? f->id : (Span){"", 0});
    size_t i = h & self->mask;
    while (self->table[i])
        i = (i + 1) & self->mask;
    self->table[i] = ++self->len;
    return at;
}

typedef struct {
    PyObject *ids, *refs, *specials;
    long long delivered;
    int delivered_set;
    const char *text;
} Output;

/* Counts a selected record: into its entry here, or handed back when its kind is special. */
static int count(Counter *self, const Fields *f, const Span *arn, Output *out)
{
    Span parts[8];
    size_t n;
    if (key_of(self, f, arn, parts, &n))
        return -1;
    uint64_t h = hash(self->scratch, n);
    Py_ssize_t at = find(self, h, n);
    if (at < 0 && (at = add(self, f, parts, h, n)) < 0)
        return -1;
    Entry *e = &self->entries[at];
    int has_id = f->id.p != NULL && f->id.n > 0;
    PyObject *id = has_id ? ascii(f->id) : NULL;
    if (has_id && (id == NULL || PyList_Append(out->ids, id) < 0)) {
        Py_XDECREF(id);
        return -1;
    }
    Py_XDECREF(id);
    if (e->special) {
        Py_ssize_t slot = has_id ? PyList_GET_SIZE(out->refs) : -1;
        PyObject *item = Py_BuildValue("nnnn", slot, at, (Py_ssize_t)(f->start - out->text),
                                       (Py_ssize_t)(f->end - out->text));
        int failed = item == NULL || PyList_Append(out->specials, item) < 0 ||
                     (has_id && PyList_Append(out->refs, Py_None) < 0);
        Py_XDECREF(item);
        return failed ? -1 : 0;
    }
    e->count++;
    if (order(f->time.p, f->time.n, e->first, e->first_n) < 0) {
        copy(e->first, &e->first_n, f->time);
        if (has_id)
            copy(e->id, &e->id_n, f->id);
    } else if (order(f->time.p, f->time.n, e->last, e->last_n) > 0)
        copy(e->last, &e->last_n, f->time);
    if (out->delivered_set && (!e->delivered_set || out->delivered > e->delivered))
        e->delivered = out->delivered, e->delivered_set = 1;
    return has_id ? PyList_Append(out->refs, e->index) : 0;
}

/* tally's `_select` for one record: 1 to count it, 0 when left out (counted in `ignored` or
 * `bad`), -1 on error. */
static int select_record(Counter *self, const Fields *f, const Span *arn, Span account,
                         PyObject *ignored, Py_ssize_t *bad)
{
    if (account.p != NULL && !owned_by(*arn, account))
        return ignore(ignored, Py_NewRef(ACCOUNT));
    if (f->type.p != NULL && !SAME(f->type, "AwsApiCall"))
        return ignore(ignored, ascii(f->type));
    if (f->time.p == NULL)
        return ++*bad, 0;
    if (order(f->time.p, f->time.n, self->lo.p, self->lo.n) < 0 ||
        order(f->time.p, f->time.n, self->hi.p, self->hi.n) > 0)
        return ignore(ignored, Py_NewRef(WINDOW));
    if (self->regions != NULL && !in_regions(self, f->region))
        return ignore(ignored, Py_NewRef(REGION));
    if (f->source.p == NULL || f->source.n == 0 || f->name.p == NULL || f->name.n == 0)
        return ++*bad, 0;
    return 1;
}

static PyObject *Counter_scan(Counter *self, PyObject *args)
{
    Py_buffer text;
    PyObject *account_arg, *delivered_arg, *ignored = NULL;
    Output out = {NULL, NULL, NULL, 0, 0, NULL};
    Span account = {NULL, 0};
    Py_ssize_t bad = 0, matched = 0, size;
    if (self->keys == NULL || !PyArg_ParseTuple(args, "y*OO", &text, &account_arg, &delivered_arg))
        return self->keys == NULL ? PyErr_Format(PyExc_RuntimeError, "Counter not initialised") : NULL;
    int status = scan_records(text.buf, (size_t)text.len, &self->fields);
    if (status < 0) {
        PyBuffer_Release(&text);
        if (status == -2)
            return PyErr_NoMemory();
        Py_RETURN_NONE;
    }
    out.text = text.buf;
    if (account_arg != Py_None && (account.p = PyUnicode_AsUTF8AndSize(account_arg, &size)) != NULL)
        account.n = (size_t)size;
    if (delivered_arg != Py_None)
        out.delivered = PyLong_AsLongLong(delivered_arg), out.delivered_set = 1;
    ignored = PyDict_New(), out.ids = PyList_New(0), out.refs = PyList_New(0);
    out.specials = PyList_New(0);
    status = PyErr_Occurred() || !ignored || !out.ids || !out.refs || !out.specials ? -1 : 0;
    for (size_t i = 0; status == 0 && i < self->fields.len; i++) {
        const Fields *f = &self->fields.items[i];
        const Span *arn = principal(f);
        int chosen = arn == NULL ? 0 : select_record(self, f, arn, account, ignored, &bad);
        if (chosen > 0)
            matched++;
        status = chosen < 0 || (chosen > 0 && count(self, f, arn, &out)) ? -1 : 0;
    }
    PyBuffer_Release(&text);
    if (status == 0)
        return Py_BuildValue("nnnNNNN", (Py_ssize_t)self->fields.len, bad, matched, ignored,
                             out.ids, out.refs, out.specials);
    Py_XDECREF(ignored), Py_XDECREF(out.ids), Py_XDECREF(out.refs), Py_XDECREF(out.specials);
    return NULL;
}

/* (count, first, last, eventID, latest delivery) per entry, None for special entries. */
static PyObject *Counter_entries(Counter *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *list = PyList_New((Py_ssize_t)self->len);
    for (size_t i = 0; list != NULL && i < self->len; i++) {
        Entry *e = &self->entries[i];
        PyObject *item = e->special ? Py_NewRef(Py_None)
                         : e->delivered_set
                             ? Py_BuildValue("Ls#s#s#L", e->count, e->first, (Py_ssize_t)e->first_n,
                                             e->last, (Py_ssize_t)e->last_n, e->id,
                                             (Py_ssize_t)e->id_n, e->delivered)
                             : Py_BuildValue("Ls#s#s#O", e->count, e->first, (Py_ssize_t)e->first_n,
                                             e->last, (Py_ssize_t)e->last_n, e->id,
                                             (Py_ssize_t)e->id_n, Py_None);
        if (item == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

static PyObject *Counter_keys(Counter *self, PyObject *Py_UNUSED(ignored))
{
    return self->keys ? Py_NewRef(self->keys) : PyList_New(0);
}

static PyMethodDef Counter_methods[] = {
    {"scan", (PyCFunction)Counter_scan, METH_VARARGS,
     "scan(text, account, delivered): count one file's records; None when declined."},
    {"entries", (PyCFunction)Counter_entries, METH_NOARGS,
     "(count, first, last, eventID, delivered) per key, None for special keys."},
    {"keys", (PyCFunction)Counter_keys, METH_NOARGS, "The key tuples, in first-seen order."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CounterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "policygen.scan._native.Counter",
    .tp_basicsize = sizeof(Counter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Counter(lo, hi, regions, hourly, classify)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Counter_init,
    .tp_dealloc = (destructor)Counter_dealloc,
    .tp_methods = Counter_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "policygen.scan._native",
    "Counting CloudTrail records by kind of call, in C (see scan/native.py).", -1, NULL, NULL,
    NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void)
{
    ACCOUNT = PyUnicode_InternFromString("another account's folder");
    WINDOW = PyUnicode_InternFromString("outside window");
    REGION = PyUnicode_InternFromString("other region");
    if (ACCOUNT == NULL || WINDOW == NULL || REGION == NULL || PyType_Ready(&CounterType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddObjectRef(m, "Counter", (PyObject *)&CounterType) < 0)
        Py_CLEAR(m);
    return m;
}
