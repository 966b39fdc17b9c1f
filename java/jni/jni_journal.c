/*
 * java/jni/jni_journal.c - native methods of org.cohort.Journal.
 *
 * Records reach Java through Journal.RecordSink.record(), one call per
 * record, from the thread that called read or sync: the library's walk
 * calls back into the JVM on the caller's own thread, so no thread is ever
 * attached here.  A sink that returns false (the listener threw) makes the
 * trampoline return 1, which stops cohort_journal_apply() at that record
 * with the revision at the one before, as a failing hook stops
 * 'cohort sync'.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cohort_jni.h"
#include "org_cohort_Journal.h"

#define JOURNAL(h, fail)                                               \
	cohort_journal *j = cj_handle(env, (h), "journal");            \
	if (!j)                                                        \
		return fail

struct walk {
	JNIEnv *env;
	jobject sink;
};

static int to_sink(const cohort_record *r, void *arg)
{
	struct walk *w = arg;

	return cj_record_to(w->env, w->sink, r);
}

JNIEXPORT jlong JNICALL
Java_org_cohort_Journal_nOpen(JNIEnv *env, jclass cls, jlong hc)
{
	cohort_cluster *c = cj_handle(env, hc, "cluster");
	cohort_journal *j = NULL;
	int rc;

	(void)cls;
	if (!c)
		return 0;
	if ((rc = cohort_journal_open(&j, c)) < 0) {
		j = NULL;
		cj_throw(env, rc);
	}
	return (jlong)(intptr_t)j;
}

JNIEXPORT void JNICALL
Java_org_cohort_Journal_nClose(JNIEnv *env, jclass cls, jlong h)
{
	(void)env;
	(void)cls;
	cohort_journal_close((cohort_journal *)(intptr_t)h);
}

/*
 * One commit of the records (types[i], data[i]); a null type is "data".
 * Payloads are copied out of the JVM first (the commit may wait for the
 * cluster lock, far too long to pin Java arrays); one over the record
 * limit is refused before anything is copied.
 */
JNIEXPORT jlong JNICALL
Java_org_cohort_Journal_nAppend(JNIEnv *env, jclass cls, jlong h,
				jobjectArray jtypes, jobjectArray jdata)
{
	cohort_entry *e = NULL;
	char **types = NULL;
	void **data = NULL;
	uint64_t first = 0;
	jsize n, i;
	int rc;
	JOURNAL(h, 0);

	(void)cls;
	if (!jtypes || !jdata) {
		cj_throw_java(env, "java/lang/NullPointerException",
			      "cohort: records are null");
		return 0;
	}
	n = (*env)->GetArrayLength(env, jdata);
	if ((*env)->GetArrayLength(env, jtypes) != n) {
		cj_throw_java(env, "java/lang/IllegalArgumentException",
			      "cohort: as many types as payloads are needed");
		return 0;
	}
	e = calloc((size_t)n + 1, sizeof(*e));
	types = calloc((size_t)n + 1, sizeof(*types));
	data = calloc((size_t)n + 1, sizeof(*data));
	if (!e || !types || !data) {
		cj_throw_java(env, "java/lang/OutOfMemoryError",
			      "cohort: out of memory for a batch");
		goto out;
	}
	for (i = 0; i < n; i++) {
		jbyteArray t = (*env)->GetObjectArrayElement(env, jtypes, i);
		jbyteArray d = (*env)->GetObjectArrayElement(env, jdata, i);
		jsize len;
		char msg[160];
		int bad;

		if ((*env)->ExceptionCheck(env))
			goto out;
		if (!d) {
			snprintf(msg, sizeof(msg),
				 "cohort: the payload of record %d is null",
				 (int)i + 1);
			cj_throw_java(env, "java/lang/NullPointerException", msg);
			goto out;
		}
		len = (*env)->GetArrayLength(env, d);
		if ((uint64_t)len > COHORT_RECORD_MAX) {
			snprintf(msg, sizeof(msg),
				 "record %d: a payload of %ld bytes is over the "
				 "limit of %u bytes", (int)i + 1, (long)len,
				 COHORT_RECORD_MAX);
			cj_throw_msg(env, COHORT_EINVAL, msg);
			goto out;
		}
		bad = cj_str(env, t, &types[i]);
		if (!bad && !(data[i] = malloc((size_t)len + 1))) {
			cj_throw_java(env, "java/lang/OutOfMemoryError",
				      "cohort: out of memory for a payload");
			bad = 1;
		}
		if (!bad)
			(*env)->GetByteArrayRegion(env, d, 0, len, data[i]);
		if (t)
			(*env)->DeleteLocalRef(env, t);
		(*env)->DeleteLocalRef(env, d);
		if (bad)
			goto out;
		e[i].type = types[i];
		e[i].data = data[i];
		e[i].len = (size_t)len;
	}
	if ((rc = cohort_journal_append(j, e, (size_t)n, &first)) < 0)
		cj_throw(env, rc);
out:
	for (i = 0; types && data && i < n; i++) {
		free(types[i]);
		free(data[i]);
	}
	free(types);
	free(data);
	free(e);
	return (jlong)first;
}

