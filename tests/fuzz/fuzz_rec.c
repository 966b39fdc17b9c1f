/* fuzz_rec.c - journal record framing (cohort__rec_decode): the bytes as a
 * run of records, as the journal reader walks a segment, and every short
 * prefix of them (a record being written or torn), each in a buffer of
 * exactly 'avail' bytes so a read past it is caught. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "journal_format.h"

static volatile unsigned char sink;

static void touch(const cohort__rec *r)
{
	unsigned char x = 0;
	size_t i;

	for (i = 0; i < r->node_len; i++)
		x ^= (unsigned char)r->node[i];
	for (i = 0; i < r->type_len; i++)
		x ^= (unsigned char)r->type[i];
	for (i = 0; i < r->len; i++)
		x ^= r->data[i];
	sink = x;
}

static void walk(const unsigned char *p, size_t avail)
{
	size_t off = 0;

	while (off < avail) {
		cohort__rec r;
		size_t need = 0;
		long n = cohort__rec_decode(&r, p + off, avail - off, &need);

		if (need < JREC_HDR)
			abort(); /* 'need' is at least a header */
		if (n <= 0)
			break;
		if ((size_t)n != need || (size_t)n > avail - off ||
		    (size_t)n != cohort__rec_size(r.node_len, r.type_len, r.len))
			abort();
		touch(&r);
		off += (size_t)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t avail, lim = size < 2 * JREC_HDR ? size : 2 * JREC_HDR;

	walk(data, size);
	/* Short reads: the first 'avail' bytes only. */
	for (avail = 0; avail <= lim; avail++) {
		unsigned char *b = malloc(avail ? avail : 1);
		cohort__rec r;
		size_t need = 0;

		if (!b)
			return 0;
		memcpy(b, data, avail);
		if (cohort__rec_decode(&r, b, avail, &need) > 0)
			touch(&r);
		free(b);
	}
	return 0;
}
