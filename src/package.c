/*
 * package.c - reading a package (jar, zip, xar, tar, tar.gz/bz2/xz) in one
 * pass: every entry checked and read, hostile content refused, id, version
 * and dependencies taken from the package's own metadata.
 *
 * The pass.  libarchive pulls the file through read_cb(), which reads it
 * in 1 MiB chunks with cohort__os_read_full() and gives each chunk to the
 * caller's sink before libarchive sees it.  There is no skip or seek
 * callback, so no byte can go around the sink, and the zip reader is the
 * streaming one (local headers, in file order).  Every entry's data is read
 * in full into a scratch buffer: that is what finds CRC damage and
 * truncation.  After libarchive's end of archive the rest of the file is
 * read through the sink too, so the sink sees every byte exactly once.
 *
 * Why zip gets a second look.  libarchive's streaming reader goes by the
 * local headers; Java (XWiki, RHQ) goes by the central directory at the
 * end.  A zip whose two disagree would be checked under one set of names
 * and used under another (a benign local "a.txt", a central "../../x"; or
 * a manifest we read and another that Java reads).  So the central
 * directory is parsed here from the bytes after libarchive's end, and must
 * list exactly the local headers libarchive read (same offsets, names,
 * methods and sizes), be found where its end record says, and end the
 * file.  Each local header is found again in the two retained chunks from
 * the reader's position after it (header, name and extra fields must end
 * exactly there).
 *
 * Paths and links.  No entry may have an absolute path (also "\\x",
 * "C:x") or a ".." component ('\\' separates too).  A symlink's target
 * may have ".." only at its start, no more of them than the link's folder
 * is deep ("a/../.." is judged by names but resolved through whatever "a"
 * is).  Nothing may go through a symlink: neither an entry "l/x" after a
 * symlink "l", nor a hard link to or through one.  A zip keeps the Unix
 * mode, so whether an entry is a symlink, in the central directory only:
 * each entry's short data is judged as a target while it is read, and the
 * verdict used if the central directory says symlink.  Devices, sockets
 * and encrypted entries are refused; so is a header libarchive warns about
 * (part of it ignored: another reader may not ignore it).
 *
 * Expansion.  A metadata entry may not expand more than COHORT__META_RATIO
 * times the bytes libarchive's format reader consumed for it.  In a zip
 * that is the entry's own compressed bytes.  A compressed tar compresses
 * the stream, not the entry, and a bzip2 or xz decoder may produce an
 * entry's bytes from input it consumed for an earlier one, so there the
 * ratio is measured on the tar stream (1 at most), and the guard against a
 * bzip2/xz bomb is the package-wide one: once the data read passes
 * COHORT__PKG_RATIO_FLOOR it may not exceed COHORT__PKG_RATIO times the
 * file bytes consumed.
 *
 * XML.  libxml2, from memory, with XML_PARSE_NONET|NOERROR|NOWARNING and
 * never NOENT, DTDLOAD or DTDVALID: no external entity is fetched and no
 * entity is substituted.  A document with a DOCTYPE is refused outright
 * (no package descriptor has one, and an internal subset is where entity
 * tricks live).  Elements are matched on their local names, so a default
 * namespace (xmlns="urn:xmlns:rhq-plugin") changes nothing.
 */
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "lazy.h" /* libarchive and libxml2, loaded on first use */
#include "name.h"
#include "os/os.h"
#include "package.h"

#define CHUNK (1u << 20)    /* read size; two chunks are kept */
#define SCRATCH (64u << 10) /* archive_read_data() buffer */
#define DEPS_MAX 4096
#define CD_MAX (64u << 20) /* largest zip central directory (and end) */
/* A zip local header with its name, extra field and (symlink) body. */
#define LOC_SPAN (30u + 3u * 65535u)
#define SHOW_MAX 160 /* longest entry name quoted in a message */
#define TARGET_MAX 4095 /* longest zip symlink target looked at */

enum meta_kind { META_XED, META_PKGXML, META_RHQ, META_MANIFEST, META_COUNT };

static const char *const meta_path[META_COUNT] = {
	"META-INF/extension.xed",
	"package.xml",
	"META-INF/rhq-plugin.xml",
	"META-INF/MANIFEST.MF",
};

struct buf {
	unsigned char *p;
	size_t len, cap;
};

/* A zip local header as found in the stream. */
struct local {
	uint64_t off;
	char *name; /* raw bytes, NUL added */
	size_t nlen;
	uint16_t flags, method;
	uint32_t crc;
	uint64_t produced; /* data bytes libarchive gave for it */
	char *target;	   /* its data, if short and, as a symlink's
			    * target, leaving the package */
	int matched;	   /* a central directory record names it */
};

struct insp {
	int fd;
	const char *name;
	cohort__pkg_sink sink;
	void *arg;
	/* the last two chunks read, chunk[cur] the newer */
	unsigned char *chunk[2];
	uint64_t chunk_off[2];
	size_t chunk_len[2];
	int cur;
	uint64_t total; /* bytes read from fd */
	int eof;
	int rc; /* error of a read or of the sink, seen inside libarchive */

	struct archive *a;
	int zip;
	unsigned char *scratch;
	struct buf meta[META_COUNT];
	int have[META_COUNT];
	char **links;		     /* canonical paths of symlinks, sorted */
	size_t nlinks, links_cap;
	struct local *locals;
	size_t nlocals, locals_cap;
	uint64_t produced_total;
	size_t ncomp; /* components of the current entry's path */
	/* the start of the current entry's data: the target, should the
	 * zip central directory say the entry is a symlink */
	char head[TARGET_MAX + 1];
	struct buf path, path2;
};

/* ---- small helpers ------------------------------------------------------ */

static int oom(void)
{
	return cohort__error(COHORT_ERROR, "out of memory");
}

static int buf_reserve(struct buf *b, size_t more)
{
	size_t cap;
	unsigned char *p;

	if (more <= b->cap - b->len)
		return 0;
	if (more > SIZE_MAX / 2 - b->len)
		return oom();
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return oom();
	b->p = p;
	b->cap = cap;
	return 0;
}

