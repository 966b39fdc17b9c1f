/*
 * cohort - the command-line tool: what its command files share.
 *
 * The interface is a contract (CLI.md in the project's shared notes):
 * scripts, cron jobs and systemd units drive it.  The tool uses the public
 * API only.  It is split by command family, as git splits its builtins:
 *
 *   main.c     dispatch, global options, 'cohort --help'
 *   cli.c      messages, option helpers, JSON output, opening
 *   output.c   records as text or JSON Lines (log, sync, batch hooks)
 *   apply.c    running hooks on records, bootstrap from a snapshot, stop
 *   journal.c  append, log, sync, watch, status
 *   store.c    install, uninstall, list, materialize, cat
 *   node.c     join, leave, init, node, run-once
 *   ops.c      janitor, snapshot, doctor, fsck
 *
 * A command is 'int cmd_NAME(int argc, char **argv)': argv[0] is the
 * command's name, getopt starts over for it, and it returns the exit
 * status: 0 success, 1 the operation failed (one line on stderr starting
 * "cohort: ", printed by fail() or fail_lib()), 2 usage error (printed by
 * usage_error()).
 */
#ifndef COHORT_TOOL_CLI_H
#define COHORT_TOOL_CLI_H

#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json.h>

#include "cohort.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* The global options (--root, --node, --state or COHORT_*), set by main(). */
struct globals {
	const char *root;
	const char *node;
	const char *state;
};
extern struct globals g;

/* Set by on_stop() (SIGINT, SIGTERM) in 'watch' and 'node'. */
extern volatile sig_atomic_t stop_requested;

/* Every command's --help option. */
#define HELP_OPT { "help", no_argument, NULL, 'h' }

/* ---- messages (cli.c) ---- */

/* "cohort: MESSAGE" on stderr, one line; returns EXIT_FAIL. */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A failed library call: cohort_error_last(), "read-only: " kept. */
int fail_lib(int rc);
/* The message, then "Try 'cohort CMD --help'."; returns EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A name from the command line checked by the library's rule: 0 if good
 * or NULL, else a usage error. */
int bad_name(const char *cmd, cohort_name_kind kind, const char *s);

/* ---- options and opening (cli.c) ---- */

/* A decimal count without sign: 0, or -1 if 's' is not one. */
int parse_u64(uint64_t *out, const char *s);
/* All of standard input (up to twice the record limit) in a malloc()ed
 * buffer; 0, or the exit status after a message. */
int read_stdin(char **out, size_t *len);
/* For commands without options: -1 to go on, else the exit status. */
int no_options(int argc, char **argv, const char *name, const char *help);
/* Open the cluster of the global options; 0, or the exit status. */
int open_cluster(cohort_cluster **c, int need_node);
/* 0, or exit 1 with "read-only: ..." when this node is read-only. */
int refuse_if_readonly(void);

/* ---- output (cli.c) ---- */

/* ISO 8601 UTC with milliseconds. */
void fmt_time(char out[32], int64_t ms);
/* Print 'o' as one line and release it. */
void print_json(json_object *o);

/* ---- records (output.c) ---- */

/* One record as 'log' prints it (text, or JSON with json != 0) on 'f':
 * 0, or -1 (errno set) when it could not be written. */
int write_record(FILE *f, const cohort_record *r, int json);
/* The same on stdout, errors left in ferror(stdout). */
void print_record(const cohort_record *r, int json);
/* Give stdout a 1 MiB buffer (before anything is written to it). */
void big_stdout(void);

/* How records are printed or applied by log, sync, watch and node. */
struct print_ctx {
	int json;
	int skip_own;
	const char *self;
	const char *exec;
	int flush_each; /* fflush(stdout) after each record */
	const char *batch_exec; /* the batch hook (sync --exec-batch) */
};
/* cohort_journal_read() callback: print_record(), flushed with
 * 'flush_each'; COHORT_ERROR on a closed pipe or a write error. */
int print_cb(const cohort_record *r, void *arg);

/* ---- applying records (apply.c) ---- */

/* Callback results of apply_cb() besides 0 and COHORT_E*. */
#define HOOK_FAILED 1000
#define STOPPED 1001
#define BATCH_ERROR 1002 /* the batch hook could not run; message said */

struct apply_ctx {
	struct print_ctx p;
	uint64_t failed_first; /* a failed batch: its first revision */
	uint64_t failed_rev;
	int failed_status;
	FILE *batch;	      /* the batch hook's input, while one is open */
	int batch_broken;     /* it could not be written: never run */
	uint64_t batch_first, batch_last, batch_count;
	uint64_t written;     /* the node's revision as last written */
};

/* Run '/bin/sh -c cmd' with the record on standard input; its wait status
 * in *status.  0, or the exit status after a message. */
int run_hook(const char *cmd, const cohort_record *r, int *status);
/* cohort_journal_apply() callback: print, or run the hook (a->p.exec). */
int apply_cb(const cohort_record *r, void *arg);
/* cohort_apply_options.batch_done with apply_cb ('arg' the apply_ctx):
 * flush stdout, or run the batch hook (a->p.batch_exec) on the batch. */
int batch_done_cb(uint64_t last, void *arg);
/* The exit status for what cohort_journal_apply() returned with apply_cb. */
int apply_result(int rc, struct apply_ctx *a);
/* Load the application snapshot through 'cmd' for a node behind the tail
 * (without 'cmd': behind_without_snapshot()); 0, or the exit status. */
int bootstrap(cohort_cluster *c, cohort_journal *j, const char *cmd);
/* The same, with a snapshot at revision 'need' or later. */
int bootstrap_from(cohort_cluster *c, cohort_journal *j, const char *cmd,
		   uint64_t need);
/* After COHORT_ELOST: restore past the lost records through 'cmd' (may be
 * NULL), or fail naming them and the ways on. */
int lost_stop(cohort_cluster *c, cohort_journal *j, const char *cmd);
/* Exit 1: the node is behind the tail and no --exec-snapshot was given. */
int behind_without_snapshot(void);
/* Run 'cmd' with the snapshot on standard input: 0, or the exit status
 * after a message. */
int restore_hook(cohort_cluster *c, const char *cmd, const void *data,
		 size_t len, uint64_t rev);
/* SIGINT/SIGTERM handler: sets stop_requested. */
void on_stop(int sig);

/* After a store operation: warn on stderr when the index was replayed past
 * lost records (cohort_store_lost()). */
void warn_store_lost(cohort_store *st);

/* ---- commands ---- */

int cmd_init(int argc, char **argv);
int cmd_join(int argc, char **argv);
int cmd_leave(int argc, char **argv);
int cmd_append(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_install(int argc, char **argv);
int cmd_uninstall(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_materialize(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_node(int argc, char **argv);
int cmd_run_once(int argc, char **argv);
int cmd_janitor(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_fsck(int argc, char **argv);

#endif
