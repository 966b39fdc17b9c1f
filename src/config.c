/*
 * config.c - cohort.conf.  INI parsed by inih (libinih); every key is in the
 * table below with its default and documentation, which --help and NOTES.md
 * repeat.  An unknown section or key, or a value that does not parse, is an
 * error naming the file and line: a typo must not silently fall back to a
 * default that is unsafe on this mount.
 */
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cohort/cluster.h"
#include "config.h"
#include "error.h"
#include "os/os.h"

const struct cohort__key cohort__keys[] = {
	{ "cluster", "lock_mode", "auto", KIND_ENUM, "auto|fcntl|lease|both",
	  "how cluster locks exclude: auto (lease alone on nolock/local_lock "
	  "mounts, else fcntl and lease), fcntl, lease or both" },
	{ "cluster", "lock_timeout", "30s", KIND_DURATION, NULL,
	  "how long to wait for a cluster lock before failing" },
	{ "cluster", "lease_refresh", "1s", KIND_DURATION, NULL,
	  "how often a lock holder rewrites its lease" },
	{ "cluster", "lease_timeout", "10s", KIND_DURATION, NULL,
	  "a holder whose last refresh is older aborts before it commits" },
	{ "cluster", "skew_margin", "5s", KIND_DURATION, NULL,
	  "added to lease_timeout before a lease seen unchanged is broken" },
	{ "cluster", "heartbeat_interval", "2s", KIND_DURATION, NULL,
	  "how often a running node rewrites its heartbeat" },
	{ "cluster", "stale_after", "30s", KIND_DURATION, NULL,
	  "a node whose heartbeat did not change for this long is stale" },
	{ "cluster", "file_mode", "0640", KIND_MODE, NULL,
	  "mode of files created on the root and in the state folder" },
	{ "cluster", "dir_mode", "0750", KIND_MODE, NULL,
	  "mode of folders created on the root and in the state folder" },
	{ "cluster", "group", "", KIND_GROUP, NULL,
	  "group (name or number) of files and folders created on the root "
	  "and in the state folder; empty: the creating process's group" },
	{ "journal", "segment_size", "16M", KIND_SIZE, NULL,
	  "a journal segment is sealed once it holds this many bytes" },
	{ "journal", "poll_interval", "250ms", KIND_DURATION, NULL,
	  "how often watchers read the journal head (other hosts' commits)" },
	{ "journal", "head_sync", "auto", KIND_ENUM, "auto|always|never",
	  "fdatasync the head file after publishing (auto: on NFS only, where "
	  "the client caches writes until a sync)" },
	{ "cluster", "priority_mode", "dynamic", KIND_ENUM, "dynamic|static",
	  "static: while the main (highest-priority) node is stale the other "
	  "nodes are read-only; dynamic: they stay read-write" },
	{ "janitor", "retire_after", "7d", KIND_DURATION, NULL,
	  "a node whose heartbeat and revision did not move for this long is "
	  "retired and no longer holds cleanup back" },
	{ "janitor", "min_age", "0s", KIND_DURATION, NULL,
	  "a journal segment younger than this is kept" },
	{ "janitor", "blob_grace", "1h", KIND_DURATION, NULL,
	  "store content nothing references is removed once this old" },
	{ "node", "heartbeat_timeout", "5s", KIND_DURATION, NULL,
	  "a heartbeat write that fails or takes longer makes 'cohort node' "
	  "switch this node to read-only until the root answers again" },
	{ "node", "priority", "50", KIND_INT, "0-100",
	  "this node's priority; the highest live node is the main node" },
};

const unsigned int cohort__nkeys = sizeof(cohort__keys) / sizeof(cohort__keys[0]);
_Static_assert(sizeof(cohort__keys) / sizeof(cohort__keys[0]) <= 64,
	       "struct cohort__config holds 64 keys");

int cohort_config_key(unsigned int i, const char **section, const char **key,
		      const char **def, const char **doc)
{
	if (i >= cohort__nkeys)
		return 0;
	*section = cohort__keys[i].section;
	*key = cohort__keys[i].key;
	*def = cohort__keys[i].def;
	*doc = cohort__keys[i].doc;
	return 1;
}

int cohort__config_index(const char *section, const char *key)
{
	unsigned int i;

	for (i = 0; i < cohort__nkeys; i++)
		if (!strcmp(cohort__keys[i].section, section) &&
		    !strcmp(cohort__keys[i].key, key))
			return (int)i;
	return -1;
}

/*
 * A group: empty (-1: the creating process's), a number (any gid, known
 * here or not), or a name this host knows.  Names are resolved on each
 * node: the same name may have another number on another host.
 */
