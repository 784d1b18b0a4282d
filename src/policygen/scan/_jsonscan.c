/* A strict JSON walk over a CloudTrail delivery file, keeping only the fields a tally
 * counts by (see _jsonscan.h).
 *
 * Why strict: the Python path decodes the same bytes with msgspec, and the two must give
 * the same answer, so this walk must accept no file that msgspec rejects and read every
 * field it keeps as msgspec does (last duplicate wins, a struct re-given replaces the
 * earlier one). Where it is unsure it declines (-1) and the file goes to msgspec: escaped
 * object keys (msgspec unescapes them), escapes or non-ASCII bytes in a kept string,
 * invalid UTF-8 anywhere, surrogate escapes, nesting past MAX_DEPTH. */
#include "_jsonscan.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_DEPTH 64
#define ESCAPED 1
#define HIGH 2

typedef struct {
    const char *p, *end;
} Cursor;

typedef int (*Member)(Cursor *c, const char *key, size_t n, void *ctx, int depth);

static int value(Cursor *c, int depth);

static void ws(Cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

static int literal(Cursor *c, const char *word, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return -1;
    c->p += n;
    return 0;
}

static int hex4(const unsigned char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int d = s[i];
        if (d >= '0' && d <= '9')
            d -= '0';
        else if ((d | 0x20) >= 'a' && (d | 0x20) <= 'f')
            d = (d | 0x20) - 'a' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Length of the valid UTF-8 sequence at s (s[0] >= 0x80), or 0 when it is not one. */
static size_t utf8(const unsigned char *s, const unsigned char *end)
{
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        lo = s[0] == 0xE0 ? 0xA0 : 0x80;
        hi = s[0] == 0xED ? 0x9F : 0xBF;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        lo = s[0] == 0xF0 ? 0x90 : 0x80;
        hi = s[0] == 0xF4 ? 0x8F : 0xBF;
    } else
        return 0;
    if ((size_t)(end - s) < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* The first byte at or after s that ends a run of plain string bytes: '"', '\\', a control
 * character or a non-ASCII byte (most of a record is strings: 16 bytes at a time). */
static const unsigned char *plain_run(const unsigned char *s, const unsigned char *end)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), slash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - s >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)s);
        /* signed: below 0x20 or at or above 0x80 */
        __m128i odd = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, slash)),
                                   _mm_cmplt_epi8(v, space));
        int mask = _mm_movemask_epi8(odd);
        if (mask)
            return s + __builtin_ctz((unsigned)mask);
        s += 16;
    }
#endif
    while (s < end && *s >= 0x20 && *s != '"' && *s != '\\' && *s < 0x80)
        s++;
    return s;
}

/* The string at c->p (a '"'): its raw content in `out`, ESCAPED / HIGH in `flags`. */
static int string(Cursor *c, Span *out, int *flags)
{
    const unsigned char *s = (const unsigned char *)c->p + 1;
    const unsigned char *end = (const unsigned char *)c->end;
    *flags = 0;
    out->p = (const char *)s;
    for (;;) {
        s = plain_run(s, end);
        if (s >= end || *s < 0x20)
            return -1;
        if (*s == '"')
            break;
        if (*s == '\\') {
            *flags |= ESCAPED;
            if (end - s < 2)
                return -1;
            if (s[1] == 'u') {
                int v = end - s >= 6 ? hex4(s + 2) : -1;
                if (v < 0 || (v >= 0xD800 && v <= 0xDFFF))
                    return -1;
                s += 6;
            } else if (strchr("\"\\/bfnrt", s[1]) != NULL && s[1] != '\0')
                s += 2;
            else
                return -1;
        } else {
            size_t len = utf8(s, end);
            if (len == 0)
                return -1;
            *flags |= HIGH;
            s += len;
        }
    }
    out->n = (size_t)((const char *)s - out->p);
    c->p = (const char *)s + 1;
    return 0;
}

static int digits(Cursor *c)
{
    const char *from = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++;
    return c->p > from ? 0 : -1;
}

static int number(Cursor *c)
{
    if (*c->p == '-')
        c->p++;
    if (c->p < c->end && *c->p == '0')
        c->p++;
    else if (c->p >= c->end || *c->p < '1' || *c->p > '9' || digits(c))
        return -1;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (digits(c))
            return -1;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (digits(c))
            return -1;
    }
    return 0;
}

