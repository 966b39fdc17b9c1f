/*
 * cohort - the extension store commands: install, uninstall, list,
 * materialize, cat.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* ---- extension store ---------------------------------------------------- */

static const char install_help[] =
	"usage: cohort install [--namespace NS] [--dependency] [--force]\n"
	"                      [--id ID --version V] FILE\n"
	"Validate the package FILE (jar, zip, xar, tar, tar.gz/bz2/xz: every\n"
	"entry is read; damaged or hostile packages are refused with the\n"
	"reason), store its content once by hash and mark it installed; prints\n"
	"'ID VERSION'.  Id, version and dependencies come from the package's own\n"
	"metadata (META-INF/extension.xed, package.xml, META-INF/rhq-plugin.xml,\n"
	"META-INF/MANIFEST.MF) unless --id/--version are given.  Installing\n"
	"another version of an installed id upgrades it.\n"
	"  --namespace NS  install into NS (default: the root namespace, which\n"
	"                  applies to every namespace)\n"
	"  --dependency    mark it installed as a dependency\n"
	"  --force         install even if its dependencies are not installed\n";

int cmd_install(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "namespace", required_argument, NULL, 'N' },
		{ "dependency", no_argument, NULL, 'd' },
		{ "force", no_argument, NULL, 'f' },
		{ "id", required_argument, NULL, 'i' },
		{ "version", required_argument, NULL, 'v' }, { 0, 0, 0, 0 } };
	cohort_install_options io = COHORT_INSTALL_OPTIONS_INIT;
	cohort_cluster *c = NULL;
	cohort_store *st = NULL;
	cohort_package p;
	int ch, rc;

	memset(&p, 0, sizeof(p));
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(install_help, stdout); return 0;
		case 'N': io.ns = optarg; break;
		case 'd': io.dependency = 1; break;
		case 'f': io.force = 1; break;
		case 'i': io.id = optarg; break;
		case 'v': io.pkg_version = optarg; break;
		default: return usage_error("install", "bad option");
		}
	}
	if (argc - optind != 1)
		return usage_error("install", "give one package FILE");
	if ((rc = bad_name("install", COHORT_NAME_NAMESPACE, io.ns)) ||
	    (rc = bad_name("install", COHORT_NAME_PACKAGE, io.id)) ||
	    (rc = bad_name("install", COHORT_NAME_VERSION, io.pkg_version)))
		return rc;
	if ((rc = refuse_if_readonly()))
		return rc;
	if ((rc = open_cluster(&c, 1)))
		return rc;
	rc = cohort_store_open(&st, c);
	if (!rc)
		rc = cohort_store_install(st, argv[optind], &io, &p);
	if (rc)
		rc = fail_lib(rc);
	else
		printf("%s %s\n", p.id, p.version);
	cohort_package_clear(&p);
	warn_store_lost(st);
	cohort_store_close(st);
	cohort_cluster_close(c);
	return rc;
}

static const char uninstall_help[] =
	"usage: cohort uninstall [--namespace NS] [--force] ID\n"
	"Mark the package ID uninstalled (in NS, or the root namespace).\n"
	"Refused while another installed package depends on it, unless --force.\n";

int cmd_uninstall(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "namespace", required_argument, NULL, 'N' },
		{ "force", no_argument, NULL, 'f' }, { 0, 0, 0, 0 } };
	cohort_cluster *c = NULL;
	cohort_store *st = NULL;
	const char *ns = NULL;
	int ch, rc, force = 0;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(uninstall_help, stdout); return 0;
		case 'N': ns = optarg; break;
		case 'f': force = 1; break;
		default: return usage_error("uninstall", "bad option");
		}
	}
	if (argc - optind != 1)
		return usage_error("uninstall", "give one package ID");
	if ((rc = bad_name("uninstall", COHORT_NAME_NAMESPACE, ns)) ||
	    (rc = bad_name("uninstall", COHORT_NAME_PACKAGE, argv[optind])))
		return rc;
	if ((rc = refuse_if_readonly()))
		return rc;
	if ((rc = open_cluster(&c, 1)))
		return rc;
	rc = cohort_store_open(&st, c);
	if (!rc)
		rc = cohort_store_uninstall(st, ns, argv[optind], force);
	if (rc)
		rc = fail_lib(rc);
	else
		printf("uninstalled %s\n", argv[optind]);
	warn_store_lost(st);
	cohort_store_close(st);
	cohort_cluster_close(c);
	return rc;
}

static const char list_help[] =
	"usage: cohort list [--namespace NS] [--json]\n"
	"Installed packages: all of them, or with --namespace those of NS and\n"
	"of the root namespace.  'NAMESPACE ID VERSION [dependency]', or JSON\n"
	"Lines with id, version, namespace (null: root), dependency, hash, size,\n"
	"installed.\n";

int cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "namespace", required_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'j' }, { 0, 0, 0, 0 } };
	cohort_cluster *c = NULL;
	cohort_store *st = NULL;
	cohort_package *v = NULL;
	const char *ns = NULL;
	size_t n = 0, i;
	int ch, rc, json = 0;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(list_help, stdout); return 0;
		case 'N': ns = optarg; break;
		case 'j': json = 1; break;
		default: return usage_error("list", "bad option");
		}
	}
	if (optind != argc)
		return usage_error("list", "unexpected argument '%s'", argv[optind]);
	if ((rc = bad_name("list", COHORT_NAME_NAMESPACE, ns)))
		return rc;
	if ((rc = open_cluster(&c, 0)))
		return rc;
	rc = cohort_store_open(&st, c);
	if (!rc)
		rc = cohort_store_list(st, ns, &v, &n);
	if (rc) {
		rc = fail_lib(rc);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (json) {
			json_object *o = json_object_new_object();
			char when[32];

			fmt_time(when, v[i].installed_ms);
			json_object_object_add(o, "id", json_object_new_string(v[i].id));
			json_object_object_add(o, "version", json_object_new_string(v[i].version));
			json_object_object_add(o, "namespace", v[i].ns[0] ?
					       json_object_new_string(v[i].ns) : NULL);
			json_object_object_add(o, "dependency", json_object_new_boolean(v[i].dependency));
			json_object_object_add(o, "hash", json_object_new_string(v[i].hash));
			json_object_object_add(o, "size", json_object_new_int64((int64_t)v[i].size));
			json_object_object_add(o, "installed", json_object_new_string(when));
			print_json(o);
		} else {
			printf("%-16s %s %s%s\n", v[i].ns[0] ? v[i].ns : "(root)",
			       v[i].id, v[i].version,
			       v[i].dependency ? " dependency" : "");
		}
	}
out:
	cohort_package_list_free(v, n);
	warn_store_lost(st);
	cohort_store_close(st);
	cohort_cluster_close(c);
	return rc;
}

static const char materialize_help[] =
	"usage: cohort materialize DIR [--namespace NS]\n"
	"Make DIR hold exactly the installed packages (with --namespace, those\n"
	"of NS and of the root namespace), each as ID-VERSION.EXT, verified\n"
	"against its hash, writing only what changed; files it did not place\n"
	"are left alone.  Prints 'N added, N updated, N removed, N unchanged'.\n";

int cmd_materialize(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "namespace", required_argument, NULL, 'N' },
		{ 0, 0, 0, 0 } };
	cohort_materialize_stats ms;
	cohort_cluster *c = NULL;
	cohort_store *st = NULL;
	const char *ns = NULL;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(materialize_help, stdout); return 0;
		case 'N': ns = optarg; break;
		default: return usage_error("materialize", "bad option");
		}
	}
	if (argc - optind != 1)
		return usage_error("materialize", "give one folder DIR");
	if ((rc = bad_name("materialize", COHORT_NAME_NAMESPACE, ns)))
		return rc;
	if ((rc = open_cluster(&c, 0)))
		return rc;
	rc = cohort_store_open(&st, c);
	if (!rc)
		rc = cohort_store_materialize(st, argv[optind], ns, &ms);
	if (rc)
		rc = fail_lib(rc);
	else
		printf("%lu added, %lu updated, %lu removed, %lu unchanged\n",
		       ms.added, ms.updated, ms.removed, ms.unchanged);
	warn_store_lost(st);
	cohort_store_close(st);
	cohort_cluster_close(c);
	return rc;
}

static const char cat_help[] =
	"usage: cohort cat ID [--version V] [--namespace NS] [--offset N]\n"
	"                  [--length N]\n"
	"Write the package's bytes (or the range from --offset, --length bytes)\n"
	"to standard output, after verifying the whole content against its\n"
	"hash: a damaged package gives an error and no bytes.\n";

int cmd_cat(int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT, { "version", required_argument, NULL, 'v' },
		{ "namespace", required_argument, NULL, 'N' },
		{ "offset", required_argument, NULL, 'o' },
		{ "length", required_argument, NULL, 'l' }, { 0, 0, 0, 0 } };
	cohort_cluster *c = NULL;
	cohort_store *st = NULL;
	const char *version = NULL, *ns = NULL;
	uint64_t offset = 0, length = 0;
	cohort_package p;
	int ch, rc;

	memset(&p, 0, sizeof(p));
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': fputs(cat_help, stdout); return 0;
		case 'v': version = optarg; break;
		case 'N': ns = optarg; break;
		case 'o':
			if (parse_u64(&offset, optarg))
				return usage_error("cat", "--offset takes a byte "
						   "count, not '%s'", optarg);
			break;
		case 'l':
			if (parse_u64(&length, optarg) || length == 0)
				return usage_error("cat", "--length takes a byte "
						   "count above 0, not '%s'", optarg);
			break;
		default: return usage_error("cat", "bad option");
		}
	}
	if (argc - optind != 1)
		return usage_error("cat", "give one package ID");
	if ((rc = bad_name("cat", COHORT_NAME_PACKAGE, argv[optind])) ||
	    (rc = bad_name("cat", COHORT_NAME_VERSION, version)) ||
	    (rc = bad_name("cat", COHORT_NAME_NAMESPACE, ns)))
		return rc;
	if ((rc = open_cluster(&c, 0)))
		return rc;
	signal(SIGPIPE, SIG_IGN);
	rc = cohort_store_open(&st, c);
	if (!rc)
		rc = cohort_store_find(st, ns, argv[optind], version, &p);
	if (!rc)
		rc = cohort_store_cat(st, &p, offset, length, STDOUT_FILENO);
	if (rc)
		rc = fail_lib(rc);
	cohort_package_clear(&p);
	warn_store_lost(st);
	cohort_store_close(st);
	cohort_cluster_close(c);
	return rc;
}
