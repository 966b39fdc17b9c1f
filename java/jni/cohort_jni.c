/*
 * java/jni/cohort_jni.c - the native half's shared parts: class lookups at
 * load time, exceptions, strings and the sinks (see cohort_jni.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cohort_jni.h"

struct cj_ids cj;

static jclass global_class(JNIEnv *env, const char *name)
{
	jclass local = (*env)->FindClass(env, name), global;

	if (!local)
		return NULL;
	global = (*env)->NewGlobalRef(env, local);
	(*env)->DeleteLocalRef(env, local);
	return global;
}

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved)
{
	JNIEnv *env;

	(void)reserved;
	if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) != JNI_OK)
		return JNI_ERR;
	if (!(cj.exception = global_class(env, "org/cohort/CohortException")) ||
	    !(cj.exception_new = (*env)->GetMethodID(env, cj.exception,
						     "<init>", "(I[B)V")) ||
	    !(cj.record_sink = global_class(env, "org/cohort/Journal$RecordSink")) ||
	    !(cj.record = (*env)->GetMethodID(env, cj.record_sink, "record",
					      "(JJ[B[B[B)Z")) ||
	    !(cj.package_sink = global_class(env, "org/cohort/Store$PackageSink")) ||
	    !(cj.package = (*env)->GetMethodID(env, cj.package_sink, "pkg",
					       "([B[B[BZ[BJJ[BJ[[B)V")) ||
	    !(cj.status_sink = global_class(env, "org/cohort/Cluster$StatusSink")) ||
	    !(cj.status_node = (*env)->GetMethodID(env, cj.status_sink, "node",
						   "([BIZJIJJJ)V")) ||
	    !(cj.status_done = (*env)->GetMethodID(env, cj.status_sink, "done",
						   "(JJZ[B)V")) ||
	    !(cj.node_sink = global_class(env, "org/cohort/Node$NodeSink")) ||
	    !(cj.node_materialized = (*env)->GetMethodID(env, cj.node_sink,
			"materialized", "([BI[BJJJJ)V")) ||
	    !(cj.node_mode = (*env)->GetMethodID(env, cj.node_sink, "mode",
						 "(Z[B)V")) ||
	    !(cj.bytes_class = global_class(env, "[B")))
		return JNI_ERR;
	return JNI_VERSION_1_8;
}

void cj_throw_msg(JNIEnv *env, int rc, const char *msg)
{
	jbyteArray m;
	jobject e;

	if ((*env)->ExceptionCheck(env))
		return;
	if (!(m = cj_bytes(env, msg)))
		return;
	e = (*env)->NewObject(env, cj.exception, cj.exception_new, (jint)rc, m);
	if (e)
		(*env)->Throw(env, (jthrowable)e);
	(*env)->DeleteLocalRef(env, m);
	if (e)
		(*env)->DeleteLocalRef(env, e);
}

void cj_throw(JNIEnv *env, int rc)
{
	cj_throw_msg(env, rc, cohort_error_last());
}

void cj_throw_java(JNIEnv *env, const char *cls, const char *msg)
{
	jclass c;

	if ((*env)->ExceptionCheck(env))
		return;
	if ((c = (*env)->FindClass(env, cls))) {
		(*env)->ThrowNew(env, c, msg);
		(*env)->DeleteLocalRef(env, c);
	}
}

void *cj_handle(JNIEnv *env, jlong h, const char *what)
{
	char msg[128];

	if (h)
		return (void *)(intptr_t)h;
	snprintf(msg, sizeof(msg), "cohort: the %s handle is closed", what);
	cj_throw_java(env, "java/lang/IllegalStateException", msg);
	return NULL;
}

int cj_str(JNIEnv *env, jbyteArray b, char **out)
{
	jsize n;

	*out = NULL;
	if (!b)
		return 0;
	n = (*env)->GetArrayLength(env, b);
	if (!(*out = malloc((size_t)n + 1))) {
		cj_throw_java(env, "java/lang/OutOfMemoryError",
			      "cohort: out of memory copying a string");
		return -1;
	}
	(*env)->GetByteArrayRegion(env, b, 0, n, (jbyte *)*out);
	(*out)[n] = '\0';
	return 0;
}

int cj_str_req(JNIEnv *env, jbyteArray b, const char *what, char **out)
{
	char msg[128];

	*out = NULL;
	if (!b) {
		snprintf(msg, sizeof(msg), "cohort: %s is null", what);
		cj_throw_java(env, "java/lang/NullPointerException", msg);
		return -1;
	}
	return cj_str(env, b, out);
}

jbyteArray cj_bytes_n(JNIEnv *env, const void *p, size_t n)
{
	jbyteArray b;

	if (n > INT32_MAX) {
		cj_throw_java(env, "java/lang/OutOfMemoryError",
			      "cohort: more than 2 GiB for one byte[]");
		return NULL;
	}
	if (!(b = (*env)->NewByteArray(env, (jsize)n)))
		return NULL;
	if (n)
		(*env)->SetByteArrayRegion(env, b, 0, (jsize)n,
					   (const jbyte *)p);
	return b;
}

jbyteArray cj_bytes(JNIEnv *env, const char *s)
{
	return s ? cj_bytes_n(env, s, strlen(s)) : NULL;
}

int cj_record_to(JNIEnv *env, jobject sink, const cohort_record *r)
{
	jbyteArray node, type, data;
	jboolean go_on = JNI_FALSE;

	if ((*env)->PushLocalFrame(env, 4) < 0)
		return 1;
	if ((node = cj_bytes(env, r->node ? r->node : "")) &&
	    (type = cj_bytes(env, r->type ? r->type : "")) &&
	    (data = cj_bytes_n(env, r->data, r->len)))
		go_on = (*env)->CallBooleanMethod(env, sink, cj.record,
						  (jlong)r->rev,
						  (jlong)r->time_ms, node,
						  type, data);
	if ((*env)->ExceptionCheck(env))
		go_on = JNI_FALSE;
	(*env)->PopLocalFrame(env, NULL);
	return go_on ? 0 : 1;
}

int cj_package_to(JNIEnv *env, jobject sink, const cohort_package *p)
{
	jbyteArray id, version, ns, hash, ext, dep;
	jobjectArray deps;
	size_t i;
	int rc = -1;

	if (p->ndeps > INT32_MAX - 16 ||
	    (*env)->PushLocalFrame(env, 8) < 0)
		return -1;
	if (!(id = cj_bytes(env, p->id)) ||
	    !(version = cj_bytes(env, p->version)) ||
	    !(ns = cj_bytes(env, p->ns)) ||
	    !(hash = cj_bytes(env, p->hash)) ||
	    !(ext = cj_bytes(env, p->ext)) ||
	    !(deps = (*env)->NewObjectArray(env, (jsize)p->ndeps,
					    cj.bytes_class, NULL)))
		goto out;
	for (i = 0; i < p->ndeps; i++) {
		if (!(dep = cj_bytes(env, p->deps[i] ? p->deps[i] : "")))
			goto out;
		(*env)->SetObjectArrayElement(env, deps, (jsize)i, dep);
		(*env)->DeleteLocalRef(env, dep);
	}
	(*env)->CallVoidMethod(env, sink, cj.package, id, version, ns,
			       p->dependency ? JNI_TRUE : JNI_FALSE, hash,
			       (jlong)p->size, (jlong)p->installed_ms, ext,
			       (jlong)p->rev, deps);
	if (!(*env)->ExceptionCheck(env))
		rc = 0;
out:
	(*env)->PopLocalFrame(env, NULL);
	return rc;
}
