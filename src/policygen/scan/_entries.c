/* The counts of a C `Counter` (_native.c): a hash table of tally's keys and leaves, keyed
 * by their fields' bytes, each Python key tuple built once, when the key is first seen. */
#include "_native.h"

PyObject *ascii(Span s)
{
    if (s.p == NULL)
        Py_RETURN_NONE;
    PyObject *text = PyUnicode_New((Py_ssize_t)s.n, 127);
    if (text != NULL)
        memcpy(PyUnicode_DATA(text), s.p, s.n);
    return text;
}

/* Appends one key field to self->scratch at *at: whether it is set, its length, its bytes. */
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

/* tally's key into self->scratch[0:*n]: (arn, source, name, errorCode, managementEvent,
 * eventCategory), and when hourly the event's hour and region ("" for none). */
static int key_of(Counter *self, const Fields *f, const Span *arn, Span parts[8], size_t *n)
{
    Span hour = {f->time.p, f->time.n < 13 ? f->time.n : 13};
    Span region = f->region.p != NULL ? f->region : (Span){"", 0};
    Span fields[8] = {*arn, f->source, f->name, f->error, BOOLS[f->management + 1],
                      f->category, hour, region};
    size_t count = self->hourly ? 8 : 6;
    *n = 0;
    for (size_t i = 0; i < count; i++)
        if (put(self, n, fields[i]))
            return -1;
    memcpy(parts, fields, sizeof(fields));
    return 0;
}

static uint64_t hash(const char *p, size_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

/* The position of the entry whose key is self->scratch[0:n], or -1. */
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

/* A new entry for the key in self->scratch[0:n] (`tuple` its Python key, None for a
 * leaf of a qualified key), its counts started from `f` (tally's `_leaf`: first = last =
 * eventTime, eventID or ""). */
static Py_ssize_t add(Counter *self, const Fields *f, uint64_t h, size_t n, Py_ssize_t parent,
                      PyObject *tuple)
{
    Py_ssize_t at = (Py_ssize_t)self->len;
    if (reserve(self) || PyList_Append(self->keys, tuple))
        return -1;
    Entry *e = &self->entries[at];
    memset(e, 0, sizeof(Entry));
    e->key = PyMem_Malloc(n ? n : 1);
    e->index = PyLong_FromSsize_t(at);
    if (e->key == NULL || e->index == NULL) {
        PyMem_Free(e->key);
        Py_XDECREF(e->index);
        PyList_SetSlice(self->keys, at, at + 1, NULL);
        return PyErr_Occurred() ? -1 : (PyErr_NoMemory(), -1);
    }
    memcpy(e->key, self->scratch, n);
    e->hash = h, e->key_n = n, e->parent = parent < 0 ? at : parent;
    copy(e->first, &e->first_n, f->time);
    copy(e->last, &e->last_n, f->time);
    copy(e->id, &e->id_n, f->id.p ? f->id : (Span){"", 0});
    size_t i = h & self->mask;
    while (self->table[i])
        i = (i + 1) & self->mask;
    self->table[i] = ++self->len;
    return at;
}

/* Reads classify's (qualified, hint, observed) into a new key entry. */
static int classified(Entry *e, PyObject *kind)
{
    PyObject *hint;
    if (kind == NULL || !PyArg_ParseTuple(kind, "pOp", &e->qualified, &hint, &e->observed))
        return -1;
    if (hint == Py_None)
        return 0;
    if (!PyBytes_Check(hint))
        return PyErr_SetString(PyExc_TypeError, "hint must be bytes or None"), -1;
    e->hint_n = (size_t)PyBytes_GET_SIZE(hint);
    e->hint = PyMem_Malloc(e->hint_n + 1);
    if (e->hint == NULL)
        return PyErr_NoMemory(), -1;
    memcpy(e->hint, PyBytes_AS_STRING(hint), e->hint_n);
    return 0;
}

/* A new key (fields in `parts`): its tuple in self->keys, and classify's verdict. */
static Py_ssize_t add_key(Counter *self, const Fields *f, const Span parts[8], uint64_t h, size_t n)
{
    Py_ssize_t count = self->hourly ? 8 : 6, at;
    PyObject *key = PyTuple_New(count), *kind = NULL;
    for (Py_ssize_t i = 0; key != NULL && i < count; i++) {
        PyObject *value = i != 4                ? ascii(parts[i])
                          : f->management < 0 ? Py_NewRef(Py_None)
                                              : PyBool_FromLong(f->management);
        if (value == NULL)
            Py_CLEAR(key);
        else
            PyTuple_SET_ITEM(key, i, value);
    }
    if (key != NULL)
        kind = PyObject_CallFunctionObjArgs(self->classify, PyTuple_GET_ITEM(key, 1),
                                            PyTuple_GET_ITEM(key, 2), NULL);
    at = kind == NULL ? -1 : add(self, f, h, n, -1, key);
    if (at >= 0 && classified(&self->entries[at], kind) < 0)
        at = -1; /* the entry stays, unusable: the scan raises, and its Tally is dropped */
    Py_XDECREF(key);
    Py_XDECREF(kind);
    return at;
}

/* Whether `hint` occurs in `raw` with raw's ASCII letters lowered (`hint in raw.lower()`). */
static int contains_lowered(Span raw, const char *hint, size_t n)
{
    for (size_t i = 0; n <= raw.n && i <= raw.n - n; i++) {
        size_t j = 0;
        while (j < n) {
            char c = raw.p[i + j];
            if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != hint[j])
                break;
            j++;
        }
        if (j == n)
            return 1;
    }
    return 0;
}