/* Expects what closes or continues a container after a value: 1 on `close`, 0 on ','. */
static int next(Cursor *c, char close)
{
    ws(c);
    if (c->p >= c->end)
        return -1;
    if (*c->p == close) {
        c->p++;
        return 1;
    }
    if (*c->p != ',')
        return -1;
    c->p++;
    ws(c);
    return c->p < c->end ? 0 : -1;
}

/* Enters the container at c->p: 1 when it is empty (and passed), 0 at its first item. */
static int enter(Cursor *c, int depth, char close)
{
    if (depth > MAX_DEPTH)
        return -1;
    c->p++;
    ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 1;
    }
    return 0;
}

/* The object at c->p; `member` (NULL: skip every value) reads each member's value. */
static int object(Cursor *c, int depth, Member member, void *ctx)
{
    int entered = enter(c, depth, '}');
    if (entered)
        return entered > 0 ? 0 : -1;
    for (;;) {
        Span key;
        int flags, done;
        if (c->p >= c->end || *c->p != '"' || string(c, &key, &flags))
            return -1;
        ws(c);
        if (c->p >= c->end || *c->p != ':')
            return -1;
        c->p++;
        ws(c);
        if (c->p >= c->end)
            return -1;
        if (member == NULL ? value(c, depth + 1)
                           : (flags & ESCAPED) || member(c, key.p, key.n, ctx, depth + 1))
            return -1;
        if ((done = next(c, '}')) != 0)
            return done > 0 ? 0 : -1;
    }
}

static int array(Cursor *c, int depth)
{
    int entered = enter(c, depth, ']');
    if (entered)
        return entered > 0 ? 0 : -1;
    for (;;) {
        int done;
        if (c->p >= c->end || value(c, depth + 1))
            return -1;
        if ((done = next(c, ']')) != 0)
            return done > 0 ? 0 : -1;
    }
}

