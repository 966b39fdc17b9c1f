/* fuzz_index.c - the store's installed index as it comes from the shared
 * root: the snapshot 'store/index' (cohort__index_parse, on a
 * NUL-terminated copy as the reader gets it) and the store.install and
 * store.uninstall journal records replayed over it
 * (cohort__store_index_apply).
 *
 * The bytes are read as a snapshot as they are, and with their sum made
 * right (the bytes before the first "\nsum " line summed) so that the
 * entries are reached; then each of their lines as the payload of a
 * store.install record, then of a store.uninstall record, replayed over the
 * index the snapshot gave (an empty one when it was refused).
 *
 * A snapshot accepted has "rev DIGITS" (no more, no overflow) and a sum of
 * 16 lowercase hex digits; every entry line, and every record payload
 * accepted, is one JSON object and nothing after it, whose strings hold
 * no NUL and whose fields have the types package_json() writes.  The
 * index holds only packages an install could have made (names, hash,
 * ext, dependencies), no (namespace, id) twice; bytes after the sum line
 * do not matter; and it is written (cohort__index_format) as bytes that
 * read back to the same index and are written the same again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>
#include <xxhash.h>

#include "fuzz.h"
#include "package.h"
#include "store_int.h"

#define MAX_LINES 64

static int str_ok(const char *s, size_t size)
{
	return strnlen(s, size) < size;
}

static int hex32(const char *h)
{
	return strlen(h) == 32 && strspn(h, "0123456789abcdef") == 32;
}

/* 'key' of 'o' is absent, null, or of type 't' (a string without NUL). */
static int typed(json_object *o, const char *key, json_type t)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return 1;
	if (!json_object_is_type(v, t))
		return 0;
	return t != json_type_string ||
	       (size_t)json_object_get_string_len(v) ==
		       strlen(json_object_get_string(v));
}

/* The 'len' bytes at 't' are one JSON object and nothing more, its fields
 * of the types package_json() writes ('full': an install's). */
static int strict_entry(const void *t, size_t len, int full)
{
	json_tokener *tok = json_tokener_new();
	json_object *o, *deps;
	size_t i;
	int ok;

	if (!tok || len > 1u << 30)
		abort();
	o = json_tokener_parse_ex(tok, t, (int)len);
	ok = o && json_object_is_type(o, json_type_object) &&
	     json_tokener_get_parse_end(tok) == len &&
	     typed(o, "id", json_type_string) && typed(o, "ns", json_type_string);
	if (ok && full) {
		ok = typed(o, "version", json_type_string) &&
		     typed(o, "hash", json_type_string) &&
		     typed(o, "ext", json_type_string) &&
		     typed(o, "size", json_type_int) &&
		     typed(o, "installed", json_type_int) &&
		     typed(o, "rev", json_type_int) &&
		     typed(o, "dependency", json_type_boolean) &&
		     typed(o, "deps", json_type_array);
		if (ok && json_object_object_get_ex(o, "deps", &deps) &&
		    json_object_is_type(deps, json_type_array))
			for (i = 0; ok && i < json_object_array_length(deps); i++) {
				json_object *d = json_object_array_get_idx(deps, i);

				ok = json_object_is_type(d, json_type_string) &&
				     (size_t)json_object_get_string_len(d) ==
					     strlen(json_object_get_string(d));
			}
	}
	json_object_put(o);
	json_tokener_free(tok);
	return ok;
}

/* An accepted snapshot's text: its rev line, sum line and entry lines. */
static void check_text(const struct cohort__index *x, const char *t,
		       size_t len)
{
	const char *sum = memmem(t, len, "\nsum ", 5), *line, *nl;
	uint64_t rev, want = 0;
	size_t i, k, n;

	(void)cohort__store_index_packages(x, &n, &rev);
	if (!sum || len < 19 || memcmp(t, "cohort-index 1\nrev ", 19))
		abort();
	for (i = 19; i < len && t[i] >= '0' && t[i] <= '9'; i++) {
		if (want > (UINT64_MAX - (uint64_t)(t[i] - '0')) / 10)
			abort(); /* overflows */
		want = want * 10 + (uint64_t)(t[i] - '0');
	}
	if (i == 19 || i >= len || t[i] != '\n' || want != rev)
		abort();
	sum++;
	if ((size_t)(t + len - sum) < 20 ||
	    (t + len - sum > 20 && sum[20] != '\n' && sum[20] != '\0'))
		abort();
	for (k = 4; k < 20; k++)
		if (!memchr("0123456789abcdef", sum[k], 16))
			abort();
	for (line = t + i + 1; line < sum; line = nl + 1) {
		nl = memchr(line, '\n', (size_t)(sum - line));
		if (!nl || !strict_entry(line, (size_t)(nl - line), 1))
			abort();
	}
}

