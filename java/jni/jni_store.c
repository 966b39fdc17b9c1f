/*
 * java/jni/jni_store.c - native methods of org.cohort.Store.
 *
 * Packages reach Java through Store.PackageSink.pkg(), one call each.
 * A package's bytes reach an InputStream through a file: nCat verifies
 * the whole blob and writes the range into the (already unlinked-to-be)
 * temporary file Java created, so a stream never delivers a byte of a
 * damaged package and never holds the store handle while the
 * application reads at its own pace.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cohort_jni.h"
#include "org_cohort_Store.h"

#define STORE(h, fail)                                                 \
	cohort_store *s = cj_handle(env, (h), "store");                \
	if (!s)                                                        \
		return fail

JNIEXPORT jlong JNICALL
Java_org_cohort_Store_nOpen(JNIEnv *env, jclass cls, jlong hc)
{
	cohort_cluster *c = cj_handle(env, hc, "cluster");
	cohort_store *s = NULL;
	int rc;

	(void)cls;
	if (!c)
		return 0;
	if ((rc = cohort_store_open(&s, c)) < 0) {
		s = NULL;
		cj_throw(env, rc);
	}
	return (jlong)(intptr_t)s;
}

JNIEXPORT void JNICALL
Java_org_cohort_Store_nClose(JNIEnv *env, jclass cls, jlong h)
{
	(void)env;
	(void)cls;
	cohort_store_close((cohort_store *)(intptr_t)h);
}

JNIEXPORT void JNICALL
Java_org_cohort_Store_nInstall(JNIEnv *env, jclass cls, jlong h,
			       jbyteArray jpath, jbyteArray jns,
			       jboolean dependency, jbyteArray jid,
			       jbyteArray jversion, jboolean force,
			       jbyteArray jname, jobject sink)
{
	cohort_install_options o = COHORT_INSTALL_OPTIONS_INIT;
	cohort_package p;
	char *path = NULL, *ns = NULL, *id = NULL, *version = NULL,
	     *name = NULL;
	int rc;
	STORE(h, );

	(void)cls;
	memset(&p, 0, sizeof(p));
	if (cj_str_req(env, jpath, "path", &path) || cj_str(env, jns, &ns) ||
	    cj_str(env, jid, &id) || cj_str(env, jversion, &version) ||
	    cj_str(env, jname, &name))
		goto out;
	o.ns = ns;
	o.dependency = dependency ? 1 : 0;
	o.id = id;
	o.pkg_version = version;
	o.force = force ? 1 : 0;
	o.name = name;
	if ((rc = cohort_store_install(s, path, &o, &p)) < 0) {
		cj_throw(env, rc);
		goto out;
	}
	(void)cj_package_to(env, sink, &p);
	cohort_package_clear(&p);
out:
	free(path);
	free(ns);
	free(id);
	free(version);
	free(name);
}

JNIEXPORT void JNICALL
Java_org_cohort_Store_nUninstall(JNIEnv *env, jclass cls, jlong h,
				 jbyteArray jns, jbyteArray jid, jboolean force)
{
	char *ns = NULL, *id = NULL;
	int rc;
	STORE(h, );

	(void)cls;
	if (!cj_str(env, jns, &ns) && !cj_str_req(env, jid, "id", &id) &&
	    (rc = cohort_store_uninstall(s, ns, id, force ? 1 : 0)) < 0)
		cj_throw(env, rc);
	free(ns);
	free(id);
}

JNIEXPORT void JNICALL
Java_org_cohort_Store_nList(JNIEnv *env, jclass cls, jlong h, jbyteArray jns,
			    jobject sink)
{
	cohort_package *v = NULL;
	size_t n = 0, i;
	char *ns = NULL;
	int rc;
	STORE(h, );

	(void)cls;
	if (cj_str(env, jns, &ns))
		return;
	if ((rc = cohort_store_list(s, ns, &v, &n)) < 0)
		cj_throw(env, rc);
	for (i = 0; rc >= 0 && i < n; i++)
		if (cj_package_to(env, sink, &v[i]))
			break;
	cohort_package_list_free(v, n);
	free(ns);
}

/* find (and, with an output path, cat) share their arguments. */
struct pkg_args {
	char *ns, *id, *version;
};

