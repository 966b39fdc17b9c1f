/* member.h - what the janitor takes from membership (internal). */
#ifndef COHORT_MEMBER_H
#define COHORT_MEMBER_H

#include "cohort/cluster.h"

/* Mark 'node' retired (text 'why'), under its node lock. */
int cohort__node_retire(cohort_cluster *c, const char *node, const char *why);

#endif
