/*
 * cohort/committer.h - the node's committer: group commit across the
 * processes of one node.
 *
 * Calling sequence:
 *
 *   the process that hosts it (what 'cohort node' does, after
 *   cohort_node_start() claimed the node id):
 *	cohort_committer *k;
 *	cohort_committer_start(&k, c);   listen on STATE/committer.sock
 *	...                              its threads commit for the node's
 *	                                 processes
 *	cohort_committer_stop(k);        before cohort_cluster_close(c)
 *
 *   any process of the node (same node id, same state folder):
 *	cohort_committer_append(j, entries, n, &first_rev);
 *	                                 through the committer when one
 *	                                 runs, else cohort_journal_append()
 *
 * Why.  A durable append costs a cluster lock, a write, an fdatasync and
 * a head write, whatever its size: the cost is per commit.  Threads of one
 * journal handle already share commits (cohort_journal_append()); the
 * committer makes separate processes of one node threads of one handle.
 * Each connection is served by a thread of the host that calls
 * cohort_journal_append() on the host's journal handle, so appends of
 * several processes that arrive while a commit is in progress go out
 * together in the next one: one lock, one write, one fdatasync.  Each
 * request stays its own all-or-nothing commit within the shared write
 * (its last record carries the last-of-commit flag).
 *
 * The socket is STATE/committer.sock, mode 0600, in the node's local
 * state folder; the host serves only peers of its own user id, and a
 * client talks only to a host of its own user id (SO_PEERCRED both ways).
 * A request names the cluster id and the node id: a host of another
 * cluster or node refuses it and the client commits itself.
 *
 * Protocol (one request at a time per connection; all numbers
 * little-endian):
 *
 *	request  'CKRQ' | version 1 (4) | count n (4) | body length (8) |
 *	         cluster id (36) | node length (1) | node (64, zero-padded) |
 *	         n x (type length (2) | data length (4) | type | data)
 *	replies  'T'                        taken: the host will now try it
 *	         then 'R' | first revision (8)   durable and published
 *	         or   'E' | code (4) | message length (2) | message
 *	or only  'N'                        not served here: commit yourself
 *
 * Crash safety.  The host sends 'T' before it calls
 * cohort_journal_append() for the request, and calls it only if 'T' was
 * sent; it sends 'R' only after that call returned, that is after the
 * commit's records were fdatasync'ed and its head published.  So:
 *  - no reply at all (no socket, a dead host's socket, the connection
 *    lost before 'T'): the host never started the commit; nothing of it
 *    can reach the journal, and the client commits itself (once).
 *  - 'T' and then the connection lost (the host died or was killed
 *    mid-commit): the records may be durable past the head, and the next
 *    writer publishes whole commits it finds there (cohort/journal.h), or
 *    they may never have been written.  The client cannot tell and does
 *    not guess: the append fails with "may or may not appear" and the
 *    revision the host was at is not known; it never retries, so an
 *    acknowledged record is never doubled, and an unacknowledged one
 *    appears at most once.
 *  - 'R': the head naming the records was published before the reply
 *    was sent: acknowledged means durable and visible, as with a direct
 *    append.
 * A host that stops (cohort_committer_stop(), SIGTERM of 'cohort node')
 * first removes the socket's name, then finishes every request it has
 * taken and answers it; a request it read but had not yet taken is
 * dropped unanswered, and its client commits itself.
 */
#ifndef COHORT_COMMITTER_H
#define COHORT_COMMITTER_H

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "journal.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cohort_committer cohort_committer;

/*
 * Serve the node's processes: listen on STATE/committer.sock (replacing a
 * dead host's socket) and start the accepting thread.  'c' needs a node
 * id, is used by the committer's threads and must stay open until
 * cohort_committer_stop().  One host per node: call it in the process
 * that holds the node's claim (cohort_node_start(), cohort_node_claim()).
 * COHORT_EINVAL when the state folder's path is too long for a socket.
 */
int cohort_committer_start(cohort_committer **out, cohort_cluster *c);

/*
 * Stop serving: remove the socket, let every taken request finish and be
 * answered, join the threads and free 'k' (NULL accepted).
 */
void cohort_committer_stop(cohort_committer *k);

/* Requests the host has answered with a revision since it started. */
uint64_t cohort_committer_served(const cohort_committer *k);

/*
 * Append 'n' records as one commit, as cohort_journal_append() does,
 * through the node's committer when one runs (a connection is kept on
 * the cluster handle for the next call); without one, or when it refuses
 * or is gone before taking the request, with cohort_journal_append() on
 * 'j'.  Commits over 16 MiB always go directly.  Returns once the commit
 * is durable and published.  Errors are cohort_journal_append()'s, and
 * COHORT_ERROR with "may or may not appear" in the message when the
 * committer took the request and died before answering (see above).
 * Safe to call from several threads at once.
 */
int cohort_committer_append(cohort_journal *j, const cohort_entry *e, size_t n,
			    uint64_t *first_rev);

#ifdef __cplusplus
}
#endif
#endif