JNIEXPORT jlongArray JNICALL
Java_org_cohort_Journal_nBounds(JNIEnv *env, jclass cls, jlong h)
{
	uint64_t tail = 0, head = 0;
	jlongArray out;
	jlong v[2];
	int rc;
	JOURNAL(h, NULL);

	(void)cls;
	if ((rc = cohort_journal_bounds(j, &tail, &head)) < 0) {
		cj_throw(env, rc);
		return NULL;
	}
	v[0] = (jlong)tail;
	v[1] = (jlong)head;
	if ((out = (*env)->NewLongArray(env, 2)))
		(*env)->SetLongArrayRegion(env, out, 0, 2, v);
	return out;
}

JNIEXPORT void JNICALL
Java_org_cohort_Journal_nRead(JNIEnv *env, jclass cls, jlong h, jlong from,
			      jlong limit, jobject sink)
{
	struct walk w = { env, sink };
	int rc;
	JOURNAL(h, );

	(void)cls;
	rc = cohort_journal_read(j, (uint64_t)from, (uint64_t)limit, to_sink,
				 &w);
	if (rc < 0)
		cj_throw(env, rc);
}

/* Returns the count applied; a stop by the sink is not an error here. */
JNIEXPORT jlong JNICALL
Java_org_cohort_Journal_nApply(JNIEnv *env, jclass cls, jlong h, jobject sink,
			       jboolean skip_lost)
{
	cohort_apply_options o = COHORT_APPLY_OPTIONS_INIT;
	struct walk w = { env, sink };
	uint64_t applied = 0;
	int rc;
	JOURNAL(h, 0);

	(void)cls;
	o.each = 1;
	o.skip_lost = skip_lost ? 1 : 0;
	rc = cohort_journal_apply_with(j, &o, to_sink, &w, &applied);
	if (rc < 0)
		cj_throw(env, rc);
	return (jlong)applied;
}

JNIEXPORT jboolean JNICALL
Java_org_cohort_Journal_nWait(JNIEnv *env, jclass cls, jlong h, jlong known,
			      jint timeout_ms)
{
	JOURNAL(h, JNI_FALSE);

	(void)cls;
	return cohort_journal_wait(j, (uint64_t)known, timeout_ms) > 0 ?
		JNI_TRUE : JNI_FALSE;
}

JNIEXPORT jlong JNICALL
Java_org_cohort_Journal_nRevision(JNIEnv *env, jclass cls, jlong h)
{
	uint64_t rev = 0;
	int rc;
	JOURNAL(h, 0);

	(void)cls;
	if ((rc = cohort_journal_revision(j, &rev)) < 0)
		cj_throw(env, rc);
	return (jlong)rev;
}

JNIEXPORT void JNICALL
Java_org_cohort_Journal_nSetRevision(JNIEnv *env, jclass cls, jlong h,
				     jlong rev)
{
	int rc;
	JOURNAL(h, );

	(void)cls;
	if ((rc = cohort_journal_set_revision(j, (uint64_t)rev)) < 0)
		cj_throw(env, rc);
}

JNIEXPORT jint JNICALL
Java_org_cohort_Journal_nPollInterval(JNIEnv *env, jclass cls, jlong h)
{
	JOURNAL(h, 0);

	(void)cls;
	return cohort_journal_poll_interval_ms(j);
}

JNIEXPORT void JNICALL
Java_org_cohort_Journal_nSetPollInterval(JNIEnv *env, jclass cls, jlong h,
					 jint ms)
{
	JOURNAL(h, );

	(void)cls;
	cohort_journal_set_poll_interval_ms(j, ms < 1 ? 1 : ms);
}