/* Every package as an install makes it; no (namespace, id) twice. */
static void check_packages(const struct cohort__index *x)
{
	const cohort_package *v;
	size_t n, i, k;
	uint64_t rev;

	v = cohort__store_index_packages(x, &n, &rev);
	for (i = 0; i < n; i++) {
		const cohort_package *p = &v[i];

		if (!str_ok(p->id, sizeof(p->id)) ||
		    !str_ok(p->ns, sizeof(p->ns)) ||
		    !str_ok(p->version, sizeof(p->version)) ||
		    !str_ok(p->hash, sizeof(p->hash)) ||
		    !str_ok(p->ext, sizeof(p->ext)))
			abort();
		if (!cohort__pkg_name_valid(p->id, COHORT_PKG_ID_MAX) ||
		    (p->ns[0] &&
		     !cohort__pkg_name_valid(p->ns, COHORT_PKG_ID_MAX)) ||
		    !cohort__pkg_name_valid(p->version,
					    COHORT_PKG_VERSION_MAX) ||
		    !hex32(p->hash) || !p->ext[0] || p->ext[0] == '.' ||
		    strspn(p->ext, "abcdefghijklmnopqrstuvwxyz0123456789.") !=
			    strlen(p->ext) ||
		    (p->dependency != 0 && p->dependency != 1) ||
		    (p->ndeps && !p->deps))
			abort();
		for (k = 0; k < p->ndeps; k++)
			if (!p->deps[k] ||
			    !cohort__pkg_name_valid(p->deps[k],
						    COHORT_PKG_ID_MAX))
				abort();
		for (k = 0; k < i; k++)
			if (!strcmp(v[k].ns, p->ns) && !strcmp(v[k].id, p->id))
				abort();
	}
}

static int same_package(const cohort_package *a, const cohort_package *b)
{
	size_t k;

	if (strcmp(a->id, b->id) || strcmp(a->ns, b->ns) ||
	    strcmp(a->version, b->version) || strcmp(a->hash, b->hash) ||
	    strcmp(a->ext, b->ext) || a->dependency != b->dependency ||
	    a->size != b->size || a->installed_ms != b->installed_ms ||
	    a->rev != b->rev || a->ndeps != b->ndeps)
		return 0;
	for (k = 0; k < a->ndeps; k++)
		if (strcmp(a->deps[k], b->deps[k]))
			return 0;
	return 1;
}

static int same_index(const struct cohort__index *x,
		      const struct cohort__index *y)
{
	const cohort_package *a, *b;
	size_t na, nb, i;
	uint64_t ra, rb;

	a = cohort__store_index_packages(x, &na, &ra);
	b = cohort__store_index_packages(y, &nb, &rb);
	if (na != nb || ra != rb)
		return 0;
	for (i = 0; i < na; i++)
		if (!same_package(&a[i], &b[i]))
			return 0;
	return 1;
}

/* Parse 'len' bytes at 't' into 'x' from a NUL-terminated copy. */
static int parse(struct cohort__index *x, const void *t, size_t len)
{
	char *c = malloc(len + 1);
	int rc;

	if (!c)
		return -1;
	memcpy(c, t, len);
	c[len] = '\0';
	rc = cohort__index_parse(x, c, len);
	free(c);
	return rc;
}

/* Written, an accepted index reads back the same and is written the same
 * again. */
static void check_roundtrip(const struct cohort__index *x)
{
	struct cohort__index *y = NULL;
	char *out = NULL, *out2 = NULL;
	size_t len, len2;

	if (cohort__store_index_new(&y) || cohort__index_format(&out, &len, x))
		goto out;
	if (parse(y, out, len) || !same_index(x, y))
		abort();
	if (cohort__index_format(&out2, &len2, y))
		goto out;
	if (len != len2 || memcmp(out, out2, len))
		abort();
out:
	free(out);
	free(out2);
	cohort__store_index_free(y);
}

/* The snapshot 't' (a copy, any bytes) into 'x'; checked when accepted. */
static int check_snapshot(struct cohort__index *x, const char *t, size_t len)
{
	struct cohort__index *y = NULL;
	const char *sum;
	size_t end;

	if (parse(x, t, len))
		return -1;
	check_text(x, t, len);
	check_packages(x);
	check_roundtrip(x);
	/* Accepted: there is a sum line, and nothing after it counts. */
	sum = memmem(t, len, "\nsum ", 5);
	if (!sum)
		abort();
	end = (size_t)(sum + 1 - t);
	while (end < len && t[end] != '\n')
		end++;
	if (end < len)
		end++;
	if (end < len && cohort__store_index_new(&y) == 0) {
		if (parse(y, t, end) || !same_index(x, y))
			abort();
		cohort__store_index_free(y);
	}
	return 0;
}

/* The bytes before the first "\nsum " (all of them when none, ended with a
 * '\n'), their right sum line, then the bytes after the old sum line. */