static int parse_group(int64_t *num, const char *v)
{
	struct group gr, *found = NULL;
	char *buf = NULL, *end;
	const char *p;
	size_t cap = 1024;
	int e = ERANGE;

	if (!*v) {
		*num = -1;
		return 0;
	}
	if (v[strspn(v, "0123456789")] == '\0') {
		unsigned long long n;

		errno = 0;
		n = strtoull(v, &end, 10);
		if (errno || *end || n >= (gid_t)-1)
			return cohort__error(COHORT_EINVAL,
					     "'%s' is not a group number", v);
		*num = (int64_t)n;
		return 0;
	}
	for (p = v; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == ':' ||
		    *p == ',')
			break;
	if (*p || p - v > 256 || *v == '-' || *v == '+')
		return cohort__error(COHORT_EINVAL,
				     "'%s' is not a group name or number", v);
	while (e == ERANGE && cap <= (1u << 20)) {
		char *nbuf = realloc(buf, cap);

		if (!nbuf) {
			free(buf);
			return cohort__error(COHORT_ERROR, "out of memory");
		}
		buf = nbuf;
		e = getgrnam_r(v, &gr, buf, cap, &found);
		cap *= 2;
	}
	if (found)
		*num = (int64_t)found->gr_gid;
	free(buf);
	if (found)
		return 0;
	if (e && e != ENOENT && e != ESRCH && e != EBADF && e != EPERM)
		return cohort__error_sys(COHORT_ERROR, e,
					 "cannot look up group '%s'", v);
	return cohort__error(COHORT_EINVAL,
			     "no group '%s' on this host (give an existing "
			     "group name or a number)", v);
}

static int parse_value(int64_t *num, const struct cohort__key *k,
		       const char *v)
{
	char *end;
	long long n;

	switch (k->kind) {
	case KIND_STRING:
		return 0;
	case KIND_GROUP:
		return parse_group(num, v);
	case KIND_DURATION:
		return cohort_parse_duration_ms(num, v);
	case KIND_SIZE:
		return cohort_parse_size(num, v);
	case KIND_MODE:
		errno = 0;
		n = strtoll(v, &end, 8);
		if (errno || *end || end == v || n < 0 || n > 07777)
			return cohort__error(COHORT_EINVAL,
					     "'%s' is not an octal mode", v);
		*num = n;
		return 0;
	case KIND_INT: {
		long long lo = 0, hi = 0;

		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno || *end || end == v)
			return cohort__error(COHORT_EINVAL,
					     "'%s' is not a number", v);
		if (k->choices && sscanf(k->choices, "%lld-%lld", &lo, &hi) == 2 &&
		    (n < lo || n > hi))
			return cohort__error(COHORT_EINVAL,
					     "%lld is not within %s", n,
					     k->choices);
		*num = n;
		return 0;
	}
	case KIND_ENUM: {
		const char *p = k->choices;
		size_t vl = strlen(v);

		while (p && *p) {
			size_t l = strcspn(p, "|");

			if (l == vl && !strncmp(p, v, l))
				return 0;
			p += l + (p[l] == '|');
		}
		return cohort__error(COHORT_EINVAL, "'%s' is not one of %s", v,
				     k->choices);
	}
	}
	return 0;
}

void cohort__config_init(struct cohort__config *cfg)
{
	unsigned int i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < cohort__nkeys; i++)
		(void)parse_value(&cfg->num[i], &cohort__keys[i],
				  cohort__keys[i].def);
}

struct load_ctx {
	struct cohort__config *cfg;
	const char *path;
	int rc;
	const char *next; /* the text still to hand to inih */
	int line;	  /* the line inih holds now */
};

/* inih reads line by line through this, so we know the line number. */
static char *next_line(char *str, int num, void *stream)
{
	struct load_ctx *ctx = stream;
	size_t n = 0;

	if (!ctx->next || !*ctx->next || num < 2)
		return NULL;
	while (ctx->next[n] && ctx->next[n] != '\n' && n < (size_t)num - 2)
		n++;
	if (ctx->next[n] == '\n')
		n++;
	memcpy(str, ctx->next, n);
	str[n] = '\0';
	ctx->next += n;
	ctx->line++;
	return str;
}

