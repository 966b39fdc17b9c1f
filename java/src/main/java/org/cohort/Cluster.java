package org.cohort;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A handle on a cluster root: its identity, configuration, this node's
 * registration and status, and the journals and stores opened from it.
 *
 * <pre>{@code
 * Cluster.init("/mnt/shared/cohort");                  // once; idempotent
 * try (Cluster c = Cluster.open(new Cluster.Options()
 *         .root("/mnt/shared/cohort").node("web1"));
 *      Journal j = c.openJournal()) {
 *     c.join();
 *     long rev = j.append("note", "hello");             // durable on return
 *     j.sync(r -> apply(r));                            // what this node missed
 * }
 * }</pre>
 *
 * <p>Thread safety: a handle may be shared by threads (join and leave take
 * turns, the rest runs at once).  Journals and stores opened from a cluster
 * belong to it: {@link #close()} closes them first (waiting for their calls
 * in flight), so no handle outlives its cluster.
 */
public final class Cluster extends Handle {
	static {
		Native.load();
	}

	/** Where the cluster is and who this node is. */
	public static final class Options {
		String root;
		String node;
		String state;

		/** The cluster root on the shared mount (required). */
		public Options root(String root) {
			this.root = root;
			return this;
		}

		/** This node's id; none for node-less work (reading, status). */
		public Options node(String node) {
			this.node = node;
			return this;
		}

		/**
		 * This node's private local state folder (not on the shared
		 * mount); default {@code $XDG_STATE_HOME/cohort/ID}, else
		 * {@code ~/.local/state/cohort/ID}.
		 */
		public Options state(String state) {
			this.state = state;
			return this;
		}
	}

	/** A registered node, as {@code cohort status} shows it. */
	public static final class NodeInfo {
		/** The node id. */
		public final String id;
		/** 0-100; the highest live node is the main node. */
		public final int priority;
		/** Left, or retired by the janitor. */
		public final boolean retired;
		/** Last applied revision; -1 when its file could not be read. */
		public final long revision;
		/** 0, or the error code of reading the revision file. */
		public final int revisionError;
		/** The counter in the heartbeat file. */
		public final long heartbeatCount;
		/** Milliseconds since the last beat by the file server's clock; -1: never. */
		public final long heartbeatAgeMillis;
		/** Wall clock of the joining node (ms since 1970). */
		public final long joinedMillis;
		/** "live", "stale" or "retired", judged with {@code stale_after}. */
		public final String state;

		NodeInfo(String id, int priority, boolean retired, long revision,
			 int revisionError, long heartbeatCount, long heartbeatAgeMillis,
			 long joinedMillis, long staleAfter) {
			this.id = id;
			this.priority = priority;
			this.retired = retired;
			this.revision = revisionError == 0 ? revision : -1;
			this.revisionError = revisionError;
			this.heartbeatCount = heartbeatCount;
			this.heartbeatAgeMillis = heartbeatAgeMillis;
			this.joinedMillis = joinedMillis;
			this.state = retired ? "retired"
				: heartbeatAgeMillis < 0 || heartbeatAgeMillis > staleAfter
				? "stale" : "live";
		}

		@Override
		public String toString() {
			return id + " " + state + " rev " + revision;
		}
	}

	/** The cluster's state, as {@code cohort status} shows it. */
	public static final class Status {
		/** The cluster id (a UUID). */
		public final String clusterId;
		/** Oldest retained revision. */
		public final long tail;
		/** Last committed revision (0 when empty). */
		public final long head;
		/** This node is read-only (always false without a node id). */
		public final boolean readOnly;
		/** Why it is read-only ("" when it is not). */
		public final String readOnlyReason;
		/** Registered nodes, by id. */
		public final List<NodeInfo> nodes;

		Status(String clusterId, long tail, long head, boolean readOnly,
		       String readOnlyReason, List<NodeInfo> nodes) {
			this.clusterId = clusterId;
			this.tail = tail;
			this.head = head;
			this.readOnly = readOnly;
			this.readOnlyReason = readOnlyReason;
			this.nodes = Collections.unmodifiableList(nodes);
		}
	}

	/* Called by the native half (jni_cluster.c) for nStatus. */
	static final class StatusSink {
		final List<NodeInfo> nodes = new ArrayList<>();
		final long staleAfter;
		long tail, head;
		boolean readOnly;
		String reason = "";

		StatusSink(long staleAfter) {
			this.staleAfter = staleAfter;
		}

		void node(byte[] id, int priority, boolean retired, long revision,
			  int revisionError, long hbCount, long hbAge, long joined) {
			nodes.add(new NodeInfo(Native.string(id), priority, retired, revision,
					       revisionError, hbCount, hbAge, joined, staleAfter));
		}

		void done(long tail, long head, boolean readOnly, byte[] reason) {
			this.tail = tail;
			this.head = head;
			this.readOnly = readOnly;
			this.reason = Native.string(reason);
		}
	}

	private final Map<Handle, Boolean> children = new IdentityHashMap<>();
	private final String id;
	private final String root;
	private final String node;
	private final String state;

	private Cluster(long p) {
		super("cluster", null, p);
		id = Native.string(nString(p, 0));
		root = Native.string(nString(p, 1));
		node = Native.string(nString(p, 2));
		state = Native.string(nString(p, 3));
	}

