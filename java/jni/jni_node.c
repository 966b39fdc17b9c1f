/*
 * java/jni/jni_node.c - native methods of org.cohort.Node: the node
 * runtime of cohort/node.h, stepped from a Java thread.
 *
 * 'apply' and 'materialized' run in the thread that calls
 * cohort_node_step(), which is the Java thread in Node.step(): they call
 * the Java sink with that thread's JNIEnv, kept in the context for the
 * duration of the step.  'mode_changed' may also run in the runtime's
 * watchdog thread, which is not attached to the JVM, with the runtime's
 * lock held: it only queues the change (under a mutex of ours) and
 * Node.step() hands the queue to Java after the step, on its own thread.
 * So no Java code ever runs in a thread of the library, nor under its
 * locks.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cohort/node.h>

#include "cohort_jni.h"
#include "org_cohort_Node.h"

#define MODE_QUEUE 16

struct jnode {
	cohort_node *n;
	JNIEnv *env;	/* during a step: the stepping thread's */
	jobject sink;	/* during a step: the Node.NodeSink */
	jobject records; /* during a step: its Journal.RecordSink */
	pthread_mutex_t mu;
	struct {
		int readonly;
		char reason[256];
	} mode[MODE_QUEUE];
	unsigned int nmode;
};

#define NODE(h, fail)                                                  \
	struct jnode *x = cj_handle(env, (h), "node");                 \
	if (!x)                                                        \
		return fail

static int apply_cb(const cohort_record *r, void *user)
{
	struct jnode *x = user;

	if (!x->env)
		return 1;
	return cj_record_to(x->env, x->records, r);
}

static void materialized_cb(const char *dir, int rc,
			    const cohort_materialize_stats *st, void *user)
{
	struct jnode *x = user;
	JNIEnv *env = x->env;
	jbyteArray d, m;

	if (!env || (*env)->ExceptionCheck(env) ||
	    (*env)->PushLocalFrame(env, 4) < 0)
		return;
	if ((d = cj_bytes(env, dir)) &&
	    (m = cj_bytes(env, rc < 0 ? cohort_error_last() : "")))
		(*env)->CallVoidMethod(env, x->sink, cj.node_materialized, d,
				       (jint)rc, m, (jlong)st->added,
				       (jlong)st->updated, (jlong)st->removed,
				       (jlong)st->unchanged);
	(*env)->PopLocalFrame(env, NULL);
}

/* Any thread, the runtime's lock held: queue it, nothing more. */
static void mode_cb(int readonly, const char *reason, void *user)
{
	struct jnode *x = user;
	unsigned int i;

	pthread_mutex_lock(&x->mu);
	if (x->nmode == MODE_QUEUE) {
		/* Keep the latest changes: drop the oldest. */
		memmove(&x->mode[0], &x->mode[1],
			sizeof(x->mode[0]) * (MODE_QUEUE - 1));
		x->nmode--;
	}
	i = x->nmode++;
	x->mode[i].readonly = readonly;
	snprintf(x->mode[i].reason, sizeof(x->mode[i].reason), "%s",
		 reason ? reason : "");
	pthread_mutex_unlock(&x->mu);
}

JNIEXPORT jlong JNICALL
Java_org_cohort_Node_nStart(JNIEnv *env, jclass cls, jlong hc, jint priority,
			    jint poll_ms, jboolean skip_own, jboolean skip_lost,
			    jbyteArray jdir, jbyteArray jns)
{
	cohort_cluster *c = cj_handle(env, hc, "cluster");
	cohort_node_options o = COHORT_NODE_OPTIONS_INIT;
	struct jnode *x = NULL;
	char *dir = NULL, *ns = NULL;
	int rc;

	(void)cls;
	if (!c || cj_str(env, jdir, &dir) || cj_str(env, jns, &ns))
		goto out;
	if (!(x = calloc(1, sizeof(*x)))) {
		cj_throw_java(env, "java/lang/OutOfMemoryError",
			      "cohort: out of memory for a node");
		goto out;
	}
	pthread_mutex_init(&x->mu, NULL);
	o.priority = priority;
	o.poll_ms = poll_ms;
	o.skip_own = skip_own ? 1 : 0;
	o.skip_lost = skip_lost ? 1 : 0;
	o.materialize = dir;
	o.ns = ns;
	o.apply = apply_cb;
	o.materialized = materialized_cb;
	o.mode_changed = mode_cb;
	o.user = x;
	if ((rc = cohort_node_start(&x->n, c, &o)) < 0) {
		cj_throw(env, rc);
		pthread_mutex_destroy(&x->mu);
		free(x);
		x = NULL;
	}
out:
	free(dir);
	free(ns);
	return (jlong)(intptr_t)x;
}

