/*
 * lazy.h - libarchive and libxml2, loaded when the extension store first
 * needs them, not when a program using libcohort starts.
 *
 * Calling sequence (src/package.c, the only user):
 *
 *	#include <archive.h> ... <libxml/tree.h>
 *	#include "lazy.h"              (after them: the names below become
 *	                                calls through the loaded table)
 *	if ((rc = cohort__lazy_archive()))  before the first archive_* call
 *		return rc;
 *	if ((rc = cohort__lazy_xml()))      before the first xml* call
 *		return rc;
 *
 * Why: linking them made every process load libarchive, libxml2 and what
 * they need (ICU, libstdc++, six compression libraries): 10-15 ms of
 * dynamic linking on each start of the 'cohort' tool, half the time of a
 * whole 'cohort append'.  Only install and package validation use them.
 * Each library is opened once per process (dlopen by its soname, found at
 * build time) and every function is looked up before the first use; a
 * missing library or symbol is a COHORT_ERROR naming it, never a crash.
 */
#ifndef COHORT_LAZY_H
#define COHORT_LAZY_H

#include <archive.h>
#include <archive_entry.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

/* Load libarchive / libxml2 (once; thread-safe): 0 or COHORT_ERROR. */
int cohort__lazy_archive(void);
int cohort__lazy_xml(void);

/* The functions used, X(name) each. */
#define COHORT__LAZY_ARCHIVE(X)                                               \
	X(archive_entry_filetype) X(archive_entry_hardlink)                    \
	X(archive_entry_hardlink_utf8) X(archive_entry_is_encrypted)          \
	X(archive_entry_pathname) X(archive_entry_pathname_utf8)              \
	X(archive_entry_size) X(archive_entry_size_is_set)                     \
	X(archive_entry_symlink) X(archive_entry_symlink_utf8)                 \
	X(archive_errno) X(archive_error_string) X(archive_filter_bytes)       \
	X(archive_filter_code) X(archive_filter_count) X(archive_format)       \
	X(archive_read_data) X(archive_read_free) X(archive_read_new)          \
	X(archive_read_next_header) X(archive_read_open2)                      \
	X(archive_read_support_filter_bzip2)                                   \
	X(archive_read_support_filter_gzip) X(archive_read_support_filter_xz) \
	X(archive_read_support_format_tar)                                     \
	X(archive_read_support_format_zip_streamable) X(archive_set_error)
#define COHORT__LAZY_XML(X)                                                   \
	X(xmlCtxtGetLastError) X(xmlCtxtReadMemory) X(xmlDocGetRootElement)   \
	X(xmlFreeDoc) X(xmlFreeParserCtxt) X(xmlInitParser) X(xmlNewParserCtxt)

#define COHORT__LAZY_FIELD(f) __typeof__(f) *f;
struct cohort__lazy {
	COHORT__LAZY_ARCHIVE(COHORT__LAZY_FIELD)
	COHORT__LAZY_XML(COHORT__LAZY_FIELD)
};
#undef COHORT__LAZY_FIELD
extern struct cohort__lazy cohort__lz;

#ifndef COHORT_LAZY_IMPL
#define archive_entry_filetype (*cohort__lz.archive_entry_filetype)
#define archive_entry_hardlink (*cohort__lz.archive_entry_hardlink)
#define archive_entry_hardlink_utf8 (*cohort__lz.archive_entry_hardlink_utf8)
#define archive_entry_is_encrypted (*cohort__lz.archive_entry_is_encrypted)
#define archive_entry_pathname (*cohort__lz.archive_entry_pathname)
#define archive_entry_pathname_utf8 (*cohort__lz.archive_entry_pathname_utf8)
#define archive_entry_size (*cohort__lz.archive_entry_size)
#define archive_entry_size_is_set (*cohort__lz.archive_entry_size_is_set)
#define archive_entry_symlink (*cohort__lz.archive_entry_symlink)
#define archive_entry_symlink_utf8 (*cohort__lz.archive_entry_symlink_utf8)
#define archive_errno (*cohort__lz.archive_errno)
#define archive_error_string (*cohort__lz.archive_error_string)
#define archive_filter_bytes (*cohort__lz.archive_filter_bytes)
#define archive_filter_code (*cohort__lz.archive_filter_code)
#define archive_filter_count (*cohort__lz.archive_filter_count)
#define archive_format (*cohort__lz.archive_format)
#define archive_read_data (*cohort__lz.archive_read_data)
#define archive_read_free (*cohort__lz.archive_read_free)
#define archive_read_new (*cohort__lz.archive_read_new)
#define archive_read_next_header (*cohort__lz.archive_read_next_header)
#define archive_read_open2 (*cohort__lz.archive_read_open2)
#define archive_read_support_filter_bzip2 (*cohort__lz.archive_read_support_filter_bzip2)
#define archive_read_support_filter_gzip (*cohort__lz.archive_read_support_filter_gzip)
#define archive_read_support_filter_xz (*cohort__lz.archive_read_support_filter_xz)
#define archive_read_support_format_tar (*cohort__lz.archive_read_support_format_tar)
#define archive_read_support_format_zip_streamable (*cohort__lz.archive_read_support_format_zip_streamable)
#define archive_set_error (*cohort__lz.archive_set_error)
#define xmlCtxtGetLastError (*cohort__lz.xmlCtxtGetLastError)
#define xmlCtxtReadMemory (*cohort__lz.xmlCtxtReadMemory)
#define xmlDocGetRootElement (*cohort__lz.xmlDocGetRootElement)
#define xmlFreeDoc (*cohort__lz.xmlFreeDoc)
#define xmlFreeParserCtxt (*cohort__lz.xmlFreeParserCtxt)
#define xmlInitParser (*cohort__lz.xmlInitParser)
#define xmlNewParserCtxt (*cohort__lz.xmlNewParserCtxt)
#endif

#endif