static int on_entry(void *user, const char *section, const char *name,
		    const char *value)
{
	struct load_ctx *ctx = user;
	int lineno = ctx->line;
	int i = cohort__config_index(section, name);
	int64_t num = 0;
	char *copy;

	if (ctx->rc)
		return 0;
	if (i < 0) {
		ctx->rc = cohort__error(COHORT_EINVAL,
					"'%s' line %d: unknown key '%s' in section "
					"[%s]", ctx->path, lineno, name, section);
		return 0;
	}
	if (parse_value(&num, &cohort__keys[i], value)) {
		ctx->rc = cohort__error_wrap(COHORT_EINVAL,
					     "'%s' line %d: bad value for %s.%s",
					     ctx->path, lineno, section, name);
		return 0;
	}
	copy = strdup(value);
	if (!copy) {
		ctx->rc = cohort__error(COHORT_ERROR, "out of memory");
		return 0;
	}
	free(ctx->cfg->value[i]);
	ctx->cfg->value[i] = copy;
	ctx->cfg->num[i] = num;
	return 1;
}

int cohort__config_load(struct cohort__config *cfg, const char *path)
{
	struct load_ctx ctx = { cfg, path, 0, NULL, 0 };
	char *text = NULL;
	size_t len;
	int rc, line;

	rc = cohort__os_read_file(&text, &len, path, 1 << 20);
	if (rc == COHORT_ENOTFOUND) {
		cohort__error_clear();
		return 0;
	}
	if (rc)
		return rc;
	if (memchr(text, '\0', len)) {
		free(text);
		return cohort__error(COHORT_EINVAL, "'%s' holds a NUL byte",
				     path);
	}
	ctx.next = text;
	line = ini_parse_stream(next_line, &ctx, on_entry, &ctx);
	free(text);
	if (ctx.rc)
		return ctx.rc;
	if (line != 0)
		return cohort__error(COHORT_EINVAL, "'%s' line %d: syntax error",
				     path, line);
	return 0;
}

void cohort__config_free(struct cohort__config *cfg)
{
	unsigned int i;

	for (i = 0; i < cohort__nkeys; i++) {
		free(cfg->value[i]);
		cfg->value[i] = NULL;
	}
}

const char *cohort__config_str(const struct cohort__config *cfg,
			       const char *section, const char *key)
{
	int i = cohort__config_index(section, key);

	if (i < 0)
		return "";
	return cfg->value[i] ? cfg->value[i] : cohort__keys[i].def;
}

int64_t cohort__config_num(const struct cohort__config *cfg,
			   const char *section, const char *key)
{
	int i = cohort__config_index(section, key);

	return i < 0 ? 0 : cfg->num[i];
}

/* ---- units -------------------------------------------------------------- */

/*
 * strtod() also takes "nan", "inf", hex, exponents, signs and leading
 * blanks; none of them is a duration or a size here ("nan" would even
 * reach a float-to-integer conversion that is undefined).
 */
static int plain_number(const char *s, const char *end)
{
	int digits = 0, dot = 0;

	for (; s < end; s++) {
		if (*s >= '0' && *s <= '9')
			digits++;
		else if (*s == '.' && !dot)
			dot = 1;
		else
			return 0;
	}
	return digits > 0;
}

int cohort_parse_duration_ms(int64_t *out, const char *s)
{
	char *end;
	double v;
	int64_t mult;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || !plain_number(s, end))
		goto bad;
	if (!strcmp(end, "ms"))
		mult = 1;
	else if (!strcmp(end, "s") || !*end)
		mult = 1000;
	else if (!strcmp(end, "m"))
		mult = 60 * 1000;
	else if (!strcmp(end, "h"))
		mult = 3600 * 1000;
	else if (!strcmp(end, "d"))
		mult = 86400 * 1000;
	else
		goto bad;
	if (v * (double)mult > 9.0e15)
		goto bad;
	*out = (int64_t)(v * (double)mult + 0.5);
	return 0;
bad:
	return cohort__error(COHORT_EINVAL,
			     "'%s' is not a duration (like 250ms, 30s, 15m, 2h, "
			     "7d)", s);
}

int cohort_parse_size(int64_t *out, const char *s)
{
	char *end;
	double v;
	int64_t mult = 1;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || !plain_number(s, end))
		goto bad;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mult = 1024; end++; break;
	case 'm': case 'M': mult = 1024 * 1024; end++; break;
	case 'g': case 'G': mult = 1024LL * 1024 * 1024; end++; break;
	default: goto bad;
	}
	if (*end && strcmp(end, "iB") && strcmp(end, "B") && strcmp(end, "b"))
		goto bad;
	if (v * (double)mult > 9.0e15)
		goto bad;
	*out = (int64_t)(v * (double)mult);
	return 0;
bad:
	return cohort__error(COHORT_EINVAL,
			     "'%s' is not a size (like 512k, 4M, 1G)", s);
}
