/*
 * name.c - the rules for names that become file names or record fields:
 * node ids, lock names, record types, job names, namespaces, package ids
 * and versions.  See cohort/name.h for the rules and why they are so.
 */
#include <stdio.h>
#include <string.h>

#include "cohort/cluster.h"
#include "cohort/store.h"
#include "cluster.h"
#include "error.h"
#include "name.h"
#include "package.h"

#define SHOW_BYTES 64
/* "job.NAME" must be a lock name. */
#define JOB_MAX (COHORT_NODE_ID_MAX - 4)

static const struct {
	const char *what;
	const char *rule;
	size_t max;
	int pkg; /* package alphabet (':', '+', '~', '@'; no "..") */
} kinds[] = {
	[COHORT_NAME_NODE] = { "node id",
			       "1-64 of A-Za-z0-9._- not starting with '.' or '-'",
			       COHORT_NODE_ID_MAX, 0 },
	[COHORT_NAME_LOCK] = { "lock name",
			       "1-64 of A-Za-z0-9._- not starting with '.' or '-'",
			       COHORT_NODE_ID_MAX, 0 },
	[COHORT_NAME_TYPE] = { "record type",
			       "1-64 of A-Za-z0-9._- not starting with '.' or '-'",
			       COHORT_NODE_ID_MAX, 0 },
	[COHORT_NAME_JOB] = { "job name",
			      "1-60 of A-Za-z0-9._- not starting with '.' or '-', "
			      "not 'clock'",
			      JOB_MAX, 0 },
	[COHORT_NAME_NAMESPACE] = { "namespace",
				    "1-255 of A-Za-z0-9._:+~@- not starting with "
				    "'.' or '-', without '..'",
				    COHORT_PKG_ID_MAX, 1 },
	[COHORT_NAME_PACKAGE] = { "package id",
				  "1-255 of A-Za-z0-9._:+~@- not starting with "
				  "'.' or '-', without '..'",
				  COHORT_PKG_ID_MAX, 1 },
	[COHORT_NAME_VERSION] = { "package version",
				  "1-127 of A-Za-z0-9._:+~@- not starting with "
				  "'.' or '-', without '..'",
				  COHORT_PKG_VERSION_MAX, 1 },
};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static int allowed(unsigned char c, int pkg)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
		return 1;
	return pkg && (c == ':' || c == '+' || c == '~' || c == '@');
}

/* The one rule, by alphabet and length. */
static const char *why(char *buf, size_t size, const char *s, size_t max,
		       int pkg)
{
	size_t i;

	if (!s)
		return "none was given";
	if (!s[0])
		return "it is empty";
	/* Look at no more than max + 1 bytes: a name of 70000 bytes is
	 * "too long", whatever comes after. */
	for (i = 0; s[i] && i <= max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (allowed(c, pkg))
			continue;
		if (c == '/')
			return "it holds '/'";
		if (c < 0x20 || c == 0x7f)
			snprintf(buf, size, "it holds a control character (\\x%02x)",
				 c);
		else if (c > 0x7f)
			snprintf(buf, size,
				 "it holds a byte that is not ASCII (\\x%02x)", c);
		else
			snprintf(buf, size, "it holds '%c'", c);
		return buf;
	}
	if (i > max) {
		snprintf(buf, size, "it is longer than %zu bytes", max);
		return buf;
	}
	if (s[0] == '.')
		return "it starts with '.'";
	if (s[0] == '-')
		return "it starts with '-'";
	if (pkg && strstr(s, ".."))
		return "it holds '..'";
	return NULL;
}

const char *cohort__name_why(char *buf, size_t size, cohort_name_kind kind,
			     const char *s)
{
	const char *w;

	if ((unsigned)kind >= NKINDS)
		return "it is of no known kind";
	w = why(buf, size, s, kinds[kind].max, kinds[kind].pkg);
	/* 'jobs/clock' is where the job folder's clock file is made, and
	 * listings skip that name. */
	if (!w && kind == COHORT_NAME_JOB && !strcmp(s, "clock"))
		w = "'clock' is reserved";
	return w;
}

const char *cohort__name_show(char buf[COHORT__NAME_SHOW], const char *s)
{
	size_t i, k = 0;

	for (i = 0; s[i] && i < SHOW_BYTES; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f) {
			snprintf(buf + k, 5, "\\x%02x", c);
			k += 4;
		} else {
			buf[k++] = (char)c;
		}
	}
	if (s[i]) {
		memcpy(buf + k, "...", 3);
		k += 3;
	}
	buf[k] = '\0';
	return buf;
}

int cohort_name_check(cohort_name_kind kind, const char *s)
{
	char wbuf[96], shown[COHORT__NAME_SHOW];
	const char *w;

	if ((unsigned)kind >= NKINDS)
		return cohort__error(COHORT_EINVAL, "bad name kind %d", (int)kind);
	w = cohort__name_why(wbuf, sizeof(wbuf), kind, s);
	if (!w)
		return 0;
	if (!s)
		return cohort__error(COHORT_EINVAL, "no %s given (use %s)",
				     kinds[kind].what, kinds[kind].rule);
	return cohort__error(COHORT_EINVAL, "bad %s '%s': %s (use %s)",
			     kinds[kind].what, cohort__name_show(shown, s), w,
			     kinds[kind].rule);
}

int cohort_node_id_valid(const char *s)
{
	char b[96];

	return !cohort__name_why(b, sizeof(b), COHORT_NAME_NODE, s);
}

int cohort__name_valid(const char *s)
{
	char b[96];

	return !cohort__name_why(b, sizeof(b), COHORT_NAME_NODE, s);
}

int cohort__pkg_name_valid(const char *s, size_t max)
{
	char b[96];

	if (max > COHORT_PKG_ID_MAX)
		max = COHORT_PKG_ID_MAX;
	return !why(b, sizeof(b), s, max, 1);
}
