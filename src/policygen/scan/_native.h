/* What _native.c (the Python type) and _entries.c (its hash table of counts) share. */
#ifndef POLICYGEN_NATIVE_H
#define POLICYGEN_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include "_jsonscan.h"

/* A key of tally's `_acc`, or one of its leaves: tally's [count, first, last, eventID,
 * latest delivery]. A plain key is its own leaf; a key whose calls' action depends on
 * their parameters (`qualified`) counts nothing itself, its leaves (one per qualifier,
 * `parent` its position) do. */
typedef struct {
    uint64_t hash;
    char *key;
    size_t key_n;
    PyObject *index;     /* this entry's position, as the int put in `refs` */
    PyObject *qualifier; /* a qualified key's leaf: its qualifier; else NULL */
    Py_ssize_t parent;   /* the key's position (a key's own position for a key) */
    long long count, delivered;
    int delivered_set, qualified, observed;
    char *hint; /* a qualified key's parameter hint (tally's `_qualifier`), or NULL */
    size_t hint_n;
    unsigned char first_n, last_n, id_n;
    char first[FIELD_MAX], last[FIELD_MAX], id[FIELD_MAX];
} Entry;

typedef struct {
    PyObject_HEAD
    Span lo, hi;
    Span *regions; /* NULL: every region */
    Py_ssize_t regions_n;
    int hourly;
    /* classify(source, name) -> (qualified, hint, observed); qualify(source, name,
     * parameters) -> qualifier;
     * observe(leaf, record): the Python that decides what C does not. */
    PyObject *classify, *qualify, *observe;
    PyObject *keys;    /* key tuples by position (None for leaves of a qualified key) */
    PyObject *strings; /* owns the bytes that lo, hi and regions point to */
    Entry *entries;
    size_t len, cap, *table, mask; /* table: entry position + 1, 0 when free */
    FieldsVec fields;
    char *scratch; /* the key being looked up */
    size_t scratch_cap;
} Counter;

/* A str of ASCII bytes (None for a NULL span). */
PyObject *ascii(Span s);

/* Counts a selected record (whose principal is `arn`) into its leaf: the leaf's position,
 * or -1 with a Python error. `delivered`: the file's delivery time, or NULL. */
Py_ssize_t count_record(Counter *self, const Fields *f, const Span *arn, const long long *delivered);

void free_entries(Counter *self);

#endif