/* The leaf of a qualified key for this record's qualifier (tally's `_qualified`): "" when
 * its parameters lack the key's hint, else what `qualify(source, name, parameters)` says. */
static Py_ssize_t leaf_of(Counter *self, Py_ssize_t key, const Fields *f, size_t n)
{
    Entry *k = &self->entries[key];
    Span raw = f->params.p ? f->params : (Span){"null", 4};
    PyObject *qualifier;
    Py_ssize_t size;
    if (k->hint != NULL && memchr(raw.p, '\\', raw.n) == NULL && !contains_lowered(raw, k->hint, k->hint_n))
        qualifier = PyUnicode_FromStringAndSize("", 0);
    else {
        PyObject *call = PyList_GET_ITEM(self->keys, key);
        PyObject *params = PyBytes_FromStringAndSize(raw.p, (Py_ssize_t)raw.n);
        qualifier = params == NULL ? NULL
                                   : PyObject_CallFunctionObjArgs(self->qualify, PyTuple_GET_ITEM(call, 1),
                                                                  PyTuple_GET_ITEM(call, 2), params, NULL);
        Py_XDECREF(params);
    }
    const char *text = qualifier && PyUnicode_Check(qualifier) ? PyUnicode_AsUTF8AndSize(qualifier, &size) : NULL;
    if (text == NULL || put(self, &n, (Span){text, (size_t)size})) {
        if (qualifier != NULL && !PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "qualify must return a str");
        Py_XDECREF(qualifier);
        return -1;
    }
    uint64_t h = hash(self->scratch, n);
    Py_ssize_t at = find(self, h, n);
    if (at < 0 && (at = add(self, f, h, n, key, Py_None)) >= 0) {
        self->entries[at].qualifier = qualifier;
        return at;
    }
    Py_DECREF(qualifier);
    return at;
}

/* One record into a leaf (tally's `_tick`, less the resource facts). */
static void tick(Entry *e, const Fields *f, const long long *delivered)
{
    e->count++;
    int earlier = memcmp(f->time.p, e->first, f->time.n < e->first_n ? f->time.n : e->first_n);
    int later = memcmp(f->time.p, e->last, f->time.n < e->last_n ? f->time.n : e->last_n);
    earlier = earlier ? earlier : (int)f->time.n - (int)e->first_n;
    later = later ? later : (int)f->time.n - (int)e->last_n;
    if (earlier < 0) {
        copy(e->first, &e->first_n, f->time);
        if (f->id.p != NULL && f->id.n > 0)
            copy(e->id, &e->id_n, f->id);
    } else if (later > 0)
        copy(e->last, &e->last_n, f->time);
    if (delivered != NULL && (!e->delivered_set || *delivered > e->delivered))
        e->delivered = *delivered, e->delivered_set = 1;
}

Py_ssize_t count_record(Counter *self, const Fields *f, const Span *arn, const long long *delivered)
{
    Span parts[8];
    size_t n;
    if (key_of(self, f, arn, parts, &n))
        return -1;
    uint64_t h = hash(self->scratch, n);
    Py_ssize_t key = find(self, h, n), at;
    if (key < 0 && (key = add_key(self, f, parts, h, n)) < 0)
        return -1;
    at = self->entries[key].qualified ? leaf_of(self, key, f, n) : key;
    if (at >= 0)
        tick(&self->entries[at], f, delivered);
    if (at >= 0 && self->entries[key].observed) { /* resource facts: Python reads them */
        PyObject *record = PyBytes_FromStringAndSize(f->start, f->end - f->start);
        PyObject *done = record == NULL ? NULL
                                        : PyObject_CallFunctionObjArgs(self->observe, self->entries[at].index,
                                                                       record, NULL);
        at = done == NULL ? -1 : at;
        Py_XDECREF(done);
        Py_XDECREF(record);
    }
    return at;
}

void free_entries(Counter *self)
{
    for (size_t i = 0; i < self->len; i++) {
        PyMem_Free(self->entries[i].key);
        PyMem_Free(self->entries[i].hint);
        Py_XDECREF(self->entries[i].index);
        Py_XDECREF(self->entries[i].qualifier);
    }
    PyMem_Free(self->entries);
    PyMem_Free(self->table);
    PyMem_Free(self->scratch);
}
