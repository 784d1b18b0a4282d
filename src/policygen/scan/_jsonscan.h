/* The fields of CloudTrail records that a tally counts by, found by a strict JSON walk.
 *
 * Shared by _jsonscan.c (the walk) and _native.c (the Python module). The walk accepts
 * only what msgspec accepts and reads the same way; anything it is unsure of (escapes or
 * non-ASCII in a field it reads, a wrongly typed field, deep nesting, bad syntax) makes it
 * decline the whole file, and the caller decodes that file in Python instead. */
#ifndef POLICYGEN_JSONSCAN_H
#define POLICYGEN_JSONSCAN_H

#include <stddef.h>

/* Longest eventTime or eventID kept in a counter entry; longer ones decline the file. */
#define FIELD_MAX 64

typedef struct {
    const char *p; /* NULL: absent or JSON null */
    size_t n;
} Span;

typedef struct {
    int identity; /* userIdentity is an object (not absent or null) */
    Span kind, arn, issuer_kind, issuer_arn;
    Span time, source, name, region, error, id, type, category;
    int management; /* -1 absent or null, 0 false, 1 true */
    Span params; /* requestParameters as raw JSON (NULL: absent) */
    const char *start, *end; /* the record's own bytes */
} Fields;

typedef struct {
    Fields *items;
    size_t len, cap;
} FieldsVec;

/* Walk `{"Records": [...]}` in buf[0:n] into `out` (emptied first): 0 on success, -1 when
 * the file is to be decoded in Python, -2 when out of memory. */
int scan_records(const char *buf, size_t n, FieldsVec *out);

#endif
