/* config.h - cohort.conf: INI at the root, overridden per node (internal). */
#ifndef COHORT_CONFIG_H
#define COHORT_CONFIG_H

#include <stdint.h>

/* KIND_GROUP: a group name or number; its number is the gid, -1 if empty */
enum cohort__key_kind { KIND_STRING, KIND_DURATION, KIND_SIZE, KIND_INT,
			KIND_MODE, KIND_ENUM, KIND_GROUP };

struct cohort__key {
	const char *section;
	const char *key;
	const char *def;
	enum cohort__key_kind kind;
	const char *choices; /* KIND_ENUM: "a|b|c"; KIND_INT: "min-max" */
	const char *doc;
};

extern const struct cohort__key cohort__keys[];
extern const unsigned int cohort__nkeys;

struct cohort__config {
	char *value[64];   /* set values (owned), NULL: default */
	int64_t num[64];   /* parsed numbers, for the numeric kinds */
};

/* Defaults, then 'path' if it exists (absent is fine). */
void cohort__config_init(struct cohort__config *cfg);
int cohort__config_load(struct cohort__config *cfg, const char *path);
void cohort__config_free(struct cohort__config *cfg);
/* -1 if unknown */
int cohort__config_index(const char *section, const char *key);
const char *cohort__config_str(const struct cohort__config *cfg,
			       const char *section, const char *key);
int64_t cohort__config_num(const struct cohort__config *cfg,
			   const char *section, const char *key);

#endif
