package org.cohort;

import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/*
 * What every handle (Cluster, Journal, Store) shares: the native pointer
 * and the lock that keeps it alive while a call uses it.
 *
 *	return call(EXCLUSIVE, p -> nSomething(p, ...));   or run(...)
 *
 * which is enter(EXCLUSIVE) (throws if closed or busy here), the native
 * call, and leave(EXCLUSIVE) in a finally.
 *
 * A C handle is used by one thread at a time, except for appends, which
 * many threads may make at once; so calls take the lock exclusively and
 * appends take it shared.  close() sets 'closing' (a running watch or sync
 * stops at its next record), waits for the calls in flight, frees the C
 * handle and zeroes the pointer, so no call ever reaches C with a freed
 * handle.  A listener runs on the thread that holds its handle's lock: a
 * call on that same handle from the listener would re-enter C code that is
 * in the middle of a walk, so it is refused (IllegalStateException); other
 * handles, even of the same cluster, are fine.
 */
abstract class Handle implements AutoCloseable {
	static final boolean EXCLUSIVE = true;
	static final boolean SHARED = false;

	private final String what;
	private final Cluster owner; /* null for a cluster */
	private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock(true);
	private long ptr; /* written under the write lock */
	volatile boolean closing;

	Handle(String what, Cluster owner, long ptr) {
		this.what = what;
		this.owner = owner;
		this.ptr = ptr;
	}

	/* Free the C handle (called once, under the write lock). */
	abstract void free(long p);

	/* Throw if this thread may not close the handle now. */
	void checkClose() {
		if (busyHere())
			throw busy();
	}

	/* Work to do before this handle is freed (a cluster closes its own). */
	void beforeFree() {
	}

	final boolean busyHere() {
		return lock.isWriteLockedByCurrentThread() || lock.getReadHoldCount() > 0;
	}

	final IllegalStateException busy() {
		return new IllegalStateException("cohort: the " + what
			+ " handle is in use by this thread (a listener cannot use or close"
			+ " the handle that called it: open another one)");
	}

	final IllegalStateException closed() {
		return new IllegalStateException("cohort: the " + what + " handle is closed");
	}

	final long enter(boolean exclusive) {
		if (busyHere())
			throw busy();
		Lock l = exclusive ? lock.writeLock() : lock.readLock();
		l.lock();
		if (ptr == 0) {
			l.unlock();
			throw closed();
		}
		return ptr;
	}

	final void leave(boolean exclusive) {
		(exclusive ? lock.writeLock() : lock.readLock()).unlock();
	}

	@FunctionalInterface
	interface Call<T> {
		T on(long p);
	}

	@FunctionalInterface
	interface Run {
		void on(long p);
	}

	/* f(pointer) with the handle entered in 'exclusive' mode. */
	final <T> T call(boolean exclusive, Call<T> f) {
		long p = enter(exclusive);
		try {
			return f.on(p);
		} finally {
			leave(exclusive);
		}
	}

	final void run(boolean exclusive, Run f) {
		long p = enter(exclusive);
		try {
			f.on(p);
		} finally {
			leave(exclusive);
		}
	}

	/* Wait until no call is in flight (new ones may start after). */
	final void drain() {
		lock.writeLock().lock();
		lock.writeLock().unlock();
	}

	/** True once {@link #close()} was called. */
	public final boolean isClosed() {
		return closing;
	}

	/**
	 * Free the handle, after the calls in flight on other threads have
	 * returned (a watch or sync stops at its next record).  Closing twice
	 * is fine.  Refused from a listener of this very handle.
	 */
	@Override
	public void close() {
		checkClose();
		closing = true;
		beforeFree();
		lock.writeLock().lock();
		try {
			if (ptr != 0) {
				free(ptr);
				ptr = 0;
			}
		} finally {
			lock.writeLock().unlock();
		}
		if (owner != null)
			owner.forget(this);
	}
}
