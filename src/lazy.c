/*
 * lazy.c - loading libarchive and libxml2 on first use (see lazy.h).
 */
#define _GNU_SOURCE 1
#define COHORT_LAZY_IMPL 1
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "lazy.h"

#ifndef COHORT_LIBARCHIVE_SONAME
#define COHORT_LIBARCHIVE_SONAME "libarchive.so.13"
#endif
#ifndef COHORT_LIBXML2_SONAME
#define COHORT_LIBXML2_SONAME "libxml2.so.2"
#endif

struct cohort__lazy cohort__lz;

struct lib {
	pthread_once_t once;
	const char *soname, *package;
	int ok;
	char why[512];
};

static struct lib archive_lib = { PTHREAD_ONCE_INIT, COHORT_LIBARCHIVE_SONAME,
				  "libarchive13", 0, "" };
static struct lib xml_lib = { PTHREAD_ONCE_INIT, COHORT_LIBXML2_SONAME,
			      "libxml2", 0, "" };

/*
 * Open 'l' and look up each of the 'n' names; only when all are found are
 * they stored into their slots (so a table is whole or untouched), and
 * l->ok is set; else l->why says what is missing.
 */
static void load(struct lib *l, const char *const *names, void **slots[],
		 size_t n)
{
	void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL), *found[64];
	size_t i;

	if (!h) {
		snprintf(l->why, sizeof(l->why), "cannot load '%s' (install the "
			 "Debian package %s): %s", l->soname, l->package,
			 dlerror());
		return;
	}
	for (i = 0; i < n && i < sizeof(found) / sizeof(found[0]); i++) {
		found[i] = dlsym(h, names[i]);
		if (!found[i]) {
			snprintf(l->why, sizeof(l->why), "'%s' has no '%s': a "
				 "different version than cohort was built for",
				 l->soname, names[i]);
			return; /* stays loaded: dlclose would gain nothing */
		}
	}
	/* A data pointer into a function pointer: what POSIX dlsym means. */
	for (i = 0; i < n; i++)
		memcpy(slots[i], &found[i], sizeof(void *));
	l->ok = 1;
}

#define NAME(f) #f,
#define SLOT(f) (void *)&cohort__lz.f,
#define COUNT(names) (sizeof(names) / sizeof((names)[0]))
static void load_archive(void)
{
	static const char *const names[] = { COHORT__LAZY_ARCHIVE(NAME) };
	void **slots[] = { COHORT__LAZY_ARCHIVE(SLOT) };

	load(&archive_lib, names, slots, COUNT(names));
}

static void load_xml(void)
{
	static const char *const names[] = { COHORT__LAZY_XML(NAME) };
	void **slots[] = { COHORT__LAZY_XML(SLOT) };

	load(&xml_lib, names, slots, COUNT(names));
}
#undef NAME
#undef SLOT
#undef COUNT

static int loaded(struct lib *l)
{
	if (l->ok)
		return 0;
	return cohort__error(COHORT_ERROR, "%s", l->why);
}

int cohort__lazy_archive(void)
{
	pthread_once(&archive_lib.once, load_archive);
	return loaded(&archive_lib);
}

int cohort__lazy_xml(void)
{
	pthread_once(&xml_lib.once, load_xml);
	return loaded(&xml_lib);
}
