/*
 * java/jni/cohort_jni.h - what the native half of the Java binding
 * (package org.cohort) shares between its files.
 *
 * Calling sequence of every native method:
 *
 *	char *root = NULL;
 *	if (cj_str(env, jroot, &root))          byte[] from Java -> C string
 *		goto out;                       (an exception is pending)
 *	rc = cohort_...(...);
 *	if (rc < 0)
 *		cj_throw(env, rc);              CohortException(code, message)
 *	out:
 *	free(root);
 *
 * Strings cross the boundary as byte[] in UTF-8, never through the JVM's
 * "modified UTF-8" (which writes NUL and characters past U+FFFF in its own
 * way): Java encodes and refuses a NUL (org.cohort.Native), C copies the
 * bytes and adds the terminating NUL, and bytes coming back (ids, record
 * fields, messages) are decoded by Java.
 *
 * Handles arrive as jlong values that the Java side owns and guards (a
 * closed handle never reaches C); a 0 handle is refused here too, as an
 * IllegalStateException, so a bug in the Java half cannot crash the JVM.
 *
 * Callbacks (records, packages, node infos) call methods of the final
 * "sink" classes of the Java half, with a local frame per call so that a
 * long walk never grows the local reference table.  A sink method that
 * returns false stops the walk; an exception thrown by the JVM itself (out
 * of memory) stays pending and stops it too.
 */
#ifndef COHORT_JNI_H
#define COHORT_JNI_H

#include <jni.h>
#include <stdint.h>

#include <cohort.h>

/* Classes and methods looked up once, in JNI_OnLoad. */
struct cj_ids {
	jclass exception;	/* org.cohort.CohortException */
	jmethodID exception_new; /* (I[B)V */
	jclass record_sink;	/* org.cohort.Journal$RecordSink */
	jmethodID record;	/* (JJ[B[B[B)Z */
	jclass package_sink;	/* org.cohort.Store$PackageSink */
	jmethodID package;	/* ([B[B[BZ[BJJ[BJ[[B)V */
	jclass status_sink;	/* org.cohort.Cluster$StatusSink */
	jmethodID status_node;	/* ([BIZJIJJJ)V */
	jmethodID status_done;	/* (JJZ[B)V */
	jclass node_sink;	/* org.cohort.Node$NodeSink */
	jmethodID node_materialized; /* ([BI[BJJJJ)V */
	jmethodID node_mode;	/* (Z[B)V */
	jclass bytes_class;	/* [B */
};
extern struct cj_ids cj;

/* Throw CohortException(rc, cohort_error_last()). */
void cj_throw(JNIEnv *env, int rc);
/* Throw CohortException(rc, msg). */
void cj_throw_msg(JNIEnv *env, int rc, const char *msg);
/* Throw a java.lang exception by class name ("java/lang/...") with msg. */
void cj_throw_java(JNIEnv *env, const char *cls, const char *msg);
/*
 * A handle from Java, or NULL with IllegalStateException pending when it
 * is 0 ('what' names it: "journal").
 */
void *cj_handle(JNIEnv *env, jlong h, const char *what);

/*
 * '*out' gets a NUL-terminated copy of 'b' (malloc'd, the caller frees),
 * or NULL when 'b' is null.  Returns 0, or -1 with OutOfMemoryError
 * pending.
 */
int cj_str(JNIEnv *env, jbyteArray b, char **out);
/* The same, but a null 'b' throws NullPointerException naming 'what'. */
int cj_str_req(JNIEnv *env, jbyteArray b, const char *what, char **out);
/* A new byte[] holding 's' (NULL for a NULL 's'); NULL with an exception
 * pending when the JVM is out of memory. */
jbyteArray cj_bytes(JNIEnv *env, const char *s);
jbyteArray cj_bytes_n(JNIEnv *env, const void *p, size_t n);

/* Call sink.record(...) for 'r'; 0 to go on, 1 to stop. */
int cj_record_to(JNIEnv *env, jobject sink, const cohort_record *r);
/* Call sink.pkg(...) for 'p'; 0, or -1 with an exception pending. */
int cj_package_to(JNIEnv *env, jobject sink, const cohort_package *p);

#endif
