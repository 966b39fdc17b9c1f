package org.cohort;

import java.nio.charset.StandardCharsets;

/*
 * Loading the native half (libcohort-jni.so) and turning Java strings into
 * the bytes it takes.
 *
 * The library is found by System.loadLibrary("cohort-jni") on
 * java.library.path, or at the path in the system property
 * cohort.jni.library when that is set.
 */
final class Native {
	private static volatile boolean loaded;

	private Native() {
	}

	static synchronized void load() {
		if (loaded)
			return;
		String path = System.getProperty("cohort.jni.library");
		try {
			if (path != null && !path.isEmpty())
				System.load(path);
			else
				System.loadLibrary("cohort-jni");
		} catch (UnsatisfiedLinkError e) {
			UnsatisfiedLinkError x = new UnsatisfiedLinkError("cohort: cannot load the native"
				+ " half of the binding (" + e.getMessage() + "): put libcohort-jni.so on"
				+ " java.library.path (" + System.getProperty("java.library.path")
				+ ") or name it with -Dcohort.jni.library=/path/to/libcohort-jni.so");
			x.initCause(e);
			throw x;
		}
		loaded = true;
	}

	/*
	 * 's' as UTF-8 for C: null stays null; a NUL inside would cut the C
	 * string short (a name that is not the one given), so it is refused.
	 */
	static byte[] bytes(String what, String s) {
		if (s == null)
			return null;
		if (s.indexOf('\0') >= 0)
			throw new CohortException(CohortException.EINVAL,
				"bad " + what + " '" + shown(s) + "': it holds a NUL byte");
		return s.getBytes(StandardCharsets.UTF_8);
	}

	/* The same for a required argument. */
	static byte[] required(String what, String s) {
		if (s == null)
			throw new NullPointerException("cohort: " + what + " is null");
		return bytes(what, s);
	}

	/* 's' for a message: control characters as \xNN, cut after 64. */
	static String shown(String s) {
		StringBuilder b = new StringBuilder();
		for (int i = 0; i < s.length() && i < 64; i++) {
			char c = s.charAt(i);
			if (c < 0x20 || c == 0x7f)
				b.append(String.format("\\x%02x", (int) c));
			else
				b.append(c);
		}
		if (s.length() > 64)
			b.append("...");
		return b.toString();
	}

	static String string(byte[] b) {
		return b == null ? null : new String(b, StandardCharsets.UTF_8);
	}
}