static char *summed(const uint8_t *data, size_t size, size_t *len)
{
	const uint8_t *sum = memmem(data, size, "\nsum ", 5);
	size_t body, rest, sl, add;
	char line[32], *t;

	if (sum) {
		body = (size_t)(sum + 1 - data);
		for (rest = body; rest < size && data[rest] != '\n'; rest++)
			;
		if (rest < size)
			rest++;
	} else {
		body = rest = size;
	}
	add = body && data[body - 1] != '\n';
	if (!(t = malloc(body + add + sizeof(line) + (size - rest))))
		return NULL;
	memcpy(t, data, body);
	if (add)
		t[body] = '\n';
	sl = (size_t)snprintf(line, sizeof(line), "sum %016llx\n",
			      (unsigned long long)XXH3_64bits(t, body + add));
	memcpy(t + body + add, line, sl);
	memcpy(t + body + add + sl, data + rest, size - rest);
	*len = body + add + sl + (size - rest);
	return t;
}

static int find(const struct cohort__index *x, const char *ns, const char *id,
		uint64_t *rev)
{
	const cohort_package *v;
	size_t n, i;

	v = cohort__store_index_packages(x, &n, NULL);
	for (i = 0; i < n; i++)
		if (!strcmp(v[i].ns, ns) && !strcmp(v[i].id, id)) {
			if (rev)
				*rev = v[i].rev;
			return 1;
		}
	return 0;
}

/* The namespace and id an uninstall payload names (as json-c reads it). */
static int key_of(const void *t, size_t len, char ns[COHORT_PKG_ID_MAX + 1],
		  char id[COHORT_PKG_ID_MAX + 1])
{
	json_tokener *tok = json_tokener_new();
	json_object *o, *v;
	int ok;

	if (!tok)
		abort();
	o = json_tokener_parse_ex(tok, t, (int)len);
	ok = o && json_object_object_get_ex(o, "id", &v) &&
	     json_object_is_type(v, json_type_string) &&
	     strlen(json_object_get_string(v)) <= COHORT_PKG_ID_MAX;
	if (ok) {
		strcpy(id, json_object_get_string(v));
		ns[0] = '\0';
		if (json_object_object_get_ex(o, "ns", &v) &&
		    json_object_is_type(v, json_type_string)) {
			ok = strlen(json_object_get_string(v)) <= COHORT_PKG_ID_MAX;
			if (ok)
				strcpy(ns, json_object_get_string(v));
		}
	}
	json_object_put(o);
	json_tokener_free(tok);
	return ok;
}

/* Each line of the bytes as a store.install payload over 'x', then as a
 * store.uninstall payload. */
static void check_records(struct cohort__index *x, const uint8_t *data,
			  size_t size)
{
	const cohort_package *v;
	size_t off, n, lines, before;
	uint64_t rev, base, got;
	int pass;

	(void)cohort__store_index_packages(x, &n, &base);
	base++;
	for (pass = 0; pass < 2; pass++) {
		for (off = 0, lines = 0; off < size && lines < MAX_LINES;
		     lines++) {
			const uint8_t *nl = memchr(data + off, '\n', size - off);
			size_t ll = nl ? (size_t)(nl - (data + off)) : size - off;
			unsigned char *payload = malloc(ll ? ll : 1);
			cohort_record r;
			int rc;

			if (!payload)
				return;
			memcpy(payload, data + off, ll);
			r.rev = base + (uint64_t)(pass * MAX_LINES) + lines;
			r.time_ms = 1700000000000;
			r.node = "n1";
			r.type = pass ? "store.uninstall" : "store.install";
			r.data = payload;
			r.len = ll;
			(void)cohort__store_index_packages(x, &before, NULL);
			rc = cohort__store_index_apply(x, &r);
			v = cohort__store_index_packages(x, &n, &rev);
			if (rev != r.rev)
				abort();
			if (rc == 0 && !strict_entry(payload, ll, !pass))
				abort();
			if (rc == 0 && n > 0 && !pass) {
				/* installed: last, at this revision */
				if (v[n - 1].rev != r.rev ||
				    !find(x, v[n - 1].ns, v[n - 1].id, &got) ||
				    got != r.rev || v[n - 1].installed_ms == 0)
					abort();
			} else if (rc == 0 && !pass) {
				abort(); /* accepted, yet nothing installed */
			} else if (rc != 0 && n != before) {
				abort(); /* refused, yet the index changed */
			} else if (rc == 0 && pass) {
				char ns[COHORT_PKG_ID_MAX + 1];
				char id[COHORT_PKG_ID_MAX + 1];

				/* uninstalled: gone, nothing else */
				if (!key_of(payload, ll, ns, id) ||
				    find(x, ns, id, NULL) || n + 1 < before ||
				    n > before)
					abort();
			}
			free(payload);
			off += ll + 1;
		}
		check_packages(x);
	}
	check_roundtrip(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cohort__index *x = NULL;
	size_t len;
	char *t;

	if (cohort__store_index_new(&x))
		return 0;
	(void)check_snapshot(x, (const char *)data, size);
	t = summed(data, size, &len);
	if (t && check_snapshot(x, t, len)) {
		/* refused: replay the records over an empty index */
		cohort__store_index_free(x);
		x = NULL;
		if (cohort__store_index_new(&x))
			goto out;
	}
	free(t);
	t = NULL;
	check_records(x, data, size);
out:
	free(t);
	cohort__store_index_free(x);
	return 0;
}