static int buf_add(struct buf *b, const void *d, size_t n)
{
	int rc = buf_reserve(b, n + 1);

	if (rc)
		return rc;
	if (n)
		memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static int ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int ascii_casecmp(const char *a, const char *b)
{
	while (*a && ascii_lower((unsigned char)*a) == ascii_lower((unsigned char)*b)) {
		a++;
		b++;
	}
	return ascii_lower((unsigned char)*a) - ascii_lower((unsigned char)*b);
}

static int ascii_alpha(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* 's' (first 'n' bytes) fit for a message: control bytes as '?', long
 * names cut with "...". */
static const char *show(char *out, size_t size, const char *s, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n && k + 4 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		out[k++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (i < n) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
	return out;
}

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | ((uint64_t)le32(p + 4) << 32);
}

static int sig(const unsigned char *p, int a, int b)
{
	return p[0] == 'P' && p[1] == 'K' && p[2] == a && p[3] == b;
}

/* ---- names -------------------------------------------------------------- */

/* cohort__pkg_name_valid() is in name.c, with every other name rule. */

void cohort__pkg_meta_free(struct cohort__pkg_meta *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->ndeps; i++)
		free(m->deps[i]);
	free(m->deps);
	m->deps = NULL;
	m->ndeps = 0;
}

static int add_dep(struct cohort__pkg_meta *m, const char *id, const char *what)
{
	char **d;
	size_t i;

	for (i = 0; i < m->ndeps; i++)
		if (!strcmp(m->deps[i], id))
			return 0;
	if (m->ndeps >= DEPS_MAX)
		return cohort__error(COHORT_EINVAL,
				     "'%s' lists more than %d dependencies",
				     what, DEPS_MAX);
	d = realloc(m->deps, (m->ndeps + 1) * sizeof(*d));
	if (!d)
		return oom();
	m->deps = d;
	d[m->ndeps] = strdup(id);
	if (!d[m->ndeps])
		return oom();
	m->ndeps++;
	return 0;
}

/* Copy 'n' bytes of 'v' into a field of 'size'; EINVAL if too long. */
static int set_field(char *field, size_t size, const char *v, size_t n,
		     const char *what, const char *from)
{
	char shown[SHOW_MAX + 4];

	if (n >= size)
		return cohort__error(COHORT_EINVAL,
				     "%s '%s' in '%s' is longer than %zu bytes",
				     what, show(shown, sizeof(shown), v, n), from,
				     size - 1);
	memcpy(field, v, n);
	field[n] = '\0';
	return 0;
}

/* ---- MANIFEST.MF -------------------------------------------------------- */

struct mf_attr {
	const char *name;
	const char *v; /* into the logical line buffer copy */
	size_t n;
	struct buf val;
};

enum { MF_XWIKI_ID, MF_BSN, MF_TITLE, MF_IMPL_VERSION, MF_BUNDLE_VERSION, MF_N };

static int mf_line(struct mf_attr *attrs, const struct buf *line, size_t lineno)
{
	const char *s = (const char *)line->p;
	const char *colon = memchr(s, ':', line->len);
	size_t nlen, i;
	const char *v;
	size_t vn;

	if (!colon || colon == s)
		return cohort__error(COHORT_EINVAL,
				     "'MANIFEST.MF' line %zu is not 'Name: value'",
				     lineno);
	nlen = (size_t)(colon - s);
	v = colon + 1;
	vn = line->len - nlen - 1;
	while (vn && (*v == ' ' || *v == '\t')) {
		v++;
		vn--;
	}
	while (vn && is_space((unsigned char)v[vn - 1]))
		vn--;
	for (i = 0; i < MF_N; i++) {
		if (strlen(attrs[i].name) != nlen)
			continue;
		{
			char name[64];

			memcpy(name, s, nlen);
			name[nlen] = '\0';
			if (ascii_casecmp(name, attrs[i].name))
				continue;
		}
		/* A repeated attribute: the last wins, as in java.util.jar. */
		attrs[i].val.len = 0;
		return buf_add(&attrs[i].val, v, vn);
	}
	return 0;
}

int cohort__parse_manifest(struct cohort__pkg_meta *m, const char *text,
			   size_t len)
{
	struct mf_attr attrs[MF_N] = {
		[MF_XWIKI_ID] = { .name = "XWiki-Extension-Id" },
		[MF_BSN] = { .name = "Bundle-SymbolicName" },
		[MF_TITLE] = { .name = "Implementation-Title" },
		[MF_IMPL_VERSION] = { .name = "Implementation-Version" },
		[MF_BUNDLE_VERSION] = { .name = "Bundle-Version" },
	};
	struct buf line = { 0 };
	size_t pos = 0, lineno = 0, start_line = 0, i;
	int have_line = 0, rc = 0;
	const struct buf *id = NULL, *ver = NULL;

	if (len > COHORT__META_MAX)
		return cohort__error(COHORT_EINVAL,
				     "'MANIFEST.MF' is larger than 1 MiB");
	if (memchr(text, '\0', len))
		return cohort__error(COHORT_EINVAL,
				     "'MANIFEST.MF' holds a NUL byte");
	/* Lines end in CRLF, LF or CR; one leading space continues the line
	 * before; an empty line ends the main section (per-entry sections
	 * follow, and their attributes are not the package's). */
	while (pos < len) {
		size_t end = pos, next;

		while (end < len && text[end] != '\n' && text[end] != '\r')
			end++;
		next = end;
		if (next < len && text[next] == '\r')
			next++;
		if (next < len && text[next] == '\n' &&
		    (next == end || text[end] == '\r'))
			next++;
		lineno++;
		if (end == pos)
			break;
		if (text[pos] == ' ') {
			if (!have_line) {
				rc = cohort__error(COHORT_EINVAL,
						   "'MANIFEST.MF' line %zu continues "
						   "no line",
						   lineno);
				goto out;
			}
			rc = buf_add(&line, text + pos + 1, end - pos - 1);
		} else {
			if (have_line &&
			    (rc = mf_line(attrs, &line, start_line)) != 0)
				goto out;
			line.len = 0;
			have_line = 1;
			start_line = lineno;
			rc = buf_add(&line, text + pos, end - pos);
		}
		if (rc)
			goto out;
		pos = next;
	}
	if (have_line && (rc = mf_line(attrs, &line, start_line)) != 0)
		goto out;

	/* Bundle-SymbolicName: "name;singleton:=true" - the name alone. */
	if (attrs[MF_BSN].val.len) {
		struct buf *b = &attrs[MF_BSN].val;
		char *semi = memchr(b->p, ';', b->len);

		if (semi)
			b->len = (size_t)(semi - (char *)b->p);
		while (b->len && is_space(b->p[b->len - 1]))
			b->len--;
		b->p[b->len] = '\0';
	}
	for (i = MF_XWIKI_ID; i <= MF_TITLE && !id; i++)
		if (attrs[i].val.len)
			id = &attrs[i].val;
	/* Implementation-Title is a title ("Maven Core") far more often
	 * than an id: one that is not a safe name is no id at all, and the
	 * caller asks for one, rather than the package being refused. */
	if (id == &attrs[MF_TITLE].val &&
	    !cohort__pkg_name_valid((const char *)id->p, COHORT__PKG_ID_MAX))
		id = NULL;
	for (i = MF_IMPL_VERSION; i <= MF_BUNDLE_VERSION && !ver; i++)
		if (attrs[i].val.len)
			ver = &attrs[i].val;
	if (id) {
		rc = set_field(m->id, sizeof(m->id), (const char *)id->p, id->len,
			       "id", "MANIFEST.MF");
		if (rc)
			goto out;
		snprintf(m->source, sizeof(m->source), "MANIFEST.MF");
	}
	if (ver)
		rc = set_field(m->version, sizeof(m->version),
			       (const char *)ver->p, ver->len, "version",
			       "MANIFEST.MF");
out:
	buf_free(&line);
	for (i = 0; i < MF_N; i++)
		buf_free(&attrs[i].val);
	return rc;
}

/* ---- XML descriptors ---------------------------------------------------- */

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser();
}

static int xml_read(xmlDocPtr *out, const char *xml, size_t len,
		    const char *what)
{
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;
	int rc;

	*out = NULL;
	if (len > COHORT__META_MAX)
		return cohort__error(COHORT_EINVAL, "'%s' is larger than 1 MiB",
				     what);
	if ((rc = cohort__lazy_xml()))
		return rc;
	pthread_once(&xml_once, xml_init);
	ctxt = xmlNewParserCtxt();
	if (!ctxt)
		return oom();
	doc = xmlCtxtReadMemory(ctxt, xml, (int)len, what, NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR |
					XML_PARSE_NOWARNING);
	if (!doc) {
		const xmlError *e = xmlCtxtGetLastError(ctxt);
		char msg[256];
		int line = e ? e->line : 0;
		size_t n, k;

		snprintf(msg, sizeof(msg), "%s",
			 e && e->message ? e->message : "cannot parse");
		n = strlen(msg);
		while (n && is_space((unsigned char)msg[n - 1]))
			msg[--n] = '\0';
		/* libxml2 puts line breaks inside some messages ("...
		 * indicate encoding !\nBytes: 0xE9"): ours are one line. */
		for (k = 0; k < n; k++)
			if ((unsigned char)msg[k] < 0x20)
				msg[k] = ' ';
		xmlFreeParserCtxt(ctxt);
		return cohort__error(COHORT_EINVAL,
				     "'%s' is not well-formed XML (line %d): %s",
				     what, line, msg);
	}
	xmlFreeParserCtxt(ctxt);
	if (doc->intSubset || doc->extSubset) {
		xmlFreeDoc(doc);
		return cohort__error(COHORT_EINVAL,
				     "'%s' has a document type declaration, "
				     "which is not allowed",
				     what);
	}
	if (!xmlDocGetRootElement(doc)) {
		xmlFreeDoc(doc);
		return cohort__error(COHORT_EINVAL, "'%s' has no root element",
				     what);
	}
	*out = doc;
	return 0;
}

