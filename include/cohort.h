/*
 * cohort.h - the umbrella header: a shared journal of changes and an
 * extension store for clusters of application servers on a shared (NFS)
 * mount.  See cohort/cluster.h for the calling sequence.
 */
#ifndef COHORT_H
#define COHORT_H

#include "cohort/common.h"
#include "cohort/name.h"
#include "cohort/cluster.h"
#include "cohort/lock.h"
#include "cohort/journal.h"
#include "cohort/committer.h"
#include "cohort/store.h"
#include "cohort/job.h"
#include "cohort/snapshot.h"
#include "cohort/node.h"
#include "cohort/janitor.h"
#include "cohort/doctor.h"
#include "cohort/fsck.h"

#endif
