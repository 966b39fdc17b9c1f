package org.cohort;

import java.nio.charset.StandardCharsets;

/**
 * A failure of the cohort library: its error code (one of the constants
 * below, the library's negative {@code COHORT_E*} values) and its message,
 * which names the path, record or package and the system error, e.g.
 * {@code cannot rename 'a' to 'b': No space left on device}.
 *
 * <p>Misuse of the binding itself is reported with the usual Java
 * exceptions instead: {@link NullPointerException} for a required argument
 * that is null, {@link IllegalStateException} for a closed handle or a
 * handle used from inside its own callback.
 */
public class CohortException extends RuntimeException {
	private static final long serialVersionUID = 1L;

	/** Anything callers do not act on. */
	public static final int ERROR = -1;
	/** No such cluster, node, record, package. */
	public static final int ENOTFOUND = -2;
	/** Already exists, or claimed by someone else. */
	public static final int EEXISTS = -3;
	/** A lock is held by someone else, or was lost. */
	public static final int ELOCKED = -4;
	/** Bytes on the shared root failed verification. */
	public static final int ECORRUPT = -5;
	/** This node is read-only. */
	public static final int EREADONLY = -6;
	/** A handle went stale and the retries ran out. */
	public static final int ESTALE = -7;
	/** The mount is full (ENOSPC, EDQUOT). */
	public static final int ENOSPACE = -8;
	/** A bad argument or bad input (names, payload sizes, packages). */
	public static final int EINVAL = -9;
	/** This node is behind the oldest retained record. */
	public static final int EBEHIND = -10;
	/** The next record to apply was lost ({@code fsck --repair} replaced it). */
	public static final int ELOST = -11;

	private static final String[] NAMES = { "OK", "ERROR", "ENOTFOUND",
		"EEXISTS", "ELOCKED", "ECORRUPT", "EREADONLY", "ESTALE",
		"ENOSPACE", "EINVAL", "EBEHIND", "ELOST" };

	private final int code;

	/** A failure with the library's code and message. */
	public CohortException(int code, String message) {
		super(message);
		this.code = code;
	}

	/** The same, caused by 'cause' (a listener that threw). */
	public CohortException(int code, String message, Throwable cause) {
		super(message, cause);
		this.code = code;
	}

	/* From the native half: the message as the library wrote it. */
	CohortException(int code, byte[] message) {
		this(code, new String(message, StandardCharsets.UTF_8));
	}

	/** The library's error code, e.g. {@link #ENOTFOUND}. */
	public int code() {
		return code;
	}

	/** The code's short name, e.g. {@code "ENOTFOUND"}. */
	public String codeName() {
		return -code >= 0 && -code < NAMES.length ? NAMES[-code] : "E" + code;
	}

	@Override
	public String toString() {
		return "cohort: " + codeName() + ": " + getMessage();
	}
}
