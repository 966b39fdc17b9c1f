/*
 * gen_corpus.c - writes the binary seeds of tests/fuzz/corpus (records,
 * heads, segment headers, revision files) with the library's own encoders,
 * and the lease and index seeds with the library's own writers: a lease
 * held in a temporary cluster, the store index snapshot and store records
 * of packages of corpus/pkg installed there (so they name this host, its
 * boot id and the time of the run); then damaged copies of them, and text
 * with right sums that those writers never make (regressions of what the
 * parsers once accepted).  Not part of any build; run once from the top
 * folder when the formats change:
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -o /tmp/gen \
 *      tests/fuzz/gen_corpus.c build/libcohort.a \
 *      $(pkg-config --libs libarchive libxxhash inih uuid json-c libxml-2.0) \
 *      -lresolv -pthread && /tmp/gen
 * (the text seeds, the archives, made with zip and tar, and the inputs a
 * fuzzer found, named found-*, are kept as they are).
 */
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cohort.h"
#include "journal_format.h"
#include "lock_int.h"

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

static char tmp[PATH_MAX - 64];

static void die(const char *what)
{
	fprintf(stderr, "gen_corpus: %s: %s\n", what, cohort_error_last());
	exit(1);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 20);

	if (!f || !buf) {
		perror(path);
		exit(1);
	}
	*len = fread(buf, 1, (1 << 20) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A cluster in a fresh temporary folder, opened as 'node'. */
static cohort_cluster *cluster(const char *node, const char *conf)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_join_options jo = COHORT_JOIN_OPTIONS_INIT;
	char id[COHORT_UUID_LEN + 1], root[PATH_MAX], state[PATH_MAX];
	char conf_path[PATH_MAX + 16];
	cohort_cluster *c;
	FILE *f;

	if (tmp[0])
		(void)nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	snprintf(tmp, sizeof(tmp), "%s/gen-corpus.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmp)) {
		perror(tmp);
		exit(1);
	}
	snprintf(root, sizeof(root), "%s/root", tmp);
	snprintf(state, sizeof(state), "%s/state", tmp);
	if (cohort_cluster_init(id, root))
		die("init");
	snprintf(conf_path, sizeof(conf_path), "%s/cohort.conf", root);
	if (!(f = fopen(conf_path, "w")) || fputs(conf, f) < 0 || fclose(f)) {
		perror(conf_path);
		exit(1);
	}
	o.root = root;
	o.node = node;
	o.state = state;
	if (cohort_cluster_open(&c, &o) || cohort_node_join(c, &jo))
		die("open");
	return c;
}

/* Rewrite the sum of the text in 'buf' (the line after the first
 * "\nsum ", or the first "sum " when 'first') over the bytes before it;
 * 'len' does not change. */
static void resum(char *buf, size_t len, int first)
{
	char *s = first ? strstr(buf, "sum ") : strstr(buf, "\nsum ") + 1;
	char hex[17];

	snprintf(hex, sizeof(hex), "%016llx",
		 (unsigned long long)XXH3_64bits(buf, (size_t)(s - buf)));
	if ((size_t)(s + 4 + 16 - buf) > len)
		exit(1);
	memcpy(s + 4, hex, 16);
}

/* 'text' with 'from' replaced by 'to' (once), NUL-terminated, in 'out'. */
static size_t edit(char *out, size_t size, const char *text, size_t len,
		   const char *from, const char *to)
{
	const char *hit = strstr(text, from);
	size_t a, fl = strlen(from), tl = strlen(to);

	if (!hit || len - fl + tl >= size) {
		fprintf(stderr, "gen_corpus: no '%s'\n", from);
		exit(1);
	}
	a = (size_t)(hit - text);
	memcpy(out, text, a);
	memcpy(out + a, to, tl);
	memcpy(out + a + tl, hit + fl, len - a - fl);
	out[len - fl + tl] = '\0';
	return len - fl + tl;
}

/* Corpus file 'name': 'text' as edit() changes it, with its sum made right
 * again (resum()). */
