package org.cohort;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The cluster journal: totally ordered, checksummed records that every
 * node appends and each node replays in order.
 *
 * <pre>{@code
 * try (Journal j = cluster.openJournal()) {
 *     long rev = j.append("note", "hello");        // durable on return
 *     j.sync(r -> apply(r));                        // what this node missed
 *     j.watch(r -> apply(r));                       // ... and then every new
 * }                                                 // record, until stop()
 * }</pre>
 *
 * <p>Threads: appends from many threads run at once (the library commits
 * waiting appends together, each still all-or-nothing); every other call
 * has the handle to itself, so a long sync makes other calls on this handle
 * wait: give a watching thread its own journal.  {@link #stop()} and
 * {@link #close()} from another thread end a watch within a poll interval,
 * a sync at its next record.  Owned by its {@link Cluster}.
 */
public final class Journal extends Handle {
	/** Largest payload of one record (64 MiB). */
	public static final int RECORD_MAX = 64 * 1024 * 1024;

	private final Cluster cluster;
	private volatile boolean stopRequested;

	/* Called by the native half (jni_journal.c, jni_node.c) for each record. */
	static final class RecordSink {
		private final Handle owner; /* a journal, or a node */
		private final RecordListener listener;
		final List<Record> records = new ArrayList<>();
		Throwable failure;
		long failedAt;

		/* What the listener threw, as sync throws it (nothing if it did not). */
		void rethrow() {
			if (failure instanceof Error)
				throw (Error) failure;
			if (failure != null)
				throw new CohortException(CohortException.ERROR, "the listener failed at revision "
					+ failedAt + " (the revision stays at " + (failedAt - 1) + "): "
					+ failure, failure);
		}

		RecordSink(Handle owner, RecordListener listener) {
			this.owner = owner;
			this.listener = listener;
		}

		boolean record(long rev, long time, byte[] node, byte[] type, byte[] data) {
			Record r = new Record(rev, time, Native.string(node), Native.string(type), data);
			if (listener == null) {
				records.add(r);
				return true;
			}
			if (owner.closing)
				return false; /* not applied: it comes again */
			try {
				listener.apply(r);
				return true;
			} catch (Throwable t) {
				failure = t;
				failedAt = rev;
				return false;
			}
		}
	}

	Journal(Cluster cluster, long p) {
		super("journal", cluster, p);
		this.cluster = cluster;
	}

	/** Append one record; returns its revision once it is durable. */
	public long append(String type, byte[] data) {
		return append(Collections.singletonList(new Entry(type, data)));
	}

	/** Append one record holding 'text' as UTF-8. */
	public long append(String type, String text) {
		return append(Collections.singletonList(Entry.of(type, text)));
	}

	/**
	 * Append the records as one commit, all or nothing; returns the
	 * revision of the first (the others follow it) once the commit is
	 * durable on the shared mount.  {@link CohortException#EINVAL} for a
	 * bad type, a type {@code store.*} (the store's own records), a
	 * payload over {@link #RECORD_MAX} or an empty batch (nothing is then
	 * committed), {@link CohortException#EREADONLY} on a read-only node,
	 * {@link CohortException#ELOCKED} when the journal lock cannot be had.
	 */
	public long append(List<Entry> batch) {
		if (batch == null)
			throw new NullPointerException("cohort: the batch is null");
		byte[][] types = new byte[batch.size()][];
		byte[][] data = new byte[batch.size()][];
		long total = 0;
		for (int i = 0; i < data.length; i++) {
			Entry e = batch.get(i);
			if (e == null)
				throw new NullPointerException("cohort: record " + (i + 1) + " is null");
			/* As 'cohort append' refuses them: a forged store record
			 * would change what every node installs. */
			if (e.type != null && e.type.startsWith("store."))
				throw new CohortException(CohortException.EINVAL, "record types 'store.*'"
					+ " are the extension store's: use Store.install");
			types[i] = Native.bytes("record type", e.type);
			data[i] = e.data;
			total += e.data.length;
		}
		/* The library refuses these too, but only after the copy. */
		if (total > (1L << 31))
			throw new CohortException(CohortException.EINVAL, "commit of over 2 GiB refused");
		return call(SHARED, p -> nAppend(p, types, data));
	}

	/** The oldest retained revision. */
	public long tail() {
		return bounds()[0];
	}

	/** The last committed revision (0 when the journal is empty). */
	public long head() {
		return bounds()[1];
	}

	private long[] bounds() {
		return call(EXCLUSIVE, p -> nBounds(p));
	}

	/**
	 * Committed records from revision 'from' on, at most 'limit' (0: all).
	 * {@link CohortException#ENOTFOUND} when 'from' is older than the
	 * tail, {@link CohortException#ECORRUPT} when a record fails
	 * verification (never skipped).
	 */
	public List<Record> read(long from, long limit) {
		RecordSink s = new RecordSink(this, null);
		run(EXCLUSIVE, p -> nRead(p, from, limit, s));
		return s.records;
	}

	/** This node's revision: the last record it applied (0: none). */
	public long revision() {
		return call(EXCLUSIVE, p -> nRevision(p));
	}

	/** Set this node's revision (an atomic replace of its revision file). */
	public void setRevision(long rev) {
		run(EXCLUSIVE, p -> nSetRevision(p, rev));
	}

	/** Any node's revision, read from the root. */
	public long nodeRevision(String node) {
		if (closing)
			throw closed();
		return cluster.nodeRevision(node);
	}

	/**
	 * Apply every record after this node's revision, in order: call the
	 * listener, and when it returns, move the revision to that record.
	 * Returns how many were applied.  A listener that throws stops the
	 * sync at that record (the revision stays at the one before) and the
	 * sync throws a {@link CohortException} caused by what it threw (an
	 * {@link Error} is thrown as it is).  {@link CohortException#EBEHIND}
	 * when this node is behind the oldest retained record.  A close from
	 * another thread stops it at the next record, which is not applied.
	 */
	public long sync(RecordListener listener) {
		return sync(listener, false);
	}

	/**
	 * {@link #sync(RecordListener)}; with 'skipLost', records that
	 * {@code fsck --repair} replaced as lost are passed (the loss
	 * accepted, as {@code --skip-lost} does; they count as applied, the
	 * listener is not called for them) instead of stopping the sync with
	 * {@link CohortException#ELOST}.
	 */
	public long sync(RecordListener listener, boolean skipLost) {
		if (listener == null)
			throw new NullPointerException("cohort: the listener is null");
		RecordSink s = new RecordSink(this, listener);
		long applied = call(EXCLUSIVE, p -> nApply(p, s, skipLost));
		s.rethrow();
		return applied;
	}

	/**
	 * {@link #sync} and then keep applying new records as they are
	 * committed, until {@link #stop()} (from any thread, the listener
	 * too), {@link #close()} from another thread, or an interrupt of this
	 * thread.  Commits made on this host wake it at once, other hosts'
	 * within the poll interval.  Returns how many records it applied;
	 * throws as sync does.
	 */
	public long watch(RecordListener listener) {
		long total = 0;

		if (closing)
			throw closed();
		try {
			while (!stopRequested && !closing && !Thread.currentThread().isInterrupted()) {
				total += sync(listener);
				if (stopRequested || closing)
					break;
				run(EXCLUSIVE, p -> nWait(p, nRevision(p), Math.min(nPollInterval(p), 250)));
			}
		} catch (IllegalStateException e) {
			if (!closing || busyHere())
				throw e;
			/* closed by another thread: the watch is over */
		} finally {
			stopRequested = false;
		}
		return total;
	}

	/** Make a running {@link #watch} return (it returns at once if none runs yet). */
	public void stop() {
		stopRequested = true;
	}

	/**
	 * Wait until the head passes 'known' or 'timeoutMillis' pass; true
	 * when there is something new.  The handle is busy meanwhile.
	 */
	public boolean await(long known, int timeoutMillis) {
		return call(EXCLUSIVE, p -> nWait(p, known, timeoutMillis));
	}

	/** How often watchers read the head ({@code [journal] poll_interval}). */
	public int pollIntervalMillis() {
		return call(EXCLUSIVE, p -> nPollInterval(p));
	}

	/** Override the configured poll interval (at least 1 ms). */
	public void setPollIntervalMillis(int ms) {
		run(EXCLUSIVE, p -> nSetPollInterval(p, ms));
	}

	@Override
	void free(long p) {
		nClose(p);
	}

	static native long nOpen(long cluster);
	static native void nClose(long p);
	static native long nAppend(long p, byte[][] types, byte[][] data);
	static native long[] nBounds(long p);
	static native void nRead(long p, long from, long limit, RecordSink sink);
	static native long nApply(long p, RecordSink sink, boolean skipLost);
	static native boolean nWait(long p, long known, int timeoutMs);
	static native long nRevision(long p);
	static native void nSetRevision(long p, long rev);
	static native int nPollInterval(long p);
	static native void nSetPollInterval(long p, int ms);
}