JNIEXPORT void JNICALL
Java_org_cohort_Node_nStop(JNIEnv *env, jclass cls, jlong h)
{
	struct jnode *x = (struct jnode *)(intptr_t)h;

	(void)env;
	(void)cls;
	if (!x)
		return;
	cohort_node_stop(x->n);
	pthread_mutex_destroy(&x->mu);
	free(x);
}

/* One step; a stop by the sink (a listener threw) is not an error here. */
JNIEXPORT void JNICALL
Java_org_cohort_Node_nStep(JNIEnv *env, jclass cls, jlong h, jobject sink,
			   jobject records)
{
	int rc;
	NODE(h, );

	(void)cls;
	x->env = env;
	x->sink = sink;
	x->records = records;
	rc = cohort_node_step(x->n);
	x->env = NULL;
	x->sink = NULL;
	x->records = NULL;
	if (rc < 0)
		cj_throw(env, rc);
}

/* Hand the queued mode changes to sink.mode(), oldest first. */
JNIEXPORT void JNICALL
Java_org_cohort_Node_nModes(JNIEnv *env, jclass cls, jlong h, jobject sink)
{
	int ro[MODE_QUEUE];
	char reason[MODE_QUEUE][256];
	unsigned int n, i;
	jbyteArray r;
	NODE(h, );

	(void)cls;
	pthread_mutex_lock(&x->mu);
	n = x->nmode;
	for (i = 0; i < n; i++) {
		ro[i] = x->mode[i].readonly;
		memcpy(reason[i], x->mode[i].reason, sizeof(reason[i]));
	}
	x->nmode = 0;
	pthread_mutex_unlock(&x->mu);
	for (i = 0; i < n && !(*env)->ExceptionCheck(env); i++) {
		if (!(r = cj_bytes(env, reason[i])))
			return;
		(*env)->CallVoidMethod(env, sink, cj.node_mode,
				       ro[i] ? JNI_TRUE : JNI_FALSE, r);
		(*env)->DeleteLocalRef(env, r);
	}
}

/*
 * Wait for this host's commits (the runtime's descriptor) or the
 * runtime's timeout, at most 'max_ms'.
 */
JNIEXPORT void JNICALL
Java_org_cohort_Node_nWait(JNIEnv *env, jclass cls, jlong h, jint max_ms)
{
	struct pollfd p;
	int ms;
	NODE(h, );

	(void)cls;
	ms = cohort_node_timeout_ms(x->n);
	if (ms < 0 || ms > max_ms)
		ms = max_ms;
	p.fd = cohort_node_fd(x->n);
	p.events = POLLIN;
	p.revents = 0;
	if (poll(&p, p.fd >= 0 ? 1 : 0, ms) > 0)
		cohort_journal_fd_drain(cohort_node_journal(x->n));
}

/* null when read-write, else the reason. */
JNIEXPORT jbyteArray JNICALL
Java_org_cohort_Node_nReadOnly(JNIEnv *env, jclass cls, jlong h)
{
	char reason[1024] = "";
	int ro;
	NODE(h, NULL);

	(void)cls;
	ro = cohort_node_readonly(x->n, reason, sizeof(reason));
	if (ro < 0) {
		cj_throw(env, ro);
		return NULL;
	}
	return ro ? cj_bytes(env, reason) : NULL;
}

JNIEXPORT jlong JNICALL
Java_org_cohort_Node_nRevision(JNIEnv *env, jclass cls, jlong h)
{
	uint64_t rev = 0;
	int rc;
	NODE(h, 0);

	(void)cls;
	if ((rc = cohort_journal_revision(cohort_node_journal(x->n), &rev)) < 0)
		cj_throw(env, rc);
	return (jlong)rev;
}