	/**
	 * Create the cluster at 'root' unless it exists; returns the cluster
	 * id, whether this call created it or found it.  Safe to run from many
	 * nodes at once: all get the same id.
	 */
	public static String init(String root) {
		return Native.string(nInit(Native.required("root", root)));
	}

	/**
	 * Open an initialized cluster.  {@link CohortException#ENOTFOUND} when
	 * the root holds no cluster, {@link CohortException#EINVAL} for an
	 * unknown format, a bad node id or a bad configuration file.
	 */
	public static Cluster open(Options o) {
		if (o == null)
			throw new NullPointerException("cohort: options are null");
		long p = nOpen(Native.required("root", o.root), Native.bytes("node id", o.node),
			       Native.bytes("state folder", o.state));
		try {
			return new Cluster(p);
		} catch (RuntimeException | Error e) {
			nClose(p);
			throw e;
		}
	}

	/** {@code open(new Options().root(root).node(node).state(state))}. */
	public static Cluster open(String root, String node, String state) {
		return open(new Options().root(root).node(node).state(state));
	}

	/** The cluster id (a UUID). */
	public String id() {
		return id;
	}

	/** The root as given. */
	public String root() {
		return root;
	}

	/** This node's id, or null when opened without one. */
	public String node() {
		return node;
	}

	/** This node's state folder, or null without a node id. */
	public String state() {
		return state;
	}

	/** Register this node (idempotent), replaying all retained history. */
	public void join() {
		join(-1, false);
	}

	/**
	 * Register this node with 'priority' (0-100; -1 keeps the registered
	 * one), starting at the current head when 'fromHead'.
	 * {@link CohortException#EEXISTS} while another live instance holds
	 * the id.
	 */
	public void join(int priority, boolean fromHead) {
		/* Exclusive: the claim of the node id lives in the C handle. */
		run(EXCLUSIVE, p -> nJoin(p, priority, fromHead));
	}

	/** Deregister this node: cleanup no longer waits for it. */
	public void leave() {
		run(EXCLUSIVE, p -> nLeave(p));
	}

	/** Head, tail, this node's mode and every registered node. */
	public Status status() {
		return call(SHARED, p -> {
			StatusSink s = new StatusSink(nConfigInt(p, Native.bytes("section", "cluster"),
								 Native.bytes("key", "stale_after")));
			nStatus(p, s);
			return new Status(id, s.tail, s.head, s.readOnly, s.reason, s.nodes);
		});
	}

	/**
	 * A configuration value ({@code cohort.conf} of the root, overridden
	 * by the node's), or its documented default; "" for an unknown key.
	 */
	public String config(String section, String key) {
		byte[] s8 = Native.required("section", section), k8 = Native.required("key", key);
		return call(SHARED, p -> Native.string(nConfig(p, s8, k8)));
	}

	/** Any node's revision (last applied), read from the root. */
	public long nodeRevision(String node) {
		byte[] n8 = Native.required("node id", node);
		return call(SHARED, p -> nNodeRevision(p, n8));
	}

	/** Open the journal; it belongs to this cluster. */
	public Journal openJournal() {
		return child(p -> new Journal(this, Journal.nOpen(p)));
	}

	/** Open the extension store; it belongs to this cluster. */
	public Store openStore() {
		return child(p -> new Store(this, Store.nOpen(p)));
	}

	/**
	 * Start the node runtime ({@code cohort node} in-process): claim this
	 * node's id ({@link CohortException#EEXISTS} while another live
	 * instance holds it), join, start the heartbeat; then
	 * {@link Node#run()}.  It belongs to this cluster.
	 */
	public Node startNode(Node.Options o) {
		if (o == null)
			throw new NullPointerException("cohort: node options are null");
		return child(p -> Node.start(this, p, o));
	}

	/*
	 * Create a child handle from this cluster's pointer and register it;
	 * refused once the cluster is closing (close() then finds every
	 * child it must close first).
	 */
	private <T extends Handle> T child(Call<T> make) {
		return call(SHARED, p -> {
			if (closing)
				throw closed();
			T c = make.on(p);
			synchronized (children) {
				children.put(c, Boolean.TRUE);
			}
			return c;
		});
	}

	void forget(Handle child) {
		synchronized (children) {
			children.remove(child);
		}
	}

	@Override
	void checkClose() {
		super.checkClose();
		synchronized (children) {
			for (Handle h : children.keySet())
				h.checkClose();
		}
	}

	@Override
	void beforeFree() {
		List<Handle> mine;

		/* No child is created after this: child() sees 'closing'. */
		drain();
		synchronized (children) {
			mine = new ArrayList<>(children.keySet());
		}
		for (Handle h : mine)
			h.close();
	}

	@Override
	void free(long p) {
		nClose(p);
	}

	static native byte[] nInit(byte[] root);
	static native long nOpen(byte[] root, byte[] node, byte[] state);
	static native void nClose(long p);
	static native byte[] nString(long p, int which);
	static native void nJoin(long p, int priority, boolean fromHead);
	static native void nLeave(long p);
	static native byte[] nConfig(long p, byte[] section, byte[] key);
	static native long nConfigInt(long p, byte[] section, byte[] key);
	static native void nStatus(long p, StatusSink sink);
	static native long nNodeRevision(long p, byte[] node);
}
