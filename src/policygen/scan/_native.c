/* policygen.scan._native: counts a batch's records by kind of call without a Python object
 * per record (the Python path, scan/tally.py, builds one and runs a loop over them).
 *
 * `Counter.scan(text, account, delivered)` walks one delivery file (_jsonscan.c), selects
 * the records tally would (API calls of users and roles, in the window and regions), and
 * counts them into a hash table of distinct keys kept for the whole batch: a key's Python
 * tuple is built once, when it is first seen (_entries.c). Per record it makes only the
 * eventID string and the reference to its leaf that de-duplication needs. Python is called
 * back only where C does not decide: a kind of call's nature once (`classify`), the
 * qualifier of a parameter-dependent call whose parameters may name one (`qualify`), and
 * the resource facts of calls that can have any (`observe`). A file the walk declines
 * returns None before anything is counted. */
#include "_native.h"

static int same(Span a, const char *b, size_t n) { return a.p && a.n == n && memcmp(a.p, b, n) == 0; }
#define SAME(span, lit) same(span, lit, sizeof(lit) - 1)

/* Python's str order for ASCII strings. */
static int order(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
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
    static char *names[] = {"lo", "hi", "regions", "hourly", "classify", "qualify", "observe", NULL};
    PyObject *lo, *hi, *regions, *classify, *qualify, *observe;
    if (self->keys != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Counter is initialised once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "UUOpOOO", names, &lo, &hi, &regions,
                                     &self->hourly, &classify, &qualify, &observe))
        return -1;
    self->keys = PyList_New(0);
    self->strings = PyList_New(0);
    if (self->keys == NULL || self->strings == NULL || keep(self, lo, &self->lo) ||
        keep(self, hi, &self->hi))
        return -1;
    self->classify = Py_NewRef(classify);
    self->qualify = Py_NewRef(qualify);
    self->observe = Py_NewRef(observe);
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
    free_entries(self);
    PyMem_Free(self->regions);
    free(self->fields.items);
    Py_XDECREF(self->classify);
    Py_XDECREF(self->qualify);
    Py_XDECREF(self->observe);
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

/* Counts the record into its leaf, and puts its eventID and leaf in `ids` and `refs`. */
static int counted(Counter *self, const Fields *f, const Span *arn, const long long *delivered,
                   PyObject *ids, PyObject *refs)
{
    Py_ssize_t at = count_record(self, f, arn, delivered);
    if (at < 0)
        return -1;
    if (f->id.p == NULL || f->id.n == 0)
        return 0;
    PyObject *id = ascii(f->id);
    int status = id == NULL || PyList_Append(ids, id) || PyList_Append(refs, self->entries[at].index);
    Py_XDECREF(id);
    return status ? -1 : 0;
}

static PyObject *Counter_scan(Counter *self, PyObject *args)
{
    Py_buffer text;
    PyObject *account_arg, *delivered_arg;
    Span account = {NULL, 0};
    Py_ssize_t bad = 0, matched = 0, size;
    long long when, *delivered = NULL;
    if (self->keys == NULL)
        return PyErr_Format(PyExc_RuntimeError, "Counter not initialised");
    if (!PyArg_ParseTuple(args, "y*OO", &text, &account_arg, &delivered_arg))
        return NULL;
    int status = scan_records(text.buf, (size_t)text.len, &self->fields);
    if (status < 0) {
        PyBuffer_Release(&text);
        return status == -2 ? PyErr_NoMemory() : Py_NewRef(Py_None);
    }
    if (account_arg != Py_None && (account.p = PyUnicode_AsUTF8AndSize(account_arg, &size)) != NULL)
        account.n = (size_t)size;
    if (delivered_arg != Py_None)
        when = PyLong_AsLongLong(delivered_arg), delivered = &when;
    PyObject *ignored = PyDict_New(), *ids = PyList_New(0), *refs = PyList_New(0);
    status = PyErr_Occurred() || !ignored || !ids || !refs ? -1 : 0;
    for (size_t i = 0; status == 0 && i < self->fields.len; i++) {
        const Fields *f = &self->fields.items[i];
        const Span *arn = principal(f);
        int chosen = arn == NULL ? 0 : select_record(self, f, arn, account, ignored, &bad);
        matched += chosen > 0;
        status = chosen < 0 || (chosen > 0 && counted(self, f, arn, delivered, ids, refs)) ? -1 : 0;
    }
    PyBuffer_Release(&text);
    if (status == 0)
        return Py_BuildValue("nnnNNN", (Py_ssize_t)self->fields.len, bad, matched, ignored, ids, refs);
    Py_XDECREF(ignored), Py_XDECREF(ids), Py_XDECREF(refs);
    return NULL;
}

/* (key position, qualifier, count, first, last, eventID, latest delivery) per leaf, None
 * for a qualified key (it counts nothing itself). */
static PyObject *Counter_entries(Counter *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *list = PyList_New((Py_ssize_t)self->len);
    for (size_t i = 0; list != NULL && i < self->len; i++) {
        Entry *e = &self->entries[i];
        PyObject *item = NULL, *delivered;
        if (e->qualified)
            item = Py_NewRef(Py_None);
        else if ((delivered = e->delivered_set ? PyLong_FromLongLong(e->delivered)
                                               : Py_NewRef(Py_None)) != NULL)
            item = Py_BuildValue("nOLs#s#s#N", e->parent, e->qualifier ? e->qualifier : Py_None,
                                 e->count, e->first, (Py_ssize_t)e->first_n, e->last,
                                 (Py_ssize_t)e->last_n, e->id, (Py_ssize_t)e->id_n, delivered);
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
     "(key, qualifier, count, first, last, eventID, delivered) per leaf, None per qualified key."},
    {"keys", (PyCFunction)Counter_keys, METH_NOARGS, "The key tuples, in first-seen order."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CounterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "policygen.scan._native.Counter",
    .tp_basicsize = sizeof(Counter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Counter(lo, hi, regions, hourly, classify, qualify, observe)",
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
