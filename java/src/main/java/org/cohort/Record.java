package org.cohort;

import java.nio.charset.StandardCharsets;

/** A committed journal record, read back. */
public final class Record {
	private final long rev;
	private final long timeMillis;
	private final String node;
	private final String type;
	private final byte[] data;

	Record(long rev, long timeMillis, String node, String type, byte[] data) {
		this.rev = rev;
		this.timeMillis = timeMillis;
		this.node = node;
		this.type = type;
		this.data = data;
	}

	/** Its revision: records are numbered 1, 2, 3... in commit order. */
	public long rev() {
		return rev;
	}

	/** Wall clock of the appending node when it committed (ms since 1970). */
	public long timeMillis() {
		return timeMillis;
	}

	/** The node that appended it. */
	public String node() {
		return node;
	}

	/** Its type ("data" unless the appender named one). */
	public String type() {
		return type;
	}

	/** The payload; this record's own array (the caller may keep it). */
	public byte[] data() {
		return data;
	}

	/** The payload decoded as UTF-8. */
	public String text() {
		return new String(data, StandardCharsets.UTF_8);
	}

	@Override
	public String toString() {
		return rev + " " + node + " " + type + " (" + data.length + " bytes)";
	}
}
