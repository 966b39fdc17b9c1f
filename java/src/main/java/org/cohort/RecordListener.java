package org.cohort;

/**
 * What {@link Journal#sync} and {@link Journal#watch} call for each record
 * this node has not applied, in revision order.  Returning applies the
 * record: the node's revision file moves to it before the next one comes.
 * Throwing stops the sync at that record, with the revision at the record
 * before it, as a failing hook stops {@code cohort sync}: the record comes
 * again at the next sync (at-least-once).
 *
 * <p>The listener runs on the thread that called sync or watch, while that
 * journal handle is busy: it may use any other handle (another journal, a
 * store, the cluster) but not the journal that called it.
 */
@FunctionalInterface
public interface RecordListener {
	void apply(Record r) throws Exception;
}