static int pkg_args(JNIEnv *env, struct pkg_args *a, jbyteArray jns,
		    jbyteArray jid, jbyteArray jversion)
{
	memset(a, 0, sizeof(*a));
	return cj_str(env, jns, &a->ns) || cj_str_req(env, jid, "id", &a->id) ||
	       cj_str(env, jversion, &a->version) ? -1 : 0;
}

static void pkg_args_free(struct pkg_args *a)
{
	free(a->ns);
	free(a->id);
	free(a->version);
}

JNIEXPORT void JNICALL
Java_org_cohort_Store_nFind(JNIEnv *env, jclass cls, jlong h, jbyteArray jns,
			    jbyteArray jid, jbyteArray jversion, jobject sink)
{
	struct pkg_args a;
	cohort_package p;
	int rc;
	STORE(h, );

	(void)cls;
	memset(&p, 0, sizeof(p));
	if (pkg_args(env, &a, jns, jid, jversion))
		goto out;
	if ((rc = cohort_store_find(s, a.ns, a.id, a.version, &p)) < 0) {
		cj_throw(env, rc);
		goto out;
	}
	(void)cj_package_to(env, sink, &p);
	cohort_package_clear(&p);
out:
	pkg_args_free(&a);
}

/*
 * Bytes [offset, offset+length) (length 0: to the end) of a package into
 * the file 'jout', which Java created for this (mode 0600) and opens for
 * reading afterwards.
 */
JNIEXPORT void JNICALL
Java_org_cohort_Store_nCat(JNIEnv *env, jclass cls, jlong h, jbyteArray jns,
			   jbyteArray jid, jbyteArray jversion, jlong offset,
			   jlong length, jbyteArray jout)
{
	struct pkg_args a;
	cohort_package p;
	char *out = NULL, msg[512];
	int rc, fd = -1;
	STORE(h, );

	(void)cls;
	memset(&p, 0, sizeof(p));
	if (pkg_args(env, &a, jns, jid, jversion) ||
	    cj_str_req(env, jout, "output file", &out))
		goto out;
	if (offset < 0 || length < 0) {
		cj_throw_msg(env, COHORT_EINVAL,
			     "a negative offset or length");
		goto out;
	}
	if ((rc = cohort_store_find(s, a.ns, a.id, a.version, &p)) < 0) {
		cj_throw(env, rc);
		goto out;
	}
	if ((fd = open(out, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		snprintf(msg, sizeof(msg), "cannot open '%s': %s", out,
			 strerror(errno));
		cj_throw_msg(env, COHORT_ERROR, msg);
		goto out;
	}
	if ((rc = cohort_store_cat(s, &p, (uint64_t)offset, (uint64_t)length,
				   fd)) < 0) {
		cj_throw(env, rc);
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		snprintf(msg, sizeof(msg), "cannot write '%s': %s", out,
			 strerror(errno));
		cj_throw_msg(env, errno == ENOSPC || errno == EDQUOT ?
				 COHORT_ENOSPACE : COHORT_ERROR, msg);
		goto out;
	}
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	cohort_package_clear(&p);
	pkg_args_free(&a);
	free(out);
}

JNIEXPORT jlongArray JNICALL
Java_org_cohort_Store_nMaterialize(JNIEnv *env, jclass cls, jlong h,
				   jbyteArray jdir, jbyteArray jns)
{
	cohort_materialize_stats st;
	char *dir = NULL, *ns = NULL;
	jlongArray out = NULL;
	jlong v[4];
	int rc;
	STORE(h, NULL);

	(void)cls;
	memset(&st, 0, sizeof(st));
	if (cj_str_req(env, jdir, "folder", &dir) || cj_str(env, jns, &ns))
		goto out;
	if ((rc = cohort_store_materialize(s, dir, ns, &st)) < 0) {
		cj_throw(env, rc);
		goto out;
	}
	v[0] = (jlong)st.added;
	v[1] = (jlong)st.updated;
	v[2] = (jlong)st.removed;
	v[3] = (jlong)st.unchanged;
	if ((out = (*env)->NewLongArray(env, 4)))
		(*env)->SetLongArrayRegion(env, out, 0, 4, v);
out:
	free(dir);
	free(ns);
	return out;
}
