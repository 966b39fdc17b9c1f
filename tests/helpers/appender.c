/*
 * appender - a test helper that appends through ONE journal handle kept
 * open for its whole life, as an application server does (the cohort
 * tool opens a fresh handle per command).
 *
 *	appender --root R --node N --state S --count K --prefix P
 *
 * Appends K records, one commit each, with the data "P.1" .. "P.K", and
 * prints "REV DATA" for each as soon as cohort_journal_append() returned
 * it (the record is acknowledged: durable and visible).  On the first
 * failure it prints "failed DATA: MESSAGE" and exits 1, so a test can tell
 * the acknowledged records from the one that may or may not appear.
 * Exit: 0 all appended, 1 an append (or the open) failed, 2 usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cohort.h>

static void usage(void)
{
	fprintf(stderr, "usage: appender --root R --node N --state S "
			"--count K --prefix P\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "node", required_argument, NULL, 'n' },
		{ "state", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'k' },
		{ "prefix", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_cluster *c = NULL;
	cohort_journal *j = NULL;
	const char *prefix = NULL;
	long count = -1, i;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'r': o.root = optarg; break;
		case 'n': o.node = optarg; break;
		case 's': o.state = optarg; break;
		case 'k': count = strtol(optarg, NULL, 10); break;
		case 'p': prefix = optarg; break;
		default: usage();
		}
	}
	if (!o.root || !o.node || !prefix || count < 1 || optind != argc)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((rc = cohort_cluster_open(&c, &o)) ||
	    (rc = cohort_journal_open(&j, c))) {
		printf("failed open: %s\n", cohort_error_last());
		cohort_cluster_close(c);
		return 1;
	}
	for (i = 1; i <= count; i++) {
		char data[256];
		cohort_entry e;
		uint64_t rev = 0;

		snprintf(data, sizeof(data), "%s.%ld", prefix, i);
		e.type = "data";
		e.data = data;
		e.len = strlen(data);
		if ((rc = cohort_journal_append(j, &e, 1, &rev))) {
			printf("failed %s: %s\n", data, cohort_error_last());
			cohort_journal_close(j);
			cohort_cluster_close(c);
			return 1;
		}
		printf("%llu %s\n", (unsigned long long)rev, data);
	}
	cohort_journal_close(j);
	cohort_cluster_close(c);
	return 0;
}
