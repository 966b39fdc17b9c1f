/*
 * java/jni/jni_cluster.c - native methods of org.cohort.Cluster.
 */
#include <stdlib.h>

#include "cohort_jni.h"
#include "org_cohort_Cluster.h"

#define CLUSTER(h, fail)                                               \
	cohort_cluster *c = cj_handle(env, (h), "cluster");            \
	if (!c)                                                        \
		return fail

JNIEXPORT jbyteArray JNICALL
Java_org_cohort_Cluster_nInit(JNIEnv *env, jclass cls, jbyteArray jroot)
{
	char id[COHORT_UUID_LEN + 1], *root = NULL;
	jbyteArray out = NULL;
	int rc;

	(void)cls;
	if (cj_str_req(env, jroot, "root", &root))
		return NULL;
	if ((rc = cohort_cluster_init(id, root)) < 0)
		cj_throw(env, rc);
	else
		out = cj_bytes(env, id);
	free(root);
	return out;
}

JNIEXPORT jlong JNICALL
Java_org_cohort_Cluster_nOpen(JNIEnv *env, jclass cls, jbyteArray jroot,
			      jbyteArray jnode, jbyteArray jstate)
{
	cohort_options o = COHORT_OPTIONS_INIT;
	cohort_cluster *c = NULL;
	char *root = NULL, *node = NULL, *state = NULL;
	int rc;

	(void)cls;
	if (cj_str_req(env, jroot, "root", &root) || cj_str(env, jnode, &node) ||
	    cj_str(env, jstate, &state))
		goto out;
	o.root = root;
	o.node = node;
	o.state = state;
	if ((rc = cohort_cluster_open(&c, &o)) < 0) {
		c = NULL;
		cj_throw(env, rc);
	}
out:
	free(root);
	free(node);
	free(state);
	return (jlong)(intptr_t)c;
}

JNIEXPORT void JNICALL
Java_org_cohort_Cluster_nClose(JNIEnv *env, jclass cls, jlong h)
{
	(void)env;
	(void)cls;
	cohort_cluster_close((cohort_cluster *)(intptr_t)h);
}

/* 0 id, 1 root, 2 node, 3 state (node and state null without a node). */
JNIEXPORT jbyteArray JNICALL
Java_org_cohort_Cluster_nString(JNIEnv *env, jclass cls, jlong h, jint which)
{
	CLUSTER(h, NULL);
	(void)cls;
	switch (which) {
	case 0: return cj_bytes(env, cohort_cluster_id(c));
	case 1: return cj_bytes(env, cohort_cluster_root(c));
	case 2: return cj_bytes(env, cohort_cluster_node(c));
	default: return cj_bytes(env, cohort_cluster_state(c));
	}
}

JNIEXPORT void JNICALL
Java_org_cohort_Cluster_nJoin(JNIEnv *env, jclass cls, jlong h, jint priority,
			      jboolean from_head)
{
	cohort_join_options o = COHORT_JOIN_OPTIONS_INIT;
	int rc;
	CLUSTER(h, );

	(void)cls;
	o.priority = priority;
	o.from_head = from_head ? 1 : 0;
	if ((rc = cohort_node_join(c, &o)) < 0)
		cj_throw(env, rc);
}

JNIEXPORT void JNICALL
Java_org_cohort_Cluster_nLeave(JNIEnv *env, jclass cls, jlong h)
{
	int rc;
	CLUSTER(h, );

	(void)cls;
	if ((rc = cohort_node_leave(c)) < 0)
		cj_throw(env, rc);
}

JNIEXPORT jbyteArray JNICALL
Java_org_cohort_Cluster_nConfig(JNIEnv *env, jclass cls, jlong h,
				jbyteArray jsection, jbyteArray jkey)
{
	char *section = NULL, *key = NULL;
	jbyteArray out = NULL;
	CLUSTER(h, NULL);

	(void)cls;
	if (!cj_str_req(env, jsection, "section", &section) &&
	    !cj_str_req(env, jkey, "key", &key))
		out = cj_bytes(env, cohort_config_get(c, section, key));
	free(section);
	free(key);
	return out;
}

JNIEXPORT jlong JNICALL
Java_org_cohort_Cluster_nConfigInt(JNIEnv *env, jclass cls, jlong h,
				   jbyteArray jsection, jbyteArray jkey)
{
	char *section = NULL, *key = NULL;
	jlong out = 0;
	CLUSTER(h, 0);

	(void)cls;
	if (!cj_str_req(env, jsection, "section", &section) &&
	    !cj_str_req(env, jkey, "key", &key))
		out = (jlong)cohort_config_get_int(c, section, key);
	free(section);
	free(key);
	return out;
}

/*
 * The status as 'cohort status' shows it: each node to sink.node(), then
 * sink.done(tail, head, readonly, reason).
 */
JNIEXPORT void JNICALL
Java_org_cohort_Cluster_nStatus(JNIEnv *env, jclass cls, jlong h, jobject sink)
{
	cohort_journal *j = NULL;
	cohort_node_info *nodes = NULL;
	size_t n = 0, i;
	uint64_t tail = 0, head = 0;
	int rc, ro = 0;
	char reason[1024] = "";
	jbyteArray r;
	CLUSTER(h, );

	(void)cls;
	if ((rc = cohort_journal_open(&j, c)) < 0 ||
	    (rc = cohort_journal_bounds(j, &tail, &head)) < 0 ||
	    (rc = cohort_node_list(&nodes, &n, c)) < 0 ||
	    (cohort_cluster_node(c) &&
	     (rc = cohort_node_mode(c, &ro, reason, sizeof(reason))) < 0)) {
		cj_throw(env, rc);
		goto out;
	}
	for (i = 0; i < n; i++) {
		jbyteArray id = cj_bytes(env, nodes[i].id);

		if (!id)
			goto out;
		(*env)->CallVoidMethod(env, sink, cj.status_node, id,
				       (jint)nodes[i].priority,
				       nodes[i].retired ? JNI_TRUE : JNI_FALSE,
				       (jlong)nodes[i].revision,
				       (jint)nodes[i].revision_rc,
				       (jlong)nodes[i].heartbeat_count,
				       (jlong)nodes[i].heartbeat_age_ms,
				       (jlong)nodes[i].joined_ms);
		(*env)->DeleteLocalRef(env, id);
		if ((*env)->ExceptionCheck(env))
			goto out;
	}
	if (!(r = cj_bytes(env, reason)))
		goto out;
	(*env)->CallVoidMethod(env, sink, cj.status_done, (jlong)tail,
			       (jlong)head, ro ? JNI_TRUE : JNI_FALSE, r);
	(*env)->DeleteLocalRef(env, r);
out:
	free(nodes);
	cohort_journal_close(j);
}

JNIEXPORT jlong JNICALL
Java_org_cohort_Cluster_nNodeRevision(JNIEnv *env, jclass cls, jlong h,
				      jbyteArray jnode)
{
	char *node = NULL;
	uint64_t rev = 0;
	int rc;
	CLUSTER(h, 0);

	(void)cls;
	if (cj_str_req(env, jnode, "node", &node))
		return 0;
	if ((rc = cohort_journal_node_revision(c, node, &rev)) < 0)
		cj_throw(env, rc);
	free(node);
	return (jlong)rev;
}