static void put_edited(const char *name, const char *text, size_t len,
		       const char *from, const char *to)
{
	char t[1 << 14];
	size_t n = edit(t, sizeof(t), text, len, from, to);

	resum(t, n, 0);
	put(name, t, n);
}

/* A lease in lease_format()'s layout with 'body' before its sum. */
static void lease_text(char out[LEASE_SIZE + 1], const char *body)
{
	int n = snprintf(out, LEASE_SIZE, "%ssum %016llx\n", body,
			 (unsigned long long)XXH3_64bits(body, strlen(body)));

	memset(out + n, ' ', LEASE_SIZE - (size_t)n);
	out[LEASE_SIZE - 1] = '\n';
	out[LEASE_SIZE] = '\0';
}

static void leases(void)
{
	static const char *const names[] = { "node-a",
		"a-node-id-of-sixty-four-characters-0123456789-0123456789-abcdefg" };
	char path[PATH_MAX], *held[2], t[LEASE_SIZE + 64], *s;
	size_t len[2], n;
	unsigned int i;

	for (i = 0; i < 2; i++) {
		cohort_cluster *c = cluster(names[i],
					    "[cluster]\nlock_mode = lease\n");
		cohort_lock *l;

		if (cohort_lock_acquire(&l, c, "journal", 0))
			die("lock");
		snprintf(path, sizeof(path), "%s/root/locks/journal.lease", tmp);
		held[i] = slurp(path, &len[i]);
		if (cohort_lock_release(l))
			die("release");
		cohort_cluster_close(c);
	}
	put("lease/valid", held[0], len[0]);
	put("lease/long-node", held[1], len[1]);
	put("lease/truncated", held[0], 100);
	memcpy(t, held[0], 128);
	memcpy(t + 128, held[1] + 128, LEASE_SIZE - 128);
	put("lease/torn", t, LEASE_SIZE);
	memcpy(t, held[0], LEASE_SIZE);
	t[22] ^= 0x01;
	put("lease/bad-sum", t, LEASE_SIZE);
	memcpy(t, held[0], LEASE_SIZE);
	t[LEASE_SIZE] = '\0';
	strstr(t, "\nsum ")[3] = 'n';
	put("lease/no-sum", t, LEASE_SIZE);

	/* Right sums over text lease_format() never writes (regressions). */
	lease_text(t, "cohort-lease 1\nnode b\nhost h\nboot x\npid 0\n"
		      "nonce 0123456789abcdef0123456789abcdef\ncount 1\n");
	put("lease/pid-zero", t, LEASE_SIZE);
	lease_text(t, "cohort-lease 1\nnode b\nhost h\nboot x\n"
		      "pid 4294967297\nnonce n\ncount 1\n");
	put("lease/pid-wraps", t, LEASE_SIZE);
	lease_text(t, "cohort-lease 1\n");
	s = strstr(t, "\nsum ");
	n = strlen("node b\nhost h\nboot x\npid 7\nnonce n\n");
	memcpy(s + 1 + 21, "node b\nhost h\nboot x\npid 7\nnonce n\n", n);
	put("lease/fields-after-sum", t, LEASE_SIZE);
	lease_text(t, "cohort-lease 1\nnode b\nhost h sum 0000000000000000\n"
		      "boot x\npid 7\nnonce n\n");
	resum(t, LEASE_SIZE, 1);
	put("lease/sum-mid-line", t, LEASE_SIZE);
	lease_text(t, "cohort-lease 1\nnode b\nhost h\nboot x\npid 7\n"
		      "nonce n\n");
	s = strstr(t, "\nsum ") + 5;
	memmove(s + 2, s, 17);
	memcpy(s, "0x", 2);
	put("lease/sum-0x", t, LEASE_SIZE);
	free(held[0]);
	free(held[1]);
}

struct recs {
	char *text;
	size_t len;
};

static int keep_store_record(const cohort_record *r, void *arg)
{
	struct recs *rs = arg;
	char name[64];

	if (strncmp(r->type, "store.", 6))
		return 0;
	snprintf(name, sizeof(name), "index/rec-%llu-%s",
		 (unsigned long long)r->rev, r->type + 6);
	put(name, r->data, r->len);
	memcpy(rs->text + rs->len, r->data, r->len);
	rs->len += r->len;
	rs->text[rs->len++] = '\n';
	return 0;
}

