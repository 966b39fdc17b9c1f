/*
 * cohort - the command-line tool: global options, dispatch to the
 * commands (cli.h lists where each lives), 'cohort --help'.  The interface
 * is a contract (CLI.md in the project's shared notes): scripts, cron jobs
 * and systemd units drive it.  The tool uses the public API only.
 *
 * Exit status: 0 success, 1 the operation failed (one line on stderr
 * starting "cohort: "), 2 usage error.
 */
#define _GNU_SOURCE 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct globals g;

/* ---- main --------------------------------------------------------------- */

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "init", cmd_init, "create the cluster at the root (idempotent)" },
	{ "join", cmd_join, "register this node" },
	{ "leave", cmd_leave, "deregister this node" },
	{ "append", cmd_append, "append records to the journal" },
	{ "log", cmd_log, "print journal records" },
	{ "sync", cmd_sync, "apply the records this node has not applied" },
	{ "watch", cmd_watch, "sync, then keep applying new records" },
	{ "status", cmd_status, "the cluster, its head and its nodes" },
	{ "install", cmd_install, "store a package and mark it installed" },
	{ "uninstall", cmd_uninstall, "mark a package uninstalled" },
	{ "list", cmd_list, "installed packages" },
	{ "materialize", cmd_materialize, "make a folder hold the installed packages" },
	{ "cat", cmd_cat, "a package's bytes, verified" },
	{ "node", cmd_node, "mount-and-go: join, catch up, materialize, watch" },
	{ "run-once", cmd_run_once, "run a command on one node per period" },
	{ "janitor", cmd_janitor, "retire idle nodes, remove what all applied" },
	{ "snapshot", cmd_snapshot, "publish or fetch the application snapshot" },
	{ "doctor", cmd_doctor, "check the root's filesystem and mount" },
	{ "fsck", cmd_fsck, "check (and --repair) everything on the root" },
};

static void main_help(void)
{
	const char *section, *key, *def, *doc;
	unsigned int i;

	printf("usage: cohort [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n\n"
	       "A journal of changes shared by a cluster of servers on one NFS\n"
	       "mount: every node sees the same ordered revisions and replays\n"
	       "what it missed.\n\n"
	       "Global options (each also as an environment variable):\n"
	       "  --root DIR    COHORT_ROOT   the cluster root on the shared mount\n"
	       "  --node ID     COHORT_NODE   this node's id (1-64 of A-Za-z0-9._-)\n"
	       "  --state DIR   COHORT_STATE  this node's local folder (default\n"
	       "                $XDG_STATE_HOME/cohort/ID or ~/.local/state/cohort/ID)\n"
	       "  --help, --version\n\nCommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		printf("  %-12s %s\n", commands[i].name, commands[i].summary);
	printf("\n'cohort COMMAND --help' tells more.\n\n"
	       "Exit status: 0 success, 1 the operation failed (one line on stderr\n"
	       "starting 'cohort: '), 2 usage error.\n\n"
	       "Configuration: ROOT/cohort.conf (INI), overridden by STATE/cohort.conf:\n");
	for (i = 0; cohort_config_key(i, &section, &key, &def, &doc); i++)
		printf("  [%s] %s = %s\n      %s\n", section, key,
		       *def ? def : "(empty)", doc);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "node", required_argument, NULL, 'n' },
		{ "state", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' }, { 0, 0, 0, 0 } };
	unsigned int i;
	int ch;

	g.root = getenv("COHORT_ROOT");
	g.node = getenv("COHORT_NODE");
	g.state = getenv("COHORT_STATE");
	if (g.root && !*g.root)
		g.root = NULL;
	if (g.node && !*g.node)
		g.node = NULL;
	if (g.state && !*g.state)
		g.state = NULL;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'r': g.root = optarg; break;
		case 'n': g.node = optarg; break;
		case 's': g.state = optarg; break;
		case 'h': main_help(); return 0;
		case 'V': printf("cohort %s\n", COHORT_VERSION); return 0;
		default:
			return usage_error(NULL, "unknown or incomplete option '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error(NULL, "no command given");
	if (g.node && cohort_name_check(COHORT_NAME_NODE, g.node))
		return usage_error(NULL, "%s", cohort_error_last());
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[optind], commands[i].name)) {
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;

			/* Restart getopt for the command; 0 makes GNU getopt
			 * start over (its ordering mode included). */
			optind = 0;
			opterr = 0;
			return commands[i].fn(sub_argc, sub_argv);
		}
	}
	return usage_error(NULL, "unknown command '%s'", argv[optind]);
}
