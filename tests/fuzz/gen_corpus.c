/*
 * gen_corpus.c - writes the binary seeds of tests/fuzz/corpus (records,
 * heads, segment headers, revision files) with the library's own encoders.
 * Not part of any build; run once from the top folder when the formats
 * change:
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -o /tmp/gen \
 *      tests/fuzz/gen_corpus.c build/libcohort.a \
 *      $(pkg-config --libs libarchive libxxhash inih uuid json-c libxml-2.0) \
 *      -lresolv -pthread && /tmp/gen
 * (the text seeds and the archives, made with zip and tar, are kept as
 * they are).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "journal_format.h"

static void put(const char *name, const void *p, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "tests/fuzz/corpus/%s", name);
	if (!(f = fopen(path, "wb")) || fwrite(p, 1, len, f) != len ||
	    fclose(f)) {
		perror(path);
		exit(1);
	}
}

static size_t rec(unsigned char *p, uint64_t rev, const char *node,
		  const char *type, const char *data, size_t len, int last)
{
	return cohort__rec_encode(p, rev, 1700000000000 + (int64_t)rev, node,
				  type, data, len, last);
}

int main(void)
{
	static unsigned char buf[1 << 16];
	unsigned char big[4096];
	size_t n, off;
	struct cohort__head h = { 7, 41, 3, 4096, 12, 2 };
	char text[256], body[128];
	int m;

	/* records */
	n = rec(buf, 1, "node-a", "app.set", "key=value", 9, 1);
	put("rec/one", buf, n);
	put("rec/one-truncated", buf, n - 5);
	n = rec(buf, 2, "n", "t", "", 0, 1);
	put("rec/empty-data", buf, n);
	off = 0;
	off += rec(buf + off, 10, "node-a", "tx.part", "abc", 3, 0);
	off += rec(buf + off, 11, "node-a", "tx.part", "defgh", 5, 0);
	off += rec(buf + off, 12, "node-a", "tx.end", "ij", 2, 1);
	off += rec(buf + off, 13, "node-bb", "x", "1234567", 7, 1);
	put("rec/run", buf, off);
	memset(big, 'x', sizeof(big));
	n = rec(buf, 99, "a-node-with-a-long-name-0123456789",
		"store.install", (const char *)big, sizeof(big), 1);
	put("rec/large", buf, n);
	n = rec(buf, 5, "node", "type", "data", 4, 1);
	buf[n - 1] = 1; /* padding not zero */
	put("rec/bad-padding", buf, n);

	/* heads */
	memset(buf, 0, JHEAD_SIZE);
	cohort__head_encode(buf + JHEAD_SLOT, &h);
	put("head/one-slot", buf, JHEAD_SIZE);
	h.seq++;
	h.rev++;
	cohort__head_encode(buf, &h);
	put("head/two-slots", buf, JHEAD_SIZE);
	buf[10] ^= 0x40;
	put("head/one-damaged", buf, JHEAD_SIZE);
	put("head/short", buf, JHEAD_SLOT);

	/* segment headers */
	cohort__seg_header(buf, 1, 1);
	put("seg/first", buf, JSEG_HDR);
	cohort__seg_header(buf, 0x1234, 987654321);
	put("seg/later", buf, JSEG_HDR);

	/* revision files */
	m = snprintf(body, sizeof(body), "cohort-revision 1\nrev %llu\n",
		     12345ULL);
	n = (size_t)snprintf(text, sizeof(text), "%ssum %016llx\n", body,
			     (unsigned long long)XXH3_64bits(body, (size_t)m));
	put("revision/valid", text, n);
	text[25] = '9';
	put("revision/bad-sum", text, n);
	put("revision/header-only", "cohort-revision 1\n", 18);
	return 0;
}