static void index_seeds(void)
{
	cohort_install_options o = COHORT_INSTALL_OPTIONS_INIT;
	cohort_cluster *c = cluster("node-a", "");
	cohort_journal *j;
	cohort_store *st;
	char path[PATH_MAX], *one, *all, *empty, t[1 << 14], u[1 << 14];
	size_t n1, na, ne, n;
	struct recs rs = { t, 0 };

	snprintf(path, sizeof(path), "%s/root/store/index", tmp);
	if (cohort_journal_open(&j, c) || cohort_store_open(&st, c))
		die("store");
	o.id = "ext";
	o.pkg_version = "1.0";
	if (cohort_store_install(st, "tests/fuzz/corpus/pkg/ext.tar", &o, NULL))
		die("install ext.tar");
	one = slurp(path, &n1);
	o.id = o.pkg_version = NULL;
	o.ns = "ns1";
	o.force = 1;
	if (cohort_store_install(st, "tests/fuzz/corpus/pkg/bundle.jar", &o,
				 NULL))
		die("install bundle.jar");
	o.ns = NULL;
	o.dependency = 1;
	if (cohort_store_install(st, "tests/fuzz/corpus/pkg/rhq.jar", &o, NULL))
		die("install rhq.jar");
	all = slurp(path, &na);
	put("index/one", one, n1);
	put("index/several", all, na);
	if (cohort_journal_read(j, 1, 0, keep_store_record, &rs))
		die("journal");
	put("index/records", t, rs.len);
	{
		cohort_package *v;
		size_t k, m;

		if (cohort_store_list(st, NULL, &v, &m))
			die("list");
		for (k = m; k-- > 0;)
			if (cohort_store_uninstall(st, v[k].ns[0] ? v[k].ns : NULL,
						   v[k].id, 1))
				die("uninstall");
		cohort_package_list_free(v, m);
	}
	empty = slurp(path, &ne);
	put("index/empty", empty, ne);
	rs.len = 0;
	if (cohort_journal_read(j, 1, 0, keep_store_record, &rs))
		die("journal");

	/* Damaged. */
	put("index/truncated", all, (size_t)(strchr(strchr(all, '{'), ',') - all));
	memcpy(t, all, na);
	t[40] ^= 0x04;
	put("index/bad-sum", t, na);
	n = edit(t, sizeof(t), all, na, "\nsum ", "\nsun ");
	put("index/no-sum", t, n);
	put_edited("index/bad-entry", all, na, "\"ext\":\"", "\"ext\":\"../");

	/* Right sums over text snapshot_write() never writes (regressions). */
	put_edited("index/entry-trailing-bytes", one, n1, "}\n", "} trailing\n");
	put_edited("index/entry-two-objects", one, n1, "}\n",
		   "}{\"id\":\"x\"}\n");
	put_edited("index/dep-invalid", one, n1, "\"deps\":[",
		   "\"deps\":[\"../x\",");
	put_edited("index/dep-not-a-string", one, n1, "\"deps\":[",
		   "\"deps\":[7,");
	n = edit(u, sizeof(u), one, n1, "\"id\":\"", "\"id\":\"x\\u0000");
	put_edited("index/nul-in-names", u, n, "\"version\":\"",
		   "\"version\":\"1\\u0000");
	put_edited("index/size-a-string", one, n1, "\"size\":",
		   "\"size\":\"12x\",\"s\":");
	put_edited("index/rev-negative", one, n1, "\nrev ", "\nrev -");
	put_edited("index/rev-junk", one, n1, "\n{", "junk\n{");
	memcpy(t, one, n1 + 1);
	n = edit(u, sizeof(u), t, n1, "\nsum ", "\nsum 0x");
	put("index/sum-0x", u, n);

	cohort_store_close(st);
	cohort_journal_close(j);
	cohort_cluster_close(c);
	free(one);
	free(all);
	free(empty);
	(void)nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
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
	struct cohort__head h = { 7, 41, 3, 4096, 12, 2, 1, 0 };
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

	leases();
	index_seeds();
	return 0;
}
