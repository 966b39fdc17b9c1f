/* fuzz_lease.c - a lock's lease file (cohort__lease_parse), on a
 * NUL-terminated copy as read_lease() in src/lock.c hands it over: the bytes
 * as they are, and with their sum made right (at the first line "sum " and
 * at the first "sum " anywhere) so that the fields behind the sum are
 * reached.  The parser must agree with a plain reading of the format in
 * lock_int.h (below): the summed lines before the first line "sum " only,
 * a sum of 16 lowercase hex digits, each field the first line with its
 * key, a pid in 1..INT_MAX.  A lease accepted reads the same once written
 * again in lease_format()'s layout. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "fuzz.h"
#include "lock_int.h"

/* A NUL-terminated copy of 'len' bytes. */
static char *dup_text(const void *p, size_t len)
{
	char *t = malloc(len + 1);

	if (!t)
		return NULL;
	memcpy(t, p, len);
	t[len] = '\0';
	return t;
}

/* Where the first line starting with "sum " starts, or -1. */
static long sum_line(const char *t, size_t len)
{
	size_t i;

	for (i = 0; i + 4 <= len; i++)
		if ((i == 0 || t[i - 1] == '\n') && !memcmp(t + i, "sum ", 4))
			return (long)i;
	return -1;
}

/* The value of the first line "KEY VALUE" of the 'len' bytes at 't' into
 * 'out' (of 'size'): 0, or -1 when there is none or it does not fit. */
static int field(char *out, size_t size, const char *t, size_t len,
		 const char *key)
{
	size_t kl = strlen(key), i = 0;

	while (i < len) {
		const char *nl = memchr(t + i, '\n', len - i);
		size_t ll = nl ? (size_t)(nl - (t + i)) : len - i;

		if (ll > kl && !memcmp(t + i, key, kl) && t[i + kl] == ' ') {
			if (ll - kl - 1 >= size)
				return -1;
			memcpy(out, t + i + kl + 1, ll - kl - 1);
			out[ll - kl - 1] = '\0';
			return 0;
		}
		i += ll + 1;
	}
	return -1;
}

/* The format read plainly, from the bytes before the first NUL. */
static void reference(struct cohort__lease_view *v, const char *t, size_t len)
{
	char sum[17], pid[12];
	unsigned long long want = 0;
	long at, p = 0;
	size_t i;

	memset(v, 0, sizeof(*v));
	len = strnlen(t, len);
	if (len < 16 || memcmp(t, "cohort-lease 1\n", 15))
		return;
	at = sum_line(t, len);
	if (at < 0 || (size_t)at >= LEASE_SIZE || (size_t)at + 20 > len ||
	    ((size_t)at + 20 < len && t[at + 20] != '\n'))
		return;
	memcpy(sum, t + at + 4, 16);
	sum[16] = '\0';
	for (i = 0; i < 16; i++) {
		const char *d = strchr("0123456789abcdef", sum[i]);

		if (!sum[i] || !d)
			return;
		want = want << 4 | (unsigned long long)(d - "0123456789abcdef");
	}
	if (want != XXH3_64bits(t, (size_t)at))
		return;
	if (field(v->node, sizeof(v->node), t, (size_t)at, "node") ||
	    field(v->host, sizeof(v->host), t, (size_t)at, "host") ||
	    field(v->boot, sizeof(v->boot), t, (size_t)at, "boot") ||
	    field(pid, sizeof(pid), t, (size_t)at, "pid") ||
	    field(v->nonce, sizeof(v->nonce), t, (size_t)at, "nonce") ||
	    pid[0] < '1' || pid[0] > '9' ||
	    strspn(pid, "0123456789") != strlen(pid))
		goto bad;
	for (i = 0; pid[i]; i++) {
		if (p > (INT_MAX - (pid[i] - '0')) / 10)
			goto bad;
		p = p * 10 + (pid[i] - '0');
	}
	v->pid = p;
	v->valid = 1;
	return;
bad:
	memset(v, 0, sizeof(*v));
}

static void check(const char *t, size_t len)
{
	struct cohort__lease_view v, w;
	char body[1024], out[1100], *c;
	int n;

	if (!(c = dup_text(t, len)))
		return;
	memset(&v, 0x5a, sizeof(v)); /* the parser sets every byte */
	cohort__lease_parse(&v, c, len);
	free(c);
	reference(&w, t, len);
	if (v.valid != w.valid)
		abort();
	if (!v.valid)
		return;
	if (memcmp(&v, &w, sizeof(v)))
		abort();

	/* Written again as lease_format() lays it out, it reads the same
	 * (when it fits: lease_format() shortens a long host name). */
	n = snprintf(body, sizeof(body),
		     "cohort-lease 1\nnode %s\nhost %s\nboot %s\npid %ld\n"
		     "nonce %s\ncount 0\n", v.node, v.host, v.boot, v.pid,
		     v.nonce);
	if (n < 0 || (size_t)n >= sizeof(body))
		abort();
	if ((size_t)n + 22 > LEASE_SIZE)
		return;
	n = snprintf(out, sizeof(out), "%ssum %016llx\n", body,
		     (unsigned long long)XXH3_64bits(body, (size_t)n));
	if (n < 0 || (size_t)n >= sizeof(out) || !(c = dup_text(out, (size_t)n)))
		abort();
	cohort__lease_parse(&w, c, (size_t)n);
	free(c);
	if (memcmp(&v, &w, sizeof(v)))
		abort();
}

/* The bytes with a right sum at 'at' (over the bytes before it) in place
 * of the rest of that line. */
static void check_summed(const uint8_t *data, size_t size, size_t at)
{
	char sum[32], *t;
	size_t end, sl, len;

	for (end = at; end < size && data[end] != '\n'; end++)
		;
	if (end < size)
		end++;
	sl = (size_t)snprintf(sum, sizeof(sum), "sum %016llx\n",
			      (unsigned long long)XXH3_64bits(data, at));
	len = at + sl + (size - end);
	if (!(t = malloc(len)))
		return;
	memcpy(t, data, at);
	memcpy(t + at, sum, sl);
	memcpy(t + at + sl, data + end, size - end);
	check(t, len);
	free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *mid;
	long at;

	check((const char *)data, size);
	at = sum_line((const char *)data, size);
	if (at >= 0)
		check_summed(data, size, (size_t)at);
	mid = memmem(data, size, "sum ", 4);
	if (mid && mid - data != at)
		check_summed(data, size, (size_t)(mid - data));
	return 0;
}