static int is_elem(xmlNodePtr n, const char *local)
{
	return n && n->type == XML_ELEMENT_NODE &&
	       !strcmp((const char *)n->name, local);
}

/* First element child of 'p' with local name 'local', or NULL. */
static xmlNodePtr child(xmlNodePtr p, const char *local)
{
	xmlNodePtr c;

	for (c = p ? p->children : NULL; c; c = c->next)
		if (is_elem(c, local))
			return c;
	return NULL;
}

/* The text directly under 'n' (text and CDATA children), trimmed, copied
 * into 'dst'; an empty string when 'n' is NULL.  Entity references cannot
 * occur: a document with a DTD was refused. */
static int text_of(char *dst, size_t size, xmlNodePtr n, const char *field,
		   const char *what)
{
	struct buf b = { 0 };
	xmlNodePtr c;
	const char *s;
	size_t len;
	int rc = 0;

	dst[0] = '\0';
	for (c = n ? n->children : NULL; c && !rc; c = c->next)
		if ((c->type == XML_TEXT_NODE ||
		     c->type == XML_CDATA_SECTION_NODE) && c->content)
			rc = buf_add(&b, c->content,
				     strlen((const char *)c->content));
	if (rc || !b.len)
		goto out;
	s = (const char *)b.p;
	len = b.len;
	while (len && is_space((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len && is_space((unsigned char)s[len - 1]))
		len--;
	rc = set_field(dst, size, s, len, field, what);
out:
	buf_free(&b);
	return rc;
}

/* An attribute of 'n' by local name, without a namespace (unprefixed, as
 * attributes of these descriptors are); the DTD is never consulted. */
static int attr_of(char *dst, size_t size, xmlNodePtr n, const char *local,
		   const char *what)
{
	xmlAttrPtr a;

	dst[0] = '\0';
	for (a = n->properties; a; a = a->next) {
		struct buf b = { 0 };
		xmlNodePtr c;
		int rc = 0;
		const char *s;
		size_t len;

		if (a->ns || strcmp((const char *)a->name, local))
			continue;
		for (c = a->children; c && !rc; c = c->next)
			if (c->type == XML_TEXT_NODE && c->content)
				rc = buf_add(&b, c->content,
					     strlen((const char *)c->content));
		s = b.p ? (const char *)b.p : "";
		len = b.len;
		while (len && is_space((unsigned char)*s)) {
			s++;
			len--;
		}
		while (len && is_space((unsigned char)s[len - 1]))
			len--;
		if (!rc)
			rc = set_field(dst, size, s, len, local, what);
		buf_free(&b);
		return rc;
	}
	return 0;
}

int cohort__parse_xed(struct cohort__pkg_meta *m, const char *xml, size_t len)
{
	static const char what[] = "extension.xed";
	char id[COHORT__PKG_ID_MAX + 1], ver[COHORT__PKG_VERSION_MAX + 1];
	xmlDocPtr doc;
	xmlNodePtr root, deps, d;
	int rc = xml_read(&doc, xml, len, what);

	if (rc)
		return rc;
	root = xmlDocGetRootElement(doc);
	if (!is_elem(root, "extension")) {
		rc = cohort__error(COHORT_EINVAL,
				   "'%s' has root element '%s', not 'extension'",
				   what, (const char *)root->name);
		goto out;
	}
	if ((rc = text_of(id, sizeof(id), child(root, "id"), "id", what)) ||
	    (rc = text_of(ver, sizeof(ver), child(root, "version"), "version",
			  what)))
		goto out;
	deps = child(root, "dependencies");
	for (d = deps ? deps->children : NULL; d; d = d->next) {
		char dep[COHORT__PKG_ID_MAX + 1];

		if (!is_elem(d, "dependency"))
			continue;
		rc = text_of(dep, sizeof(dep), child(d, "id"), "dependency id",
			     what);
		if (!rc && dep[0])
			rc = add_dep(m, dep, what);
		if (rc)
			goto out;
	}
	if (id[0]) {
		memcpy(m->id, id, sizeof(id));
		snprintf(m->source, sizeof(m->source), "%s", what);
	}
	if (ver[0])
		memcpy(m->version, ver, sizeof(ver));
out:
	xmlFreeDoc(doc);
	return rc;
}

int cohort__parse_package_xml(struct cohort__pkg_meta *m, const char *xml,
			      size_t len)
{
	static const char what[] = "package.xml";
	char id[COHORT__PKG_ID_MAX + 1], ver[COHORT__PKG_VERSION_MAX + 1];
	xmlDocPtr doc;
	xmlNodePtr root, infos;
	int rc = xml_read(&doc, xml, len, what);

	if (rc)
		return rc;
	root = xmlDocGetRootElement(doc);
	/* "package.xml" is a common name (PEAR, ROS, ...): another root
	 * element means it is not a xar descriptor, and says nothing. */
	if (!is_elem(root, "package"))
		goto out;
	infos = child(root, "infos");
	if ((rc = text_of(id, sizeof(id), child(infos, "extensionId"), "id",
			  what)) ||
	    (rc = text_of(ver, sizeof(ver), child(infos, "version"), "version",
			  what)))
		goto out;
	if (id[0]) {
		memcpy(m->id, id, sizeof(id));
		snprintf(m->source, sizeof(m->source), "%s", what);
	}
	if (ver[0])
		memcpy(m->version, ver, sizeof(ver));
out:
	xmlFreeDoc(doc);
	return rc;
}

int cohort__parse_rhq_plugin(struct cohort__pkg_meta *m, const char *xml,
			     size_t len)
{
	static const char what[] = "rhq-plugin.xml";
	char id[COHORT__PKG_ID_MAX + 1], ver[COHORT__PKG_VERSION_MAX + 1];
	xmlDocPtr doc;
	xmlNodePtr root, d;
	int rc = xml_read(&doc, xml, len, what);

	if (rc)
		return rc;
	root = xmlDocGetRootElement(doc);
	if (!is_elem(root, "plugin")) {
		rc = cohort__error(COHORT_EINVAL,
				   "'%s' has root element '%s', not 'plugin'",
				   what, (const char *)root->name);
		goto out;
	}
	if ((rc = attr_of(id, sizeof(id), root, "name", what)) ||
	    (rc = attr_of(ver, sizeof(ver), root, "version", what)))
		goto out;
	for (d = root->children; d; d = d->next) {
		char dep[COHORT__PKG_ID_MAX + 1];

		if (!is_elem(d, "depends"))
			continue;
		rc = attr_of(dep, sizeof(dep), d, "plugin", what);
		if (!rc && dep[0])
			rc = add_dep(m, dep, what);
		if (rc)
			goto out;
	}
	if (id[0]) {
		memcpy(m->id, id, sizeof(id));
		snprintf(m->source, sizeof(m->source), "%s", what);
	}
	if (ver[0])
		memcpy(m->version, ver, sizeof(ver));
out:
	xmlFreeDoc(doc);
	return rc;
}

/* ---- the read side ------------------------------------------------------ */

/* Read the next chunk into the older buffer and give it to the sink. */
static int pull(struct insp *x, size_t *got)
{
	int s = x->cur < 0 ? 0 : x->cur ^ 1;
	int rc;

	*got = 0;
	if (x->eof)
		return 0;
	rc = cohort__os_read_full(x->fd, x->chunk[s], CHUNK, got, x->name);
	if (rc)
		return rc;
	if (*got < CHUNK)
		x->eof = 1; /* read_full stops short only at end of file */
	if (!*got)
		return 0;
	if (x->sink && (rc = x->sink(x->chunk[s], *got, x->arg)) != 0)
		return rc;
	x->chunk_off[s] = x->total;
	x->chunk_len[s] = *got;
	x->cur = s;
	x->total += *got;
	return 0;
}

static la_ssize_t read_cb(struct archive *a, void *arg, const void **out)
{
	struct insp *x = arg;
	size_t got;
	int rc = pull(x, &got);

	if (rc) {
		x->rc = rc;
		archive_set_error(a, EIO, "%s", cohort_error_last());
		return -1;
	}
	*out = x->chunk[x->cur < 0 ? 0 : x->cur];
	return (la_ssize_t)got;
}

/* Copy file bytes [off, off + n) from the two retained chunks; -1 if they
 * are not all there. */
static int window_copy(const struct insp *x, uint64_t off, size_t n,
		       unsigned char *out)
{
	int c = x->cur, p;
	uint64_t lo, hi;

	if (c < 0)
		return -1;
	p = c ^ 1;
	hi = x->chunk_off[c] + x->chunk_len[c];
	lo = x->chunk_len[p] &&
			     x->chunk_off[p] + x->chunk_len[p] == x->chunk_off[c] ?
		     x->chunk_off[p] :
		     x->chunk_off[c];
	if (off < lo || off > hi || n > hi - off)
		return -1;
	if (off < x->chunk_off[c]) {
		size_t k = (size_t)(x->chunk_off[c] - off);

		if (k > n)
			k = n;
		memcpy(out, x->chunk[p] + (off - x->chunk_off[p]), k);
		out += k;
		off += k;
		n -= k;
	}
	if (n)
		memcpy(out, x->chunk[c] + (off - x->chunk_off[c]), n);
	return 0;
}

/* ---- entry checks ------------------------------------------------------- */

enum { PATH_OK, PATH_EMPTY, PATH_ABSOLUTE, PATH_DOTDOT };

static int path_absolute(const char *p)
{
	return p[0] == '/' || p[0] == '\\' || (ascii_alpha((unsigned char)p[0]) && p[1] == ':');
}

/*
 * The canonical form of an entry path into 'out': its components joined
 * by '/', without "." and empty ones.  '\\' separates too (a zip made on
 * Windows may use it, and its consumer may be on Windows).  '*ncomp' gets
 * the number of components.
 */
static int canon(struct buf *out, const char *p, size_t *ncomp)
{
	int rc;

	out->len = 0;
	*ncomp = 0;
	if ((rc = buf_add(out, "", 0)) != 0)
		return rc;
	if (path_absolute(p))
		return PATH_ABSOLUTE;
	while (*p) {
		size_t n = strcspn(p, "/\\");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return PATH_DOTDOT;
		if (n && !(n == 1 && p[0] == '.')) {
			if ((out->len && (rc = buf_add(out, "/", 1)) != 0) ||
			    (rc = buf_add(out, p, n)) != 0)
				return rc;
			(*ncomp)++;
		}
		p += n;
		if (*p)
			p++;
	}
	return out->len ? PATH_OK : PATH_EMPTY;
}

/*
 * 1 if a symlink in a folder 'depth' components deep, pointing at 't',
 * stays inside the package.  '..' may only lead the target: "a/../.." would
 * be judged by names while the system resolves it through whatever 'a' is
 * (perhaps another link), so it is refused.
 */
static int link_inside(const char *t, size_t depth)
{
	int named = 0;

	if (!t[0] || path_absolute(t))
		return 0;
	while (*t) {
		size_t n = strcspn(t, "/\\");

		if (n == 2 && t[0] == '.' && t[1] == '.') {
			if (named || depth == 0)
				return 0;
			depth--;
		} else if (n && !(n == 1 && t[0] == '.')) {
			named = 1;
		}
		t += n;
		if (*t)
			t++;
	}
	return 1;
}

static int link_cmp(const char *s, size_t n, const char *l)
{
	int c = strncmp(s, l, n);

	if (c)
		return c;
	return l[n] ? -1 : 0;
}

/* Index of the symlink whose canonical path is s[0..n), or -1. */
static long link_find(const struct insp *x, const char *s, size_t n)
{
	size_t lo = 0, hi = x->nlinks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = link_cmp(s, n, x->links[mid]);

		if (!c)
			return (long)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

static int link_add(struct insp *x, const char *s)
{
	size_t lo = 0, hi = x->nlinks, n = strlen(s);

	if (link_find(x, s, n) >= 0)
		return 0;
	if (x->nlinks == x->links_cap) {
		size_t cap = x->links_cap ? x->links_cap * 2 : 16;
		char **l = realloc(x->links, cap * sizeof(*l));

		if (!l)
			return oom();
		x->links = l;
		x->links_cap = cap;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (link_cmp(s, n, x->links[mid]) < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	memmove(x->links + lo + 1, x->links + lo,
		(x->nlinks - lo) * sizeof(*x->links));
	x->links[lo] = strdup(s);
	if (!x->links[lo]) {
		memmove(x->links + lo, x->links + lo + 1,
			(x->nlinks - lo) * sizeof(*x->links));
		return oom();
	}
	x->nlinks++;
	return 0;
}

/* A symlink that a proper prefix of canonical path 'c' names, or NULL. */
static const char *through_link(const struct insp *x, const char *c)
{
	const char *s;

	if (!x->nlinks)
		return NULL;
	for (s = strchr(c, '/'); s; s = strchr(s + 1, '/')) {
		long i = link_find(x, c, (size_t)(s - c));

		if (i >= 0)
			return x->links[i];
	}
	return NULL;
}

static int refuse(const struct insp *x, const char *entry, const char *why)
{
	return cohort__error(COHORT_EINVAL,
			     "package '%s' refused: entry '%s' %s", x->name,
			     entry, why);
}

/* Which metadata file an entry is (-1 for none): by its name with any
 * leading "./", case aside (java.util.jar finds the manifest so). */
static int meta_kind_of(const char *path)
{
	int k;

	while (path[0] == '.' && path[1] == '/')
		path += 2;
	for (k = 0; k < META_COUNT; k++)
		if (!ascii_casecmp(path, meta_path[k]))
			return k;
	return -1;
}

/*
 * The checks on an entry's header: its path, its links, its kind.  Sets
 * '*kind' to the metadata file it is, or -1.
 */
static int check_entry(struct insp *x, struct archive_entry *e,
		       const char *path, const char *shown, int *kind)
{
	char tshown[SHOW_MAX + 4];
	const char *target, *via;
	size_t ncomp, tcomp;
	mode_t type = archive_entry_filetype(e);
	int rc;

	*kind = -1;
	rc = canon(&x->path, path, &ncomp);
	x->ncomp = ncomp;
	if (rc == PATH_ABSOLUTE)
		return refuse(x, shown, "has an absolute path");
	if (rc == PATH_DOTDOT)
		return refuse(x, shown, "leaves the package");
	if (rc == PATH_EMPTY && type != AE_IFDIR)
		return refuse(x, shown, "has an empty name");
	if (rc != PATH_OK && rc != PATH_EMPTY)
		return rc;
	via = rc == PATH_OK ? through_link(x, (const char *)x->path.p) : NULL;
	if (via) {
		char vshown[SHOW_MAX + 4];

		return cohort__error(COHORT_EINVAL,
				     "package '%s' refused: entry '%s' goes "
				     "through the link '%s'",
				     x->name, shown,
				     show(vshown, sizeof(vshown), via,
					  strlen(via)));
	}

	target = archive_entry_hardlink(e);
	if (!target)
		target = archive_entry_hardlink_utf8(e);
	if (target) {
		show(tshown, sizeof(tshown), target, strlen(target));
		rc = canon(&x->path2, target, &tcomp);
		if (rc != PATH_OK && rc != PATH_ABSOLUTE && rc != PATH_DOTDOT &&
		    rc != PATH_EMPTY)
			return rc;
		if (rc != PATH_OK ||
		    through_link(x, (const char *)x->path2.p) ||
		    link_find(x, (const char *)x->path2.p, x->path2.len) >= 0)
			return cohort__error(COHORT_EINVAL,
					     "package '%s' refused: entry '%s' "
					     "is a hard link to '%s', outside "
					     "the package or through a link",
					     x->name, shown, tshown);
		return 0;
	}
	if (type == AE_IFLNK) {
		target = archive_entry_symlink(e);
		if (!target)
			target = archive_entry_symlink_utf8(e);
		if (!target)
			target = "";
		show(tshown, sizeof(tshown), target, strlen(target));
		if (rc != PATH_OK || !link_inside(target, ncomp - 1))
			return cohort__error(COHORT_EINVAL,
					     "package '%s' refused: entry '%s' "
					     "links to '%s', outside the package",
					     x->name, shown, tshown);
		return link_add(x, (const char *)x->path.p);
	}
	if (type != AE_IFREG && type != AE_IFDIR)
		return refuse(x, shown,
			      "is a device, fifo or socket, not a file");
	if (archive_entry_is_encrypted(e))
		return refuse(x, shown, "is encrypted");
	if (type == AE_IFREG)
		*kind = meta_kind_of(path);
	if (*kind >= 0 && x->have[*kind])
		return refuse(x, shown, "appears twice");
	if (*kind >= 0 && archive_entry_size_is_set(e) &&
	    archive_entry_size(e) > (la_int64_t)COHORT__META_MAX)
		return refuse(x, shown, "is larger than 1 MiB");
	return 0;
}

/*
 * Find again the zip local header libarchive just read: it ends exactly
 * at 'after' (its symlink body included), starts at or after 'before',
 * and must be the only candidate that does.
 */
static int zip_local(struct insp *x, uint64_t before, uint64_t after,
		     int is_link, const char *shown)
{
	uint64_t lo = before;
	unsigned char *w = NULL;
	size_t n, i, found = 0, count = 0;
	struct local *l;
	int rc = 0;

	if (after > LOC_SPAN && after - LOC_SPAN > lo)
		lo = after - LOC_SPAN;
	if (after < lo + 30)
		goto ambiguous;
	n = (size_t)(after - lo);
	w = malloc(n);
	if (!w)
		return oom();
	if (window_copy(x, lo, n, w))
		goto ambiguous;
	for (i = 0; i + 30 <= n; i++) {
		size_t end;

		if (!sig(w + i, 3, 4))
			continue;
		end = i + 30 + le16(w + i + 26) + le16(w + i + 28);
		if (end == n || (is_link && end + le32(w + i + 18) == n)) {
			found = i;
			count++;
		}
	}
	if (count != 1)
		goto ambiguous;
	if (x->nlocals == x->locals_cap) {
		size_t cap = x->locals_cap ? x->locals_cap * 2 : 64;
		struct local *nl = realloc(x->locals, cap * sizeof(*nl));

		if (!nl) {
			rc = oom();
			goto out;
		}
		x->locals = nl;
		x->locals_cap = cap;
	}
	l = &x->locals[x->nlocals];
	memset(l, 0, sizeof(*l));
	l->off = lo + found;
	if (x->nlocals && l->off <= x->locals[x->nlocals - 1].off)
		goto ambiguous;
	l->flags = le16(w + found + 6);
	l->method = le16(w + found + 8);
	l->crc = le32(w + found + 14);
	l->nlen = le16(w + found + 26);
	l->name = malloc(l->nlen + 1);
	if (!l->name) {
		rc = oom();
		goto out;
	}
	memcpy(l->name, w + found + 30, l->nlen);
	l->name[l->nlen] = '\0';
	x->nlocals++;
	/* Judge the raw name too, whatever libarchive made of its
	 * charset: it is the name other zip readers see. */
	if (memchr(l->name, '\0', l->nlen)) {
		rc = refuse(x, shown, "has a NUL byte in its name");
		goto out;
	}
	{
		size_t ncomp;
		int c = canon(&x->path2, l->name, &ncomp);

		if (c == PATH_ABSOLUTE)
			rc = refuse(x, shown, "has an absolute path");
		else if (c == PATH_DOTDOT)
			rc = refuse(x, shown, "leaves the package");
		else if (c != PATH_OK && c != PATH_EMPTY)
			rc = c;
	}
	goto out;
ambiguous:
	rc = cohort__error(COHORT_EINVAL,
			   "package '%s' refused: the zip local header of "
			   "entry '%s' cannot be told apart",
			   x->name, shown);
out:
	free(w);
	return rc;
}

static int damaged(const struct insp *x, const char *shown, const char *msg)
{
	if (!msg || !msg[0])
		msg = "unexpected end of data";
	if (shown)
		return cohort__error(COHORT_EINVAL,
				     "package '%s' is damaged: entry '%s': %s",
				     x->name, shown, msg);
	return cohort__error(COHORT_EINVAL, "package '%s' is damaged: %s",
			     x->name, msg);
}

/* Read one entry's data in full; keep it when it is metadata. */
static int read_entry(struct insp *x, const char *shown, int kind)
{
	uint64_t produced = 0;
	int64_t start = archive_filter_bytes(x->a, 0);
	int64_t consumed;
	int rc;

	for (;;) {
		la_ssize_t n = archive_read_data(x->a, x->scratch, SCRATCH);

		if (n == 0)
			break;
		if (n < 0) {
			if (x->rc)
				return x->rc;
			return damaged(x, shown, archive_error_string(x->a));
		}
		if (x->zip && produced < TARGET_MAX)
			memcpy(x->head + produced, x->scratch,
			       (size_t)n < TARGET_MAX - produced ?
				       (size_t)n :
				       TARGET_MAX - (size_t)produced);
		produced += (uint64_t)n;
		x->produced_total += (uint64_t)n;
		if (kind >= 0) {
			if (produced > COHORT__META_MAX)
				return refuse(x, shown, "is larger than 1 MiB");
			if ((rc = buf_add(&x->meta[kind], x->scratch,
					  (size_t)n)) != 0)
				return rc;
		}
		if (x->produced_total > COHORT__PKG_RATIO_FLOOR &&
		    x->produced_total / COHORT__PKG_RATIO >
			    (uint64_t)archive_filter_bytes(x->a, -1))
			return cohort__error(COHORT_EINVAL,
					     "package '%s' refused: it expands "
					     "more than %d times (at entry '%s')",
					     x->name, COHORT__PKG_RATIO, shown);
	}
	consumed = archive_filter_bytes(x->a, 0) - start;
	if (consumed < 0)
		consumed = 0;
	if (kind >= 0 &&
	    produced > (uint64_t)consumed * COHORT__META_RATIO) {
		char why[128];

		snprintf(why, sizeof(why),
			 "expands more than %d times (%llu bytes from %llu)",
			 COHORT__META_RATIO, (unsigned long long)produced,
			 (unsigned long long)consumed);
		return refuse(x, shown, why);
	}
	if (kind >= 0)
		x->have[kind] = 1;
	if (x->zip && x->nlocals) {
		struct local *l = &x->locals[x->nlocals - 1];

		l->produced = produced;
		if (produced <= TARGET_MAX) {
			x->head[produced] = '\0';
			if (!memchr(x->head, '\0', (size_t)produced) &&
			    !link_inside(x->head, x->ncomp ? x->ncomp - 1 : 0) &&
			    !(l->target = strdup(x->head)))
				return oom();
		}
	}
	return 0;
}

/* ---- the zip central directory ------------------------------------------ */

static struct local *local_at(struct insp *x, uint64_t off)
{
	size_t lo = 0, hi = x->nlocals;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x->locals[mid].off == off)
			return &x->locals[mid];
		if (x->locals[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Note a zip symlink (known only from the central directory). */
static int zip_link(struct insp *x, const struct local *l)
{
	size_t ncomp;
	int rc = canon(&x->path, l->name, &ncomp);

	if (rc == PATH_OK)
		return link_add(x, (const char *)x->path.p);
	return rc == PATH_EMPTY ? 0 : rc;
}

static int cd_refuse(const struct insp *x, const char *why)
{
	return cohort__error(COHORT_EINVAL,
			     "package '%s' refused: its zip central directory %s",
			     x->name, why);
}

/*
 * Check the central directory and end record in 't' (the file's bytes
 * from 't_off' to its end) against the local headers read.
 */
static int zip_central(struct insp *x, const unsigned char *t, size_t tn,
		       uint64_t t_off)
{
	char shown[SHOW_MAX + 4], why[2 * SHOW_MAX + 96];
	size_t i, p, count = 0;
	uint64_t cd_start, cd_len, entries, cd_size, cd_off;
	int have64 = 0;
	uint64_t z64_entries = 0, z64_size = 0, z64_off = 0;
	uint16_t disk, cd_disk, n_disk, n_total, clen;

	for (i = 0; i + 4 <= tn; i++)
		if (sig(t + i, 1, 2) || sig(t + i, 5, 6) || sig(t + i, 6, 6))
			break;
	if (i + 4 > tn)
		return damaged(x, NULL, "no zip central directory (truncated?)");
	cd_start = t_off + i;
	for (p = i; p + 4 <= tn && sig(t + p, 1, 2);) {
		uint16_t flags, method, nlen, elen, cmlen;
		uint32_t crc;
		uint64_t usize, csize, lho;
		const unsigned char *name, *ex;
		struct local *l;

		if (tn - p < 46)
			return damaged(x, NULL, "truncated zip central directory");
		flags = le16(t + p + 8);
		method = le16(t + p + 10);
		crc = le32(t + p + 16);
		csize = le32(t + p + 20);
		usize = le32(t + p + 24);
		nlen = le16(t + p + 28);
		elen = le16(t + p + 30);
		cmlen = le16(t + p + 32);
		lho = le32(t + p + 42);
		if (tn - p - 46 < (size_t)nlen + elen + cmlen)
			return damaged(x, NULL, "truncated zip central directory");
		name = t + p + 46;
		show(shown, sizeof(shown), (const char *)name, nlen);
		/* Zip64 extra field: the 64-bit values of the fields that
		 * hold 0xffffffff, in this order. */
		for (ex = name + nlen; ex + 4 <= name + nlen + elen;) {
			uint16_t id = le16(ex), sz = le16(ex + 2);
			const unsigned char *q = ex + 4, *qe = ex + 4 + sz;

			if (qe > name + nlen + elen)
				break;
			if (id == 1) {
				if (usize == 0xffffffffu && q + 8 <= qe) {
					usize = le64(q);
					q += 8;
				}
				if (csize == 0xffffffffu && q + 8 <= qe) {
					csize = le64(q);
					q += 8;
				}
				if (lho == 0xffffffffu && q + 8 <= qe)
					lho = le64(q);
			}
			ex = qe;
		}
		(void)csize;
		l = local_at(x, lho);
		if (!l) {
			snprintf(why, sizeof(why),
				 "names '%s' at offset %llu, where no entry is",
				 shown, (unsigned long long)lho);
			return cd_refuse(x, why);
		}
		if (l->matched) {
			snprintf(why, sizeof(why), "names entry '%s' twice",
				 shown);
			return cd_refuse(x, why);
		}
		if (l->nlen != nlen || memcmp(l->name, name, nlen)) {
			char lshown[SHOW_MAX + 4];

			snprintf(why, sizeof(why),
				 "calls entry '%s' '%s'",
				 show(lshown, sizeof(lshown), l->name, l->nlen),
				 shown);
			return cd_refuse(x, why);
		}
		if (l->method != method || usize != l->produced ||
		    (!(l->flags & 8) && l->crc != crc) ||
		    ((l->flags ^ flags) & 1)) {
			snprintf(why, sizeof(why),
				 "disagrees with the local header of '%s'",
				 shown);
			return cd_refuse(x, why);
		}
		/* The Unix mode lives only here, not in local headers:
		 * a symlink's target is its data, read earlier. */
		if (t[p + 5] == 3 || t[p + 5] == 19) {
			uint32_t type = (le32(t + p + 38) >> 16) & 0170000;

			if (type == 0120000) {
				int rc;

				if (l->target) {
					char tshown[SHOW_MAX + 4];

					return cohort__error(
						COHORT_EINVAL,
						"package '%s' refused: entry '%s' "
						"links to '%s', outside the "
						"package",
						x->name, shown,
						show(tshown, sizeof(tshown),
						     l->target,
						     strlen(l->target)));
				}
				if ((rc = zip_link(x, l)) != 0)
					return rc;
			} else if (type == 0020000 || type == 0060000 ||
				   type == 0140000) {
				/* (a fifo is what 'zip' records for its
				 * standard input: a file for any unzip) */
				return refuse(x, shown, "is a device or socket, "
						       "not a file");
			}
		}
		l->matched = 1;
		count++;
		p += 46 + (size_t)nlen + elen + cmlen;
	}
	if (count != x->nlocals) {
		for (i = 0; i < x->nlocals && x->locals[i].matched; i++)
			;
		snprintf(why, sizeof(why), "does not list entry '%s'",
			 i < x->nlocals ?
				 show(shown, sizeof(shown), x->locals[i].name,
				      x->locals[i].nlen) :
				 "?");
		return cd_refuse(x, why);
	}
	cd_len = t_off + p - cd_start;
	if (p + 4 <= tn && sig(t + p, 6, 6)) {
		uint64_t sz;

		if (tn - p < 56 || (sz = le64(t + p + 4)) < 44 ||
		    sz > tn - p - 12)
			return damaged(x, NULL, "truncated zip64 end record");
		have64 = 1;
		z64_entries = le64(t + p + 32);
		z64_size = le64(t + p + 40);
		z64_off = le64(t + p + 48);
		p += 12 + (size_t)sz;
	}
	if (p + 4 <= tn && sig(t + p, 6, 7)) {
		if (tn - p < 20)
			return damaged(x, NULL, "truncated zip64 locator");
		p += 20;
	}
	if (tn - p < 22 || !sig(t + p, 5, 6))
		return damaged(x, NULL,
			       "no zip end of central directory record "
			       "(truncated?)");
	disk = le16(t + p + 4);
	cd_disk = le16(t + p + 6);
	n_disk = le16(t + p + 8);
	n_total = le16(t + p + 10);
	cd_size = le32(t + p + 12) == 0xffffffffu && have64 ? z64_size :
							      le32(t + p + 12);
	cd_off = le32(t + p + 16) == 0xffffffffu && have64 ? z64_off :
							     le32(t + p + 16);
	entries = n_total == 0xffff && have64 ? z64_entries : n_total;
	clen = le16(t + p + 20);
	if ((size_t)clen + 22 > tn - p)
		return damaged(x, NULL, "truncated zip comment");
	if ((size_t)clen + 22 < tn - p)
		return cohort__error(COHORT_EINVAL,
				     "package '%s' refused: data follows the "
				     "end of the zip archive",
				     x->name);
	if (clen >= 4 && memmem(t + p + 22, clen, "PK\005\006", 4))
		return cd_refuse(x, "end record's comment holds another end "
				    "record");
	if (disk || cd_disk || n_disk != n_total)
		return cd_refuse(x, "spans several disks");
	if (entries != count || cd_off != cd_start || cd_size != cd_len)
		return cd_refuse(x, "does not match its end record");
	/* Now that the symlinks are known: nothing may go through one. */
	for (i = 0; x->nlinks && i < x->nlocals; i++) {
		size_t ncomp;
		const char *via;
		int rc = canon(&x->path, x->locals[i].name, &ncomp);

		if (rc != PATH_OK && rc != PATH_EMPTY)
			return rc;
		via = rc == PATH_OK ? through_link(x, (const char *)x->path.p) :
				      NULL;
		if (via) {
			char vshown[SHOW_MAX + 4];

			return cohort__error(COHORT_EINVAL,
					     "package '%s' refused: entry '%s' "
					     "goes through the link '%s'",
					     x->name,
					     show(shown, sizeof(shown),
						  x->locals[i].name,
						  x->locals[i].nlen),
					     show(vshown, sizeof(vshown), via,
						  strlen(via)));
		}
	}
	return 0;
}

/* ---- the inspection ----------------------------------------------------- */

static const struct {
	const char *suffix, *ext;
	int zip;
	int filter;
} by_name[] = {
	{ ".jar", "jar", 1, ARCHIVE_FILTER_NONE },
	{ ".zip", "zip", 1, ARCHIVE_FILTER_NONE },
	{ ".xar", "xar", 1, ARCHIVE_FILTER_NONE },
	{ ".tar", "tar", 0, ARCHIVE_FILTER_NONE },
	{ ".tar.gz", "tar.gz", 0, ARCHIVE_FILTER_GZIP },
	{ ".tgz", "tar.gz", 0, ARCHIVE_FILTER_GZIP },
	{ ".tar.bz2", "tar.bz2", 0, ARCHIVE_FILTER_BZIP2 },
	{ ".tbz2", "tar.bz2", 0, ARCHIVE_FILTER_BZIP2 },
	{ ".tar.xz", "tar.xz", 0, ARCHIVE_FILTER_XZ },
	{ ".txz", "tar.xz", 0, ARCHIVE_FILTER_XZ },
};

/* The extension: the name's, when it agrees with what the file is; else
 * the format's. */
static void set_ext(struct cohort__pkg_meta *m, const char *name, int zip,
		    int filter)
{
	size_t i, n = strlen(name);

	for (i = 0; i < sizeof(by_name) / sizeof(by_name[0]); i++) {
		size_t k = strlen(by_name[i].suffix);

		if (n > k && !ascii_casecmp(name + n - k, by_name[i].suffix) &&
		    by_name[i].zip == zip &&
		    (zip || by_name[i].filter == filter)) {
			snprintf(m->ext, sizeof(m->ext), "%s", by_name[i].ext);
			return;
		}
	}
	snprintf(m->ext, sizeof(m->ext), "%s",
		 zip ? "zip" :
		 filter == ARCHIVE_FILTER_GZIP ? "tar.gz" :
		 filter == ARCHIVE_FILTER_BZIP2 ? "tar.bz2" :
		 filter == ARCHIVE_FILTER_XZ ? "tar.xz" : "tar");
}

/* Parse the metadata found, in precedence order; a later source fills
 * only what the earlier ones left empty. */
static int merge_meta(struct insp *x, struct cohort__pkg_meta *m)
{
	static int (*const parse[META_COUNT])(struct cohort__pkg_meta *,
					      const char *, size_t) = {
		cohort__parse_xed,
		cohort__parse_package_xml,
		cohort__parse_rhq_plugin,
		cohort__parse_manifest,
	};
	char shown[SHOW_MAX + 4], why[96];
	const char *w;
	int k, rc = 0;
	size_t i;

	for (k = 0; k < META_COUNT && !rc; k++) {
		struct cohort__pkg_meta s;

		if (!x->have[k])
			continue;
		memset(&s, 0, sizeof(s));
		rc = parse[k](&s, x->meta[k].p ? (const char *)x->meta[k].p : "",
			      x->meta[k].len);
		if (rc) {
			cohort__error_wrap(rc, "package '%s' refused", x->name);
		} else {
			if (!m->id[0] && s.id[0]) {
				memcpy(m->id, s.id, sizeof(m->id));
				memcpy(m->source, s.source, sizeof(m->source));
			}
			if (!m->version[0] && s.version[0])
				memcpy(m->version, s.version, sizeof(m->version));
			if (!m->ndeps && s.ndeps) {
				m->deps = s.deps;
				m->ndeps = s.ndeps;
				s.deps = NULL;
				s.ndeps = 0;
			}
		}
		cohort__pkg_meta_free(&s);
	}
	if (rc)
		return rc;
	/* The names are checked by the rules every caller's names pass
	 * (cohort/name.h), and the message says which rule failed. */
	if (m->id[0] &&
	    (w = cohort__name_why(why, sizeof(why), COHORT_NAME_PACKAGE, m->id)))
		return cohort__error(COHORT_EINVAL,
				     "package '%s' refused: its id '%s' (from "
				     "%s) is not a safe name: %s",
				     x->name,
				     show(shown, sizeof(shown), m->id,
					  strlen(m->id)),
				     m->source, w);
	if (m->version[0] &&
	    (w = cohort__name_why(why, sizeof(why), COHORT_NAME_VERSION,
				  m->version)))
		return cohort__error(COHORT_EINVAL,
				     "package '%s' refused: its version '%s' "
				     "is not a safe name: %s",
				     x->name,
				     show(shown, sizeof(shown), m->version,
					  strlen(m->version)), w);
	for (i = 0; i < m->ndeps; i++)
		if ((w = cohort__name_why(why, sizeof(why), COHORT_NAME_PACKAGE,
					  m->deps[i])))
			return cohort__error(COHORT_EINVAL,
					     "package '%s' refused: its "
					     "dependency '%s' is not a safe "
					     "name: %s",
					     x->name,
					     show(shown, sizeof(shown),
						  m->deps[i],
						  strlen(m->deps[i])), w);
	return 0;
}

/* Read what libarchive left, through the sink; for a zip, keep it from
 * 'from' on (the central directory) in 'tail'. */
static int drain(struct insp *x, struct buf *tail, uint64_t from)
{
	size_t got;
	int rc;

	if (tail) {
		uint64_t hi = x->cur < 0 ? 0 :
			x->chunk_off[x->cur] + x->chunk_len[x->cur];

		if (from > hi)
			return damaged(x, NULL, "bad zip central directory position");
		if ((rc = buf_reserve(tail, (size_t)(hi - from) + 1)) != 0)
			return rc;
		if (window_copy(x, from, (size_t)(hi - from), tail->p))
			return damaged(x, NULL,
				       "junk before the zip central directory");
		tail->len = (size_t)(hi - from);
	}
	for (;;) {
		if ((rc = pull(x, &got)) != 0)
			return rc;
		if (!got)
			return 0;
		if (!tail)
			continue;
		if (tail->len + got > CD_MAX)
			return cohort__error(COHORT_EINVAL,
					     "package '%s' refused: its zip "
					     "central directory is larger than "
					     "%u MiB",
					     x->name, CD_MAX >> 20);
		if ((rc = buf_add(tail, x->chunk[x->cur], got)) != 0)
			return rc;
	}
}

static int open_archive(struct insp *x)
{
	int rc;

	if ((rc = cohort__lazy_archive()))
		return rc;
	x->a = archive_read_new();
	if (!x->a)
		return oom();
	/* ARCHIVE_WARN from a filter means an external program stands in
	 * for a library libarchive was built without: still a decoder. */
	if (archive_read_support_format_zip_streamable(x->a) != ARCHIVE_OK ||
	    archive_read_support_format_tar(x->a) != ARCHIVE_OK ||
	    archive_read_support_filter_gzip(x->a) < ARCHIVE_WARN ||
	    archive_read_support_filter_bzip2(x->a) < ARCHIVE_WARN ||
	    archive_read_support_filter_xz(x->a) < ARCHIVE_WARN)
		return cohort__error(COHORT_ERROR, "libarchive: %s",
				     archive_error_string(x->a));
	rc = archive_read_open2(x->a, x, NULL, read_cb, NULL, NULL);
	if (rc != ARCHIVE_OK) {
		if (x->rc)
			return x->rc;
		if (x->total == 0)
			return cohort__error(COHORT_EINVAL,
					     "package '%s' is empty", x->name);
		/* No format knew it (libarchive's ARCHIVE_ERRNO_FILE_FORMAT,
		 * EILSEQ on POSIX), or a decoder failed under the bid. */
		if (archive_errno(x->a) != EILSEQ)
			return damaged(x, NULL, archive_error_string(x->a));
		return cohort__error(COHORT_EINVAL,
				     "package '%s' is not a package archive "
				     "(jar, zip, xar or tar)",
				     x->name);
	}
	return 0;
}

int cohort__pkg_inspect(struct cohort__pkg_meta *m, int fd, const char *name,
			cohort__pkg_sink sink, void *arg)
{
	struct insp x;
	struct buf tail = { 0 };
	char shown[SHOW_MAX + 4], last[SHOW_MAX + 4] = "";
	int rc, k, format = 0, filter = ARCHIVE_FILTER_NONE;
	uint64_t end;
	size_t i;
	/* Entry names are converted to this thread's locale's charset, and
	 * in the C locale a UTF-8 name has none: read under C.UTF-8 (for
	 * this thread only, restored below). */
	locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	locale_t old = utf8 ? uselocale(utf8) : (locale_t)0;

	memset(m, 0, sizeof(*m));
	memset(&x, 0, sizeof(x));
	x.fd = fd;
	x.name = name ? name : "-";
	x.sink = sink;
	x.arg = arg;
	x.cur = -1;
	x.chunk[0] = malloc(CHUNK);
	x.chunk[1] = malloc(CHUNK);
	x.scratch = malloc(SCRATCH);
	if (!x.chunk[0] || !x.chunk[1] || !x.scratch) {
		rc = oom();
		goto out;
	}
	if ((rc = open_archive(&x)) != 0)
		goto out;

	for (;;) {
		struct archive_entry *e;
		uint64_t before = (uint64_t)archive_filter_bytes(x.a, -1);
		const char *path;
		int kind;

		rc = archive_read_next_header(x.a, &e);
		if (rc == ARCHIVE_EOF)
			break;
		if (!format) {
			format = archive_format(x.a) & ARCHIVE_FORMAT_BASE_MASK;
			x.zip = format == ARCHIVE_FORMAT_ZIP;
			/* filter 0 is the decoder nearest the format; the
			 * last is the client's. */
			if (archive_filter_count(x.a) > 2) {
				rc = cohort__error(COHORT_EINVAL,
						   "package '%s' is not a package "
						   "archive: it is compressed "
						   "more than once",
						   x.name);
				goto out;
			}
			filter = archive_filter_code(x.a, 0);
		}
		/* ARCHIVE_WARN on a header is refused too: it says a part
		 * of the header was ignored or could not be converted (a
		 * malformed pax attribute, a name that is not UTF-8), and
		 * another reader might make something else of that part. */
		if (rc != ARCHIVE_OK) {
			if (x.rc) {
				rc = x.rc;
				goto out;
			}
			if (last[0]) {
				char msg[512];

				snprintf(msg, sizeof(msg), "after entry '%s': %s",
					 last,
					 archive_error_string(x.a) ?
						 archive_error_string(x.a) :
						 "unexpected end of data");
				rc = damaged(&x, NULL, msg);
			} else {
				rc = damaged(&x, NULL, archive_error_string(x.a));
			}
			goto out;
		}
		if (++m->entries > COHORT__PKG_ENTRIES_MAX) {
			rc = cohort__error(COHORT_EINVAL,
					   "package '%s' refused: it has more "
					   "than %u entries",
					   x.name, COHORT__PKG_ENTRIES_MAX);
			goto out;
		}
		path = archive_entry_pathname(e);
		if (!path)
			path = archive_entry_pathname_utf8(e);
		if (!path) {
			rc = cohort__error(COHORT_EINVAL,
					   "package '%s' refused: entry %llu has "
					   "no readable name",
					   x.name, (unsigned long long)m->entries);
			goto out;
		}
		show(shown, sizeof(shown), path, strlen(path));
		if ((rc = check_entry(&x, e, path, shown, &kind)) != 0)
			goto out;
		if (x.zip &&
		    (rc = zip_local(&x, before,
				    (uint64_t)archive_filter_bytes(x.a, -1),
				    archive_entry_filetype(e) == AE_IFLNK,
				    shown)) != 0)
			goto out;
		if ((rc = read_entry(&x, shown, kind)) != 0)
			goto out;
		memcpy(last, shown, sizeof(last));
	}
	if (!m->entries) {
		rc = cohort__error(COHORT_EINVAL,
				   x.total ? "package '%s' refused: it has no "
					     "entries" :
					     "package '%s' is empty",
				   x.name);
		goto out;
	}
	end = (uint64_t)archive_filter_bytes(x.a, -1);
	if ((rc = drain(&x, x.zip ? &tail : NULL, end)) != 0)
		goto out;
	if (x.zip && (rc = zip_central(&x, tail.p, tail.len, end)) != 0)
		goto out;
	m->bytes = x.total;
	set_ext(m, x.name, x.zip, filter);
	rc = merge_meta(&x, m);
out:
	if (x.a)
		archive_read_free(x.a);
	for (k = 0; k < META_COUNT; k++)
		buf_free(&x.meta[k]);
	for (i = 0; i < x.nlinks; i++)
		free(x.links[i]);
	free(x.links);
	for (i = 0; i < x.nlocals; i++) {
		free(x.locals[i].name);
		free(x.locals[i].target);
	}
	free(x.locals);
	buf_free(&x.path);
	buf_free(&x.path2);
	buf_free(&tail);
	free(x.chunk[0]);
	free(x.chunk[1]);
	free(x.scratch);
	if (utf8) {
		uselocale(old);
		freelocale(utf8);
	}
	if (rc) {
		uint64_t n = m->entries;

		cohort__pkg_meta_free(m);
		memset(m, 0, sizeof(*m));
		m->entries = n;
	}
	return rc;
}