/* Any JSON value at c->p (not whitespace), validated and skipped. */
static int value(Cursor *c, int depth)
{
    Span ignored;
    int flags;
    switch (*c->p) {
    case '"':
        return string(c, &ignored, &flags);
    case '{':
        return object(c, depth, NULL, NULL);
    case '[':
        return array(c, depth);
    case 't':
        return literal(c, "true", 4);
    case 'f':
        return literal(c, "false", 5);
    case 'n':
        return literal(c, "null", 4);
    default:
        return (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')) ? number(c) : -1;
    }
}

/* A `str | None` field; kept in `out` (plain ASCII, at most `max` bytes) when out != NULL. */
static int text(Cursor *c, Span *out, size_t max)
{
    Span s;
    int flags;
    if (*c->p == 'n') {
        if (out != NULL)
            out->p = NULL, out->n = 0;
        return literal(c, "null", 4);
    }
    if (*c->p != '"' || string(c, &s, &flags))
        return -1;
    if (out != NULL) {
        if (flags || s.n > max)
            return -1;
        *out = s;
    }
    return 0;
}

#define IS(lit) (n == sizeof(lit) - 1 && memcmp(key, lit, n) == 0)
#define ANY ((size_t)-1)

/* A `Struct | None` field: NULL-ed when null, else the object read by `member`. */
static int nested(Cursor *c, int depth, Member member, Fields *f, int *present)
{
    *present = 0;
    if (*c->p == 'n')
        return literal(c, "null", 4);
    if (*c->p != '{')
        return -1;
    *present = 1;
    return object(c, depth, member, f);
}

static int issuer_member(Cursor *c, const char *key, size_t n, void *ctx, int depth)
{
    Fields *f = ctx;
    if (IS("type"))
        return text(c, &f->issuer_kind, ANY);
    if (IS("arn"))
        return text(c, &f->issuer_arn, ANY);
    return value(c, depth);
}

static int context_member(Cursor *c, const char *key, size_t n, void *ctx, int depth)
{
    Fields *f = ctx;
    int present;
    if (IS("sessionIssuer")) {
        f->issuer_kind.p = f->issuer_arn.p = NULL;
        return nested(c, depth, issuer_member, f, &present);
    }
    return value(c, depth);
}

static int identity_member(Cursor *c, const char *key, size_t n, void *ctx, int depth)
{
    Fields *f = ctx;
    int present;
    if (IS("type"))
        return text(c, &f->kind, ANY);
    if (IS("arn"))
        return text(c, &f->arn, ANY);
    if (IS("invokedBy"))
        return text(c, NULL, 0);
    if (IS("sessionContext")) {
        f->issuer_kind.p = f->issuer_arn.p = NULL;
        return nested(c, depth, context_member, f, &present);
    }
    return value(c, depth);
}

/* The record's `str | None` fields that are kept, where, and how long they may be. */
static const struct {
    const char *name;
    size_t offset, max;
} TEXTS[] = {
    {"eventTime", offsetof(Fields, time), FIELD_MAX},
    {"eventSource", offsetof(Fields, source), ANY},
    {"eventName", offsetof(Fields, name), ANY},
    {"awsRegion", offsetof(Fields, region), ANY},
    {"errorCode", offsetof(Fields, error), ANY},
    {"eventID", offsetof(Fields, id), FIELD_MAX},
    {"eventType", offsetof(Fields, type), ANY},
    {"eventCategory", offsetof(Fields, category), ANY},
};

static int record_member(Cursor *c, const char *key, size_t n, void *ctx, int depth)
{
    Fields *f = ctx;
    for (size_t i = 0; i < sizeof(TEXTS) / sizeof(TEXTS[0]); i++)
        if (n == strlen(TEXTS[i].name) && memcmp(key, TEXTS[i].name, n) == 0)
            return text(c, (Span *)((char *)f + TEXTS[i].offset), TEXTS[i].max);
    if (IS("userIdentity")) {
        f->kind.p = f->arn.p = f->issuer_kind.p = f->issuer_arn.p = NULL;
        return nested(c, depth, identity_member, f, &f->identity);
    }
    if (IS("recipientAccountId"))
        return text(c, NULL, 0);
    if (IS("managementEvent")) {
        f->management = *c->p == 't' ? 1 : *c->p == 'f' ? 0 : -1;
        return *c->p == 't' ? literal(c, "true", 4)
               : *c->p == 'f' ? literal(c, "false", 5)
                              : literal(c, "null", 4);
    }
    if (IS("requestParameters")) {
        f->params.p = c->p;
        if (value(c, depth))
            return -1;
        f->params.n = (size_t)(c->p - f->params.p);
        return 0;
    }
    return value(c, depth); /* responseElements, resources: raw */
}

static int push(FieldsVec *out, Fields **slot)
{
    if (out->len == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 64;
        Fields *items = realloc(out->items, cap * sizeof(Fields));
        if (items == NULL)
            return -2;
        out->items = items, out->cap = cap;
    }
    *slot = &out->items[out->len++];
    memset(*slot, 0, sizeof(Fields));
    (*slot)->management = -1;
    return 0;
}

/* The `Records` array at c->p, each record into `out`. */
static int records(Cursor *c, FieldsVec *out)
{
    int entered = *c->p == '[' ? enter(c, 2, ']') : -1;
    if (entered)
        return entered > 0 ? 0 : -1;
    for (;;) {
        Fields *f;
        int done, pushed;
        if (c->p >= c->end || *c->p != '{')
            return -1;
        if ((pushed = push(out, &f)) != 0)
            return pushed;
        f->start = c->p;
        if (object(c, 3, record_member, f))
            return -1;
        f->end = c->p;
        if ((done = next(c, ']')) != 0)
            return done > 0 ? 0 : -1;
    }
}

typedef struct {
    FieldsVec *out;
    int seen, status;
} Top;

static int top_member(Cursor *c, const char *key, size_t n, void *ctx, int depth)
{
    Top *top = ctx;
    if (!IS("Records"))
        return value(c, depth);
    if (top->seen++)
        return -1; /* msgspec would keep the last; too odd to be worth matching */
    top->status = records(c, top->out);
    return top->status ? -1 : 0;
}

int scan_records(const char *buf, size_t n, FieldsVec *out)
{
    Cursor c = {buf, buf + n};
    Top top = {out, 0, 0};
    out->len = 0;
    ws(&c);
    if (c.p >= c.end || *c.p != '{')
        return -1;
    if (object(&c, 1, top_member, &top))
        return top.status == -2 ? -2 : -1;
    if (!top.seen)
        return -1;
    ws(&c);
    return c.p == c.end ? 0 : -1;
}
