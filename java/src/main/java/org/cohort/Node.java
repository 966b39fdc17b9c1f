package org.cohort;

/**
 * The node runtime ({@code cohort node} in-process, {@code cohort/node.h}):
 * claims this node's id, joins, applies every record in order through the
 * listener, keeps a folder identical to the installed packages, beats its
 * heartbeat and turns the node read-only while the root is cut off.
 *
 * <pre>{@code
 * try (Cluster c = Cluster.open(root, "web1", state);
 *      Node n = c.startNode(new Node.Options()
 *          .materialize("/opt/app/plugins", null)
 *          .listener(new Node.Listener() {
 *              public void apply(Record r) { ... }
 *              public void modeChanged(boolean ro, String why) { ... }
 *          }))) {
 *     n.run();                      // until n.stop(), close() or interrupt
 * }
 * }</pre>
 *
 * <p>Threads: the runtime's own threads (heartbeat, watchdog) never call
 * Java; every listener method runs in the thread that calls {@link #run()}
 * or {@link #step()}, one at a time, and may use any other handle (not this
 * node).  Owned by its {@link Cluster}; {@link #close()} stops the threads
 * and releases the node id.
 */
public final class Node extends Handle {
	/** What the runtime tells the application.  Every method has a default. */
	public interface Listener {
		/**
		 * Apply one record.  Throwing stops the node at that record
		 * (its revision stays at the one before) and {@link #run()}
		 * throws, as {@link Journal#sync} does.
		 */
		default void apply(Record r) throws Exception {
		}

		/** A materialize pass over 'dir' ended with 'st'. */
		default void materialized(String dir, Store.MaterializeStats st) throws Exception {
		}

		/** A materialize pass over 'dir' failed (the node stays up). */
		default void materializeFailed(String dir, CohortException e) throws Exception {
		}

		/** The node turned read-only ('reason' says why) or back. */
		default void modeChanged(boolean readOnly, String reason) throws Exception {
		}
	}

	/** How to run the node. */
	public static final class Options {
		int priority = -1;
		int pollMillis;
		boolean skipOwn;
		boolean skipLost;
		String dir;
		String ns;
		Listener listener = new Listener() {
		};

		/** 0-100 to register with; -1 keeps the registered one. */
		public Options priority(int priority) {
			this.priority = priority;
			return this;
		}

		/** How often to read the head; 0: {@code [journal] poll_interval}. */
		public Options pollMillis(int ms) {
			this.pollMillis = ms;
			return this;
		}

		/** This node's own records advance the revision without apply. */
		public Options skipOwn(boolean skipOwn) {
			this.skipOwn = skipOwn;
			return this;
		}

		/**
		 * Pass records that {@code fsck --repair} replaced as lost (the
		 * loss accepted); else a step stops there with
		 * {@link CohortException#ELOST}.
		 */
		public Options skipLost(boolean skipLost) {
			this.skipLost = skipLost;
			return this;
		}

		/** Keep 'dir' identical to the installed packages of 'ns' (null: root). */
		public Options materialize(String dir, String ns) {
			this.dir = dir;
			this.ns = ns;
			return this;
		}

		/** Who is told (default: nobody; records just advance). */
		public Options listener(Listener listener) {
			if (listener == null)
				throw new NullPointerException("cohort: the listener is null");
			this.listener = listener;
			return this;
		}
	}

	/* Called by the native half (jni_node.c) during step and modes. */
	static final class NodeSink {
		private final Node node;
		final Journal.RecordSink records;
		Throwable failure;

		NodeSink(Node node) {
			this.node = node;
			this.records = new Journal.RecordSink(node, r -> node.listener.apply(r));
		}

		void materialized(byte[] dir, int rc, byte[] message, long added, long updated,
				  long removed, long unchanged) {
			if (failure != null)
				return;
			try {
				if (rc < 0)
					node.listener.materializeFailed(Native.string(dir),
						new CohortException(rc, message));
				else
					node.listener.materialized(Native.string(dir), new Store.MaterializeStats(
						new long[] { added, updated, removed, unchanged }));
			} catch (Throwable t) {
				failure = t;
			}
		}

		void mode(boolean readOnly, byte[] reason) {
			if (failure != null)
				return;
			try {
				node.listener.modeChanged(readOnly, Native.string(reason));
			} catch (Throwable t) {
				failure = t;
			}
		}
	}

	private final Listener listener;
	private volatile boolean stopRequested;

	Node(Cluster cluster, long p, Listener listener) {
		super("node", cluster, p);
		this.listener = listener;
	}

	static Node start(Cluster c, long cp, Options o) {
		byte[] dir = Native.bytes("folder", o.dir);
		byte[] ns = Native.bytes("namespace", o.ns);
		return new Node(c, nStart(cp, o.priority, o.pollMillis, o.skipOwn, o.skipLost, dir, ns),
				o.listener);
	}

	/**
	 * One round: apply what is new, materialize if needed, decide the
	 * mode, then tell the listener of mode changes.  For an application's
	 * own loop; {@link #run()} is this in a loop.  Throws as
	 * {@link Journal#sync} does when a listener throws.
	 */
	public void step() {
		NodeSink s = new NodeSink(this);
		run(EXCLUSIVE, p -> {
			try {
				nStep(p, s, s.records);
			} finally {
				nModes(p, s);
			}
		});
		s.records.rethrow();
		if (s.failure instanceof Error)
			throw (Error) s.failure;
		if (s.failure != null)
			throw new CohortException(CohortException.ERROR, "the listener failed: " + s.failure,
						  s.failure);
	}

	/**
	 * Step and wait for new commits until {@link #stop()} (any thread,
	 * the listener too), {@link #close()} from another thread, or an
	 * interrupt of this thread.  Throws as {@link #step()} does.
	 */
	public void run() {
		if (closing)
			throw closed();
		try {
			while (!stopRequested && !closing && !Thread.currentThread().isInterrupted()) {
				step();
				if (stopRequested || closing)
					break;
				run(EXCLUSIVE, p -> nWait(p, 250));
			}
		} catch (IllegalStateException e) {
			if (!closing || busyHere())
				throw e;
		} finally {
			stopRequested = false;
		}
	}

	/** Make a running {@link #run()} return (at once if none runs yet). */
	public void stop() {
		stopRequested = true;
	}

	/** True while the node is read-only. */
	public boolean isReadOnly() {
		return readOnlyReason() != null;
	}

	/** Why the node is read-only, or null when it is read-write. */
	public String readOnlyReason() {
		return call(EXCLUSIVE, p -> Native.string(nReadOnly(p)));
	}

	/** This node's revision: the last record it applied. */
	public long revision() {
		return call(EXCLUSIVE, p -> nRevision(p));
	}

	@Override
	void free(long p) {
		nStop(p);
	}

	static native long nStart(long cluster, int priority, int pollMs, boolean skipOwn,
				  boolean skipLost, byte[] dir, byte[] ns);
	static native void nStop(long p);
	static native void nStep(long p, NodeSink sink, Journal.RecordSink records);
	static native void nModes(long p, NodeSink sink);
	static native void nWait(long p, int maxMs);
	static native byte[] nReadOnly(long p);
	static native long nRevision(long p);
}
